"""`credo serve | db upgrade | keys ... | realm ... | client ...` and the entry point (`--version`, errors)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy import make_url

from credo import __version__
from credo.admin.api import shapes
from credo.cli import check as check_command
from credo.cli import demo as demo_setup
from credo.cli import signin
from credo.cli.accounts import register as register_account_commands
from credo.cli.admin import print_first_admin, register
from credo.cli.agents import register as register_agent_commands
from credo.cli.common import open_services
from credo.cli.output import JSON, YES, done, emit_list, emit_one, exit_status, fail, first_problem, refusals
from credo.cli.scripts import script_app
from credo.cli.server_options import server_options
from credo.domain.errors import OAuthError
from credo.http.operations import MULTIPROC_ENV
from credo.logs import configure as configure_logs
from credo.logs import log
from credo.settings import Settings

app = typer.Typer(help="Credo: an OAuth 2.0 / OpenID Connect authorization server for AI agents.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
realm_app = typer.Typer(help="Realms and provider settings.", no_args_is_help=True)
client_app = typer.Typer(help="OAuth2 clients.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(realm_app, name="realm")
app.add_typer(client_app, name="client")
register(app)
register_agent_commands(app)
check_command.register(app)
app.add_typer(script_app, name="script")
register_account_commands(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"credo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Credo: an OAuth 2.0 / OpenID Connect authorization server for AI agents."""


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="Address to listen on."),
          port: int = typer.Option(8080, help="Port to listen on."),
          workers: int = typer.Option(1, min=1, help="Worker processes sharing the database."),
          demo: bool = typer.Option(False, help="Create the demo realms and clients and print their credentials."),
          proxy_headers: bool = typer.Option(
              False, help="Take the client address from X-Forwarded-For (and the scheme from X-Forwarded-Proto) "
                          "when the request comes from one of --forwarded-allow-ips. Off: the socket's peer address."),
          forwarded_allow_ips: str = typer.Option(
              "", help="Comma-separated addresses or networks of the proxies to trust with --proxy-headers "
                       "(e.g. 10.0.0.5 or 10.0.0.0/24); required with it."),
          graceful_timeout: int = typer.Option(
              30, min=1, help="Seconds the requests in flight get to finish after SIGTERM or Ctrl+C.")) -> None:
    """Run the server."""
    try:
        options = server_options(proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips or None)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--forwarded-allow-ips") from exc
    settings = Settings()
    public_url = settings.resolved_public_url(host, port)
    _check_free(host, port)
    os.environ["CREDO_PUBLIC_URL"] = public_url
    services = open_services(Settings(), note_new_database=False)
    print_first_admin(services)
    if demo:
        demo_setup.set_up(services, settings.data_dir, public_url)
    services.storage.close()
    listen = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    typer.echo(f"Console:         {public_url}/admin/")
    typer.echo(f"Listening on     {listen}   (Ctrl+C to stop)")
    run_server(settings, listen=listen, public_url=public_url, host=host, port=port, workers=workers,
               graceful_timeout=graceful_timeout, options=options)


