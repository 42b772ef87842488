"""The composition root: build_app wires settings, storage, keys, scripts and routes."""

from __future__ import annotations

import gc
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from credo.admin.routes import admin_app
from credo.domain.clock import Clock, SystemClock
from credo.http.dispatch import CredoApp
from credo.http.errors import HANDLERS
from credo.http.operations import AccessLog, Metrics, Observer, operations
from credo.keys.datakeys import DataKey, MasterKeys, load_data_key, master_id, sealed_by_previous
from credo.keys.keyring import KeyRing
from credo.keys.remote_jwks import RemoteJwks
from credo.keys.secrets import SecretHasher
from credo.logs import configure as configure_logs
from credo.management.keys import rotate_due_keys
from credo.management.maintenance import purge_expired
from credo.management.realms import ensure_realm
from credo.oauth.exchange_audit import AuditedTokenEndpoint
from credo.oauth.grants.refresh_token import issue_refresh_token
from credo.oauth.grants.registry import default_handlers
from credo.oauth.services import Services, document_fetcher
from credo.oauth.throttle import RateLimiter, auth_throttle
from credo.scripting.quickjs_runner import QuickJsRunner
from credo.settings import Settings
from credo.storage.cached import CachedStorage
from credo.storage.protocols import EphemeralState, Storage
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


def open_ephemeral(settings: Settings, storage: Storage) -> EphemeralState:
    """The ephemeral state every process shares: the database's unless CREDO_EPHEMERAL_URL names a Redis."""
    if settings.ephemeral_url is None:
        return storage.ephemeral
    from credo.storage.redis_state import RedisEphemeral  # only a server configured for Redis imports it
    return RedisEphemeral(settings.ephemeral_url, prefix=settings.ephemeral_prefix)


