"""`credo service-account ...`, `credo admin token list | revoke` (automation's access to the admin API) and
`credo initial-access-token list | show | delete`."""

from __future__ import annotations

import json

import typer

from credo.cli.common import open_services
from credo.cli.output import JSON, done, emit_list, emit_one, refusals
from credo.management import service_accounts as accounts

service_account_app = typer.Typer(help="Service accounts: admin API access for automation, without a password.",
                                  no_args_is_help=True)
admin_token_app = typer.Typer(help="Admin API tokens and console sessions.", no_args_is_help=True)

ACCESS = typer.Option("read", "--access", help="read (admin:read: every GET) or write (admin:read and admin:write).")
REALMS = typer.Option([], "--realm", help="A realm it may touch and create (repeat); '*' for every realm.")
COLUMNS = ("name", "access", "realms", "enabled", "description")


@service_account_app.command("create")
def sa_create(name: str, access: str = ACCESS, realm: list[str] = REALMS,
              description: str = typer.Option("", help="What it is for.")) -> None:
    """Create a service account; prints its client_id and client_secret once (JSON)."""
    with refusals():
        client, secret = accounts.create_service_account(open_services(), name, access=access, realms=realm,
                                                         description=description, actor="cli")
    typer.echo(json.dumps({**accounts.shown(client), "client_id": client.client_id, "client_secret": secret},
                          sort_keys=True))


@service_account_app.command("list")
def sa_list(as_json: bool = JSON) -> None:
    """List service accounts (never their secrets)."""
    rows = [accounts.shown(c) for c in accounts.list_service_accounts(open_services())]
    emit_list(rows, COLUMNS, as_json=as_json, title="service accounts")


@service_account_app.command("show")
def sa_show(name: str, as_json: bool = JSON) -> None:
    """Show a service account."""
    with refusals():
        client = accounts.get_service_account(open_services(), name)
    emit_one(accounts.shown(client), as_json=as_json)


@service_account_app.command("update")
def sa_update(name: str, access: str = typer.Option(None, "--access", help="read or write."),
              realm: list[str] = typer.Option([], "--realm", help="A realm (repeat; replaces the list); '*': all."),
              enabled: bool = typer.Option(None, "--enabled/--disabled", help="Enable or disable it."),
              description: str = typer.Option(None, help="What it is for."),
              new_secret: bool = typer.Option(False, "--new-secret", help="Generate a new secret (printed once)."),
              as_json: bool = JSON) -> None:
    """Change a service account (only the options given); its tokens follow at once."""
    services = open_services()
    with refusals():
        client = accounts.update_service_account(services, name, access=access, realms=realm or None,
                                                 enabled=enabled, description=description, actor="cli")
        secret = accounts.new_service_account_secret(services, name, actor="cli") if new_secret else None
    emit_one({**accounts.shown(client), **({"client_secret": secret} if secret else {})}, as_json=as_json)


@service_account_app.command("delete")
def sa_delete(name: str, as_json: bool = JSON) -> None:
    """Delete a service account and revoke its tokens."""
    with refusals():
        accounts.delete_service_account(open_services(), name, actor="cli")
    done(f"deleted service account {name}", {"deleted": "service_account", "name": name}, as_json=as_json)


@admin_token_app.command("list")
def token_list(as_json: bool = JSON) -> None:
    """List unexpired admin API tokens and console sessions (never their values)."""
    rows = accounts.list_admin_tokens(open_services())
    emit_list(rows, ("id", "kind", "holder", "holder_kind", "scopes", "expires_at"), as_json=as_json,
              title="admin tokens")


@admin_token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., help="The id `credo admin token list` shows."),
                 as_json: bool = JSON) -> None:
    """Revoke an admin API token or console session."""
    with refusals():
        accounts.revoke_admin_token(open_services(), token_id, actor="cli")
    done(f"revoked admin token {token_id}", {"revoked": token_id}, as_json=as_json)


iat_app = typer.Typer(help="Initial access tokens (dcr_register tokens the server stores): list, show, revoke.",
                      no_args_is_help=True)


@iat_app.command("list")
def iat_list(realm: str, as_json: bool = JSON) -> None:
    """List a realm's unexpired initial access tokens and whether each was used (never their values)."""
    from credo.management.initial_access import list_initial_access_tokens

    with refusals():
        rows = list_initial_access_tokens(open_services(), realm)
    emit_list(rows, ("id", "client_id", "used", "issued_at", "expires_at"), as_json=as_json,
              title=f"initial access tokens of {realm}")


@iat_app.command("show")
def iat_show(realm: str, token_id: str, as_json: bool = JSON) -> None:
    """Show one initial access token."""
    from credo.management.initial_access import get_initial_access_token

    with refusals():
        row = get_initial_access_token(open_services(), realm, token_id)
    emit_one(row, as_json=as_json)


@iat_app.command("delete")
def iat_delete(realm: str, token_id: str, as_json: bool = JSON) -> None:
    """Revoke an initial access token: no registration can use it any more."""
    from credo.management.initial_access import revoke_initial_access_token

    with refusals():
        revoke_initial_access_token(open_services(), realm, token_id, actor="cli")
    done(f"revoked initial access token {token_id} of realm {realm}",
         {"deleted": "initial_access_token", "realm": realm, "id": token_id}, as_json=as_json)


def register(app: typer.Typer) -> None:
    from credo.cli.admin import admin_app

    app.add_typer(service_account_app, name="service-account")
    admin_app.add_typer(admin_token_app, name="token")
    app.add_typer(iat_app, name="initial-access-token")