def run_server(settings: Settings, *, listen: str, public_url: str, host: str, port: int, workers: int,
               graceful_timeout: int, options: dict[str, Any]) -> None:
    """Run uvicorn between a start-up and a shutdown log line. With several workers, the metrics of every
    worker go to a directory made for this start (prometheus_client's multiprocess mode; see
    credo.http.operations), removed when the server stops. SIGTERM or Ctrl+C: the listening socket closes
    and the requests in flight finish (at most `graceful_timeout` seconds) before the process exits."""
    configure_logs(settings.log_level)
    metrics_dir = None
    if workers > 1 and settings.metrics_path:
        remove_stale_metrics_dirs()
        metrics_dir = Path(tempfile.mkdtemp(prefix=f"credo-metrics-{os.getpid()}-"))  # empty: nothing of before
        os.environ[MULTIPROC_ENV] = str(metrics_dir)  # read by the workers, which start after this
    store = store_name(settings.resolved_database_url())
    log.info("server_started", listen=listen, public_url=public_url, store=store, workers=workers,
             pid=os.getpid(), metrics_path=settings.metrics_path or None, access_log=settings.access_log,
             metrics_dir=str(metrics_dir) if metrics_dir else None)
    # uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler it found: the
    # default one would end a one-process server there, before the shutdown line. This one ends it as
    # Ctrl+C does, through the line below (status 0: the stop was asked for and went as asked).
    signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.run("credo.app:create_app", factory=True, host=host, port=port, workers=workers,
                    timeout_graceful_shutdown=graceful_timeout, **options)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        log.info("server_stopped", listen=listen, pid=os.getpid())


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def remove_stale_metrics_dirs() -> None:
    """Remove the metrics directories of earlier starts whose server is gone without removing its own
    (killed): they are named after the server's process id."""
    for path in Path(tempfile.gettempdir()).glob("credo-metrics-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def store_name(url: str) -> str:
    """The database as the start-up line names it: the URL without its password."""
    return make_url(url).render_as_string(hide_password=True)


def _check_free(host: str, port: int) -> None:
    """Refuse to start, before anything is set up, when the address cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from exc


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    services = open_services()
    typer.echo(f"database at head: {Settings().resolved_database_url().split('@')[-1]}")
    services.storage.close()


@db_app.command("purge")
def db_purge() -> None:
    """Delete expired token records, burned one-time ids and ephemeral rows now (every server process
    does it hourly); prints how many of each."""
    from credo.management.maintenance import purge_expired

    services = open_services()
    try:
        typer.echo(json.dumps(purge_expired(services)))
    finally:
        services.storage.close()


@keys_app.command("rotate")
def keys_rotate(realm: str = typer.Argument(..., help="Realm name."),
                alg: str = typer.Option(None, help="ES256 or RS256 (default: the realm's signing_alg).")) -> None:
    """Add a new active signing key; old public keys stay published until their tokens expire."""
    from credo.management.keys import rotate_key

    if alg is not None and alg not in ("ES256", "RS256"):
        raise typer.BadParameter("ES256 or RS256", param_hint="--alg")
    key = rotate_key(open_services(), realm, alg, actor="cli")
    typer.echo(json.dumps({"realm": realm, "kid": key["kid"], "alg": key["alg"]}))


@keys_app.command("purge")
def keys_purge(realm: str = typer.Argument(..., help="Realm name.")) -> None:
    """Delete retired signing keys whose publication has ended; tokens they signed stop verifying."""
    from credo.management.keys import purge_keys

    services = open_services()
    typer.echo(json.dumps({"realm": realm, "purged": purge_keys(services, realm, actor="cli")}))


@keys_app.command("rewrap")
def keys_rewrap() -> None:
    """Re-seal the data key under a new master key: set CREDO_MASTER_KEY (or _FILE) to the new key and
    CREDO_MASTER_KEY_PREVIOUS (or _FILE) to the old one. Running servers are not disturbed; every hash,
    sealed private key and issued token stays valid (see docs/production.md)."""
    from credo.app import master_keys, open_storage
    from credo.domain.clock import SystemClock
    from credo.keys.datakeys import rewrap

    settings = Settings()
    storage = open_storage(settings)
    try:
        old, new = rewrap(storage.keys, master_keys(settings), SystemClock())
    finally:
        storage.close()
    typer.echo(json.dumps({"from_master_key": old, "to_master_key": new, "changed": old != new}))


@keys_app.command("rotate-due")
def keys_rotate_due(days: float = typer.Option(None, help="Key age in days (default: CREDO_KEY_ROTATION_DAYS).")) -> None:
    """Rotate every realm's signing key that is due (what credo serve does hourly); purge expired keys."""
    from credo.management.keys import rotate_due_keys

    settings = Settings()
    services = open_services(settings)
    for key in rotate_due_keys(services, settings.key_rotation_days if days is None else days):
        typer.echo(json.dumps({"realm": key["realm"], "kid": key["kid"], "alg": key["alg"]}))


@app.command("backup")
def backup_command(target: Path = typer.Argument(..., help="A new file to write the backup to.")) -> None:
    """Back up the database while the server runs (SQLite: the backup API; PostgreSQL: pg_dump, custom
    format). The master key is not in it: keep it separately."""
    from credo.app import open_storage
    from credo.keys.datakeys import DATA_KEY
    from credo.storage.sql.backup import backup

    settings = Settings()
    backup(settings.resolved_database_url(), target)
    storage = open_storage(settings, migrate=False)
    try:
        sealed = storage.keys.data_key(DATA_KEY)
    finally:
        storage.close()
    # Which master key the backup needs (its id, not the key): keep that key where the backup is not.
    typer.echo(json.dumps({"backup": str(target), "master_key_id": sealed.master_id if sealed else None}))


@app.command("restore")
def restore_command(source: Path = typer.Argument(..., help="A file written by credo backup.")) -> None:
    """Restore a backup into the configured database (SQLite: a file that does not exist yet; PostgreSQL:
    an empty database), migrate it, and check that the configured master key opens it."""
    from credo.app import open_data_key, open_storage
    from credo.domain.clock import SystemClock
    from credo.storage.sql.backup import restore

    settings = Settings()
    restore(settings.resolved_database_url(), source)
    storage = open_storage(settings)
    try:
        open_data_key(settings, storage, SystemClock())
    finally:
        storage.close()
    typer.echo(json.dumps({"restored": settings.resolved_database_url().split("@")[-1]}))


@keys_app.command("list")
def keys_list(realm: str, as_json: bool = JSON) -> None:
    """List a realm's signing keys (public parts only)."""
    from credo.management.keys import list_keys

    with refusals():
        keys = list_keys(open_services(), realm)
    emit_list(keys, ("kid", "alg", "active", "created_at", "publish_until"), as_json=as_json,
              title=f"signing keys of {realm}")


@realm_app.command("list")
def realm_list(as_json: bool = JSON) -> None:
    """List realms."""
    emit_list([shapes.realm(r) for r in open_services().storage.realms.all()], ("name", "path", "created_at"),
              as_json=as_json, title="realms")


@realm_app.command("show")
def realm_show(name: str, as_json: bool = JSON) -> None:
    """Show a realm and its provider settings."""
    from credo.management.realms import get_realm

    with refusals():
        realm = get_realm(open_services(), name)
    emit_one({**shapes.realm(realm), "settings": realm.settings.model_dump(mode="json")}, as_json=as_json)


@realm_app.command("update")
def realm_update(name: str, set_json: str = typer.Option(
        ..., "--set", help="A JSON merge patch (RFC 7396) of the settings; null resets a setting.")) -> None:
    """Change a realm's provider settings (the same as `realm settings NAME --set`); prints them."""
    realm_settings(name, set_json)


@realm_app.command("delete")
def realm_delete(name: str, yes: bool = YES, as_json: bool = JSON) -> None:
    """Delete a realm with everything in it (needs --yes)."""
    from credo.management.realms import delete_realm

    if not yes:
        fail(f"deleting realm '{name}' deletes its clients, users and keys: add --yes to confirm")
    with refusals():
        delete_realm(open_services(), name, actor="cli")
    done(f"deleted realm {name}", {"deleted": "realm", "name": name}, as_json=as_json)


@realm_app.command("create")
def realm_create(name: str) -> None:
    """Create a realm with default provider settings and a signing key."""
    from credo.management.realms import ensure_realm

    ensure_realm(open_services(), name, actor="cli")
    typer.echo(name)


@realm_app.command("settings")
def realm_settings(name: str, set_json: str = typer.Option(
        None, "--set", help="A JSON merge patch (RFC 7396) of the settings: only the members given change, also "
                            "inside objects; null resets a setting to its default.")) -> None:
    """Show (or with --set, change) a realm's provider settings."""
    from credo.management.realms import get_realm, patch_settings

    services = open_services()
    try:
        patch = json.loads(set_json) if set_json else None
    except json.JSONDecodeError as exc:
        fail(f"--set: not valid JSON ({exc.msg})")
    with refusals():
        realm = patch_settings(services, name, patch, actor="cli") if set_json else get_realm(services, name)
    typer.echo(realm.settings.model_dump_json(indent=2))


@client_app.command("create")
def client_create(realm: str, client_id: str,
                  scope: str = typer.Option("", help="Space-separated scopes."),
                  grant: list[str] = typer.Option(["client_credentials"], help="Grant types (repeat)."),
                  auth_method: str = typer.Option("client_secret_post"),
                  stateless: bool = typer.Option(False, help="Issue JWT (client-side) tokens."),
                  redirect_uri: list[str] = signin.REDIRECT_URI,
                  post_logout_redirect_uri: list[str] = signin.POST_LOGOUT, resource: list[str] = signin.RESOURCE,
                  application_type: str = signin.APPLICATION_TYPE_NEW,
                  skip_consent: bool = signin.SKIP_CONSENT_NEW,
                  strict_auth_method: bool = signin.STRICT_AUTH_METHOD_NEW,
                  dpop_bound: bool = signin.DPOP_BOUND_NEW, jwks: str = signin.JWKS_FILE,
                  jwks_uri: str = signin.JWKS_URI, signing_alg: str = signin.SIGNING_ALG) -> None:
    """Create a client; prints its secret once (none with --auth-method private_key_jwt)."""
    from credo.management.clients import create_client

    attrs = {"providerOverridesEnabled": ["true"], "statelessTokensEnabled": ["true"]} if stateless else {}
    client, secret = create_client(open_services(), realm, client_id, scopes=tuple(scope.split()),
                                   grant_types=tuple(grant), auth_method=auth_method, attributes=attrs,
                                   redirect_uris=tuple(redirect_uri),
                                   post_logout_redirect_uris=tuple(post_logout_redirect_uri),
                                   resources=tuple(resource), application_type=application_type,
                                   skip_consent=skip_consent, strict_auth_method=strict_auth_method,
                                   dpop_bound_access_tokens=dpop_bound, keys=signin.keys(jwks, jwks_uri, signing_alg),
                                   actor="cli")
    typer.echo(json.dumps({**signin.shown(client), "client_secret": secret}))


@client_app.command("list")
def client_list(realm: str, as_json: bool = JSON) -> None:
    """List a realm's plain OAuth2 clients (applications and agents: `credo app list`, `credo agent list`)."""
    from credo.management.clients import list_clients

    with refusals():
        clients = list_clients(open_services(), realm)
    emit_list([shapes.client(c) for c in clients], CLIENT_COLUMNS, as_json=as_json, title=f"clients of {realm}")


CLIENT_COLUMNS = ("client_id", "name", "kind", "enabled", "grant_types", "scopes", "auth_method")


@client_app.command("show")
def client_show(realm: str, client_id: str, as_json: bool = JSON) -> None:
    """Show a client (never its secret)."""
    from credo.management.clients import get_plain_client

    with refusals():
        client = get_plain_client(open_services(), realm, client_id)
    emit_one(shapes.client(client), as_json=as_json)


@client_app.command("update")
def client_update(realm: str, client_id: str,
                  scope: str = typer.Option(None, help="Space-separated scopes (replaces them)."),
                  grant: list[str] = typer.Option([], help="Grant types (repeat; replaces them)."),
                  enabled: bool = typer.Option(None, "--enabled/--disabled", help="Enable or disable the client."),
                  new_secret: bool = typer.Option(False, "--new-secret", help="Generate a new secret (printed once)."),
                  as_json: bool = JSON) -> None:
    """Change a client (only the options given); prints it."""
    from credo.management.clients import update_plain_client

    changes: dict[str, object] = {}
    if scope is not None:
        changes["scopes"] = tuple(scope.split())
    if grant:
        changes["grant_types"] = tuple(grant)
    if enabled is not None:
        changes["enabled"] = enabled
    with refusals():
        client, secret = update_plain_client(open_services(), realm, client_id, changes, new_secret=new_secret,
                                             actor="cli")
    emit_one({**shapes.client(client), **({"client_secret": secret} if secret else {})}, as_json=as_json)


@client_app.command("delete")
def client_delete(realm: str, client_id: str, as_json: bool = JSON) -> None:
    """Delete a client; its tokens stop working."""
    from credo.management.clients import delete_plain_client

    with refusals():
        delete_plain_client(open_services(), realm, client_id, actor="cli")
    done(f"deleted client {client_id} of realm {realm}", {"deleted": "client", "realm": realm,
                                                          "client_id": client_id}, as_json=as_json)


def main() -> None:
    try:
        app()
    except ValidationError as exc:  # a bad setting: name the first field, without pydantic's links
        typer.echo(f"error: {first_problem(exc)}", err=True)
        sys.exit(2)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OAuthError as exc:  # a management use case refused the request: its description names the thing
        typer.echo(f"error: {exc.description}", err=True)
        sys.exit(exit_status(exc))


if __name__ == "__main__":
    main()