def build_services(settings: Settings, storage: Storage, *, base_url: str, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    data_key = open_data_key(settings, storage, clock)
    cached = CachedStorage(storage, max_entries=settings.record_cache_entries,
                           check_interval=settings.cache_check_interval)
    keys = KeyRing(storage.keys, data_key.sealer(), clock)
    cached.cache.on_change.append(keys.mark_stale)  # keys rotated by another process apply at once
    services = Services(storage=cached, keys=keys,  # CachedStorage has the Storage shape (delegation)
                        hasher=SecretHasher(data_key.hashing), clock=clock, base_url=base_url)
    services.script_runner = QuickJsRunner()
    _unsafe_test_fetching(settings, services)
    # Failures and registration hits are shared by every process using the same ephemeral state (the
    # database, or Redis: CREDO_EPHEMERAL_URL; see credo.oauth.throttle).
    ephemeral = services.ephemeral = open_ephemeral(settings, storage)
    services.registration_rate = RateLimiter(ephemeral, digest=services.hasher.keyed_hash)
    for attr, name, what in (("auth_throttle", "auth", "client authentication"),
                             ("login_throttle", "login", "password login")):
        setattr(services, attr, auth_throttle(
            clock, limit=settings.auth_failure_limit, identity_limit=settings.auth_identity_failure_limit,
            window=settings.auth_failure_window, what=what, name=name, log=ephemeral,
            digest=services.hasher.keyed_hash, sync_interval=settings.auth_failure_sync_interval))
    services.spray_throttle = auth_throttle(
        clock, limit=settings.login_spray_failure_limit, identity_limit=settings.login_client_failure_limit,
        window=settings.auth_failure_window, what="password logins", name="spray", log=ephemeral,
        digest=services.hasher.keyed_hash, sync_interval=settings.auth_failure_sync_interval)
    return services


def master_keys(settings: Settings) -> MasterKeys:
    return MasterKeys(settings.resolved_master_key(), settings.resolved_previous_master_key())


def open_data_key(settings: Settings, storage: Storage, clock: Clock) -> DataKey:
    """The data key (credo.keys.datakeys), opened once with the configured master key(s)."""
    masters = master_keys(settings)
    key = load_data_key(storage.keys, masters, clock,
                        existing_data=lambda: any(storage.keys.all(r.name) for r in storage.realms.all()))
    if sealed_by_previous(storage.keys, masters):
        logging.getLogger("credo").warning(
            "the data key is sealed by the previous master key; run credo keys rewrap (current master key id "
            "%s)", master_id(masters.current))
    return key


def _unsafe_test_fetching(settings: Settings, services: Services) -> None:
    """The test-only outbound fetcher settings (see Settings.unsafe_test_only_fetch_resolve): both fetchers
    may then reach `.test` names on loopback, with certificates from the given CA. Loudly logged."""
    resolve, ca_file = settings.unsafe_test_only_fetch_resolve, settings.unsafe_test_only_fetch_ca_file
    if not resolve and ca_file is None:
        return
    structlog.get_logger("credo").warning("unsafe_test_only_fetch_settings", hosts=sorted(resolve),
                                          ca_file=str(ca_file) if ca_file else None,
                                          note="TEST ONLY: never set in production")
    tls = ssl.create_default_context()
    if ca_file is not None:
        tls.load_verify_locations(cafile=str(ca_file))
    services.client_documents = document_fetcher(tls=tls, unsafe_test_resolve=resolve)
    services.remote_jwks = RemoteJwks(tls=tls, unsafe_test_resolve=resolve)


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
            services.keys.sign_now("root", {"sub": "readiness"})
            key = True
        except Exception:  # no active key, or one that cannot be unsealed with this master key
            key = False
        return {"database": database, "migrations": migrations, "signing_key": key}
    return check


def state(app: CredoApp) -> Any:
    return app.state


def create_app() -> CredoApp:
    """The uvicorn factory (`credo serve` sets CREDO_PUBLIC_URL before it starts workers)."""
    settings = Settings()
    app = build_app(settings)
    maintenance = start_maintenance(app.state.services, settings.key_rotation_days)
    app.on_shutdown.append(maintenance.stop)  # the thread's last flush stores the tally's last seconds
    app.on_shutdown.append(app.state.services.ephemeral.close)  # Redis's connections, when it holds the state
    settle_garbage_collector()
    return app


MAINTENANCE_SECONDS = 3600.0  # how often a server process rotates due signing keys and purges expired rows
USAGE_FLUSH_SECONDS = 10.0  # how often a server process stores its tally of tokens issued (the overview's counts)


class Maintenance:
    """A process's housekeeping thread (start_maintenance); `stop` ends it after its last flush."""

    def __init__(self, run: Callable[[threading.Event], None]) -> None:
        self._event = threading.Event()
        self._thread = threading.Thread(target=run, args=(self._event,), name="credo-maintenance", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it: its last flush is stored before the process exits."""
        self._event.set()
        self._thread.join(timeout)


def start_maintenance(services: Services, days: float, interval: float = MAINTENANCE_SECONDS,
                      flush_interval: float = USAGE_FLUSH_SECONDS) -> Maintenance:
    """This process's housekeeping on a daemon thread (the storage calls are synchronous; requests are never
    held): now and then every `interval` seconds, signing keys older than `days` rotated (0: never; the
    compare-and-swap in the key ring lets one process rotate each realm) and expired rows purged
    (credo.management.maintenance); every `flush_interval` seconds, and once more when stopped, the tally of
    tokens issued stored (`Storage.usage`). Every process of every node runs it; a failed round (a database
    outage) is logged and tried again at the next. `stop()` the returned handle to end it (the server does
    when it stops: its lifespan's shutdown)."""
    log = logging.getLogger("credo")

    def housekeeping() -> None:
        if days > 0:
            try:
                for key in rotate_due_keys(services, days):
                    log.info("signing key rotated on schedule: realm %s, new kid %s", key["realm"], key["kid"])
            except Exception:
                log.exception("scheduled key rotation failed; retrying in %.0f s", interval)
        try:
            purged = purge_expired(services)
            if any(purged.values()):
                log.info("expired rows purged: %s", purged)
        except Exception:
            log.exception("purging expired rows failed; retrying in %.0f s", interval)

    def flush() -> None:
        try:
            services.storage.usage.flush()
        except Exception:
            log.exception("storing the tally of tokens issued failed; retrying in %.0f s", flush_interval)

    def run(stop: threading.Event) -> None:
        due = 0.0
        while True:
            if time.monotonic() >= due:
                housekeeping()
                due = time.monotonic() + interval
            flush()
            if stop.wait(min(flush_interval, max(0.0, due - time.monotonic()))):
                flush()
                return

    return Maintenance(run)


def settle_garbage_collector() -> None:
    """Move everything built at start-up (modules, routes, settings, keys) out of the collector's sight and
    collect the young generation less often: a full collection then walks only what requests allocate and
    keep, which shortens the pauses that otherwise land in the slowest 1 % of requests."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


GC_YOUNG_THRESHOLD = 7_000  # allocations between young collections (CPython's default: 700)
