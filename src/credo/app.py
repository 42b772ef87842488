"""The composition root: build_app wires settings, storage, keys, scripts and routes."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable
from typing import Any

from credo.admin.routes import admin_app
from credo.domain.clock import Clock, SystemClock
from credo.http.dispatch import CredoApp
from credo.http.errors import HANDLERS
from credo.http.operations import AccessLog, Metrics, Observer, operations
from credo.keys.keyring import KeyRing
from credo.keys.sealing import Sealer
from credo.keys.secrets import SecretHasher
from credo.logs import configure as configure_logs
from credo.management.realms import ensure_realm
from credo.oauth.exchange_audit import AuditedTokenEndpoint
from credo.oauth.grants.refresh_token import issue_refresh_token
from credo.oauth.grants.registry import default_handlers
from credo.oauth.services import Services
from credo.oauth.throttle import auth_throttle
from credo.scripting.quickjs_runner import QuickJsRunner
from credo.settings import Settings
from credo.storage.cached import CachedStorage
from credo.storage.protocols import Storage
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import schema_state, upgrade
from credo.storage.sql.store import SqlStorage


def open_storage(settings: Settings, *, migrate: bool = True) -> Storage:
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url(), sqlite_synchronous=settings.sqlite_synchronous)
    if migrate:
        upgrade(engine)
    return SqlStorage(engine)  # type: ignore[return-value]


def build_services(settings: Settings, storage: Storage, *, base_url: str, clock: Clock | None = None) -> Services:
    master = settings.resolved_master_key()
    pepper = hashlib.sha256(b"credo-token-hashing" + master).digest()
    clock = clock or SystemClock()
    cached = CachedStorage(storage, max_entries=settings.record_cache_entries,
                           check_interval=settings.cache_check_interval)
    keys = KeyRing(storage.keys, Sealer(master), clock)
    cached.cache.on_change.append(keys.mark_stale)  # keys rotated by another process apply at once
    services = Services(storage=cached, keys=keys,  # CachedStorage has the Storage shape (delegation)
                        hasher=SecretHasher(pepper), clock=clock, base_url=base_url)
    services.script_runner = QuickJsRunner()
    # Failures are shared through the database by every process using it (see credo.oauth.throttle).
    for attr, name, what in (("auth_throttle", "auth", "client authentication"),
                             ("login_throttle", "login", "password login")):
        setattr(services, attr, auth_throttle(
            clock, limit=settings.auth_failure_limit, identity_limit=settings.auth_identity_failure_limit,
            window=settings.auth_failure_window, what=what, name=name, log=storage.auth_failures,
            digest=services.hasher.keyed_hash, sync_interval=settings.auth_failure_sync_interval))
    services.spray_throttle = auth_throttle(
        clock, limit=settings.login_spray_failure_limit, identity_limit=settings.login_client_failure_limit,
        window=settings.auth_failure_window, what="password logins", name="spray", log=storage.auth_failures,
        digest=services.hasher.keyed_hash, sync_interval=settings.auth_failure_sync_interval)
    return services


def build_app(settings: Settings, *, storage: Storage | None = None, base_url: str | None = None,
              clock: Clock | None = None) -> CredoApp:
    """The application: the public dispatcher (credo.http.dispatch), with the admin application mounted
    under /admin; both render errors with the same handlers and share `app.state`."""
    configure_logs(settings.log_level)
    store: Storage = storage if storage is not None else open_storage(settings)
    services = build_services(settings, store, base_url=base_url or settings.resolved_public_url(), clock=clock)
    ensure_realm(services, "root")
    app = CredoApp(exception_handlers=HANDLERS)
    app.admin = admin_app(services, state=app.state, exception_handlers=HANDLERS)
    app.state.services = services
    app.state.settings = settings
    app.state.max_body_bytes = settings.max_body_bytes
    app.state.token_endpoint = AuditedTokenEndpoint(services, default_handlers(), refresh_issuer=issue_refresh_token)
    app.state.readiness = readiness(store, services)
    app.state.metrics_networks = settings.metrics_networks()
    metrics = Metrics() if settings.metrics_path else None
    app.observer = Observer(metrics=metrics, access_log=AccessLog() if settings.access_log else None,
                            cache=services.storage.cache if isinstance(services.storage, CachedStorage) else None)
    app.operations = operations(settings.metrics_path)
    return app


def readiness(store: Storage, services: Services) -> Callable[[], dict[str, bool]]:
    """The checks of /health/ready: the database answers, its schema is at head, the root realm's signing
    key is loaded (it signs). They block (a connection, a signature): the endpoint runs them off the loop."""
    engine = store.engine if isinstance(store, SqlStorage) else None

    def check() -> dict[str, bool]:
        database, migrations = schema_state(engine) if engine is not None else (True, True)
        try:
            services.keys.sign("root", {"sub": "readiness"})
            key = True
        except Exception:  # no active key, or one that cannot be unsealed with this master key
            key = False
        return {"database": database, "migrations": migrations, "signing_key": key}
    return check


def state(app: CredoApp) -> Any:
    return app.state


def create_app() -> CredoApp:
    """The uvicorn factory (`credo serve` sets CREDO_PUBLIC_URL before it starts workers)."""
    app = build_app(Settings())
    settle_garbage_collector()
    return app


def settle_garbage_collector() -> None:
    """Move everything built at start-up (modules, routes, settings, keys) out of the collector's sight and
    collect the young generation less often: a full collection then walks only what requests allocate and
    keep, which shortens the pauses that otherwise land in the slowest 1 % of requests."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


GC_YOUNG_THRESHOLD = 7_000  # allocations between young collections (CPython's default: 700)
