"""`credo serve | db upgrade | keys rotate | realm ... | client ...`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy import make_url

from credo.cli import check as check_command
from credo.cli import demo as demo_setup
from credo.cli import signin
from credo.cli.admin import print_first_admin, register
from credo.cli.agents import register as register_agent_commands
from credo.cli.common import open_services
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
    try:
        uvicorn.run("credo.app:create_app", factory=True, host=host, port=port, workers=workers,
                    timeout_graceful_shutdown=graceful_timeout, **options)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        log.info("server_stopped", listen=listen, pid=os.getpid())


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


@keys_app.command("list")
def keys_list(realm: str) -> None:
    """List a realm's signing keys (public parts only)."""
    services = open_services()
    for k in services.storage.keys.all(realm):
        typer.echo(json.dumps({"kid": k.kid, "alg": k.alg, "active": k.active, "publish_until": k.publish_until}))


@realm_app.command("list")
def realm_list() -> None:
    """List realms."""
    for r in open_services().storage.realms.all():
        typer.echo(r.name)


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
    realm = patch_settings(services, name, json.loads(set_json), actor="cli") if set_json else get_realm(services, name)
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
                  strict_auth_method: bool = signin.STRICT_AUTH_METHOD_NEW) -> None:
    """Create a client; prints its secret once."""
    from credo.management.clients import create_client

    attrs = {"providerOverridesEnabled": ["true"], "statelessTokensEnabled": ["true"]} if stateless else {}
    client, secret = create_client(open_services(), realm, client_id, scopes=tuple(scope.split()),
                                   grant_types=tuple(grant), auth_method=auth_method, attributes=attrs,
                                   redirect_uris=tuple(redirect_uri),
                                   post_logout_redirect_uris=tuple(post_logout_redirect_uri),
                                   resources=tuple(resource), application_type=application_type,
                                   skip_consent=skip_consent, strict_auth_method=strict_auth_method, actor="cli")
    typer.echo(json.dumps({**signin.shown(client), "client_secret": secret}))


def main() -> None:
    try:
        app()
    except ValidationError as exc:  # a bad setting: name the first field, without pydantic's links
        typer.echo(f"error: {_first_problem(exc)}", err=True)
        sys.exit(2)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OAuthError as exc:  # a management use case refused the request: its description names the field
        typer.echo(f"error: {exc.description}", err=True)
        sys.exit(2)


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "settings"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}."


if __name__ == "__main__":
    main()
