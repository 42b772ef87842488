"""`credo user | group | app | agent | policy | audit`: end users, applications, AI agents and their policies."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import typer

from credo.admin.api import shapes
from credo.cli import signin
from credo.cli.common import open_services
from credo.cli.output import JSON, done, emit_list, emit_one, exit_status
from credo.domain.errors import OAuthError
from credo.domain.models import Client, User
from credo.oauth.services import Services

user_app = typer.Typer(help="End users.", no_args_is_help=True)
group_app = typer.Typer(help="Groups of users.", no_args_is_help=True)
application_app = typer.Typer(help="Applications (resources agents reach).", no_args_is_help=True)
agent_app = typer.Typer(help="AI agents and their application policies.", no_args_is_help=True)
policy_app = typer.Typer(help="Application policies: which application an AI agent may reach, for whom.",
                         no_args_is_help=True)


@contextmanager
def _services() -> Iterator[Services]:
    services = open_services()
    try:
        yield services
    except OAuthError as exc:
        typer.echo(f"error: {exc.description}", err=True)
        sys.exit(exit_status(exc))
    finally:
        services.storage.close()


def _out(value: dict[str, Any]) -> None:
    typer.echo(json.dumps(value, sort_keys=True))


def _user(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "active": u.active, "name": u.name, "email": u.email}


@user_app.command("create")
def user_create(realm: str, username: str,
                password: str = typer.Option(..., prompt=True, hide_input=True, help="The user's password."),
                name: str = typer.Option("", help="Display name (the name claim)."),
                email: str = typer.Option("", help="Email address (the email claim).")) -> None:
    """Create a user; prints it."""
    from credo.management.users import create_user

    with _services() as services:
        _out(_user(create_user(services, realm, username, password, name=name, email=email, actor="cli")))


@user_app.command("update")
def user_update(realm: str, username: str,
                name: str = typer.Option(None, help="Display name (the name claim); '' clears it."),
                email: str = typer.Option(None, help="Email address (the email claim); '' clears it.")) -> None:
    """Change a user's profile attributes (USERNAME: a username or user id); prints the user."""
    from credo.management.users import resolve_user, update_user

    with _services() as services:
        user = resolve_user(services, realm, username)
        _out(_user(update_user(services, realm, user.id, name=name, email=email, actor="cli")))


USER_COLUMNS = ("id", "username", "active", "name", "email")


@user_app.command("list")
def user_list(realm: str, as_json: bool = JSON) -> None:
    """List users (never their password hashes)."""
    from credo.management.users import list_users

    with _services() as services:
        rows = [shapes.user(u) for u in list_users(services, realm)]
    emit_list(rows, USER_COLUMNS, as_json=as_json, title=f"users of {realm}")


@user_app.command("show")
def user_show(realm: str, username: str = typer.Argument(..., help="A username or user id."),
              as_json: bool = JSON) -> None:
    """Show a user and their groups (never the password hash)."""
    from credo.management.users import resolve_user

    with _services() as services:
        user = resolve_user(services, realm, username)
        row = {**shapes.user(user), "groups": list(services.groups_of(realm, user.id))}
    emit_one(row, as_json=as_json)


@user_app.command("delete")
def user_delete(realm: str, username: str = typer.Argument(..., help="A username or user id."),
                as_json: bool = JSON) -> None:
    """Delete a user; their tokens and sessions stop working."""
    from credo.management.users import delete_user, resolve_user

    with _services() as services:
        user = resolve_user(services, realm, username)
        delete_user(services, realm, user.id, actor="cli")
    done(f"deleted user {user.username} of realm {realm}",
         {"deleted": "user", "realm": realm, "id": user.id, "username": user.username}, as_json=as_json)


@user_app.command("set-active")
def user_set_active(realm: str, username: str, active: bool = typer.Option(..., "--active/--inactive")) -> None:
    """Activate or deactivate a user."""
    from credo.management.users import find_user, update_user

    with _services() as services:
        user = update_user(services, realm, find_user(services, realm, username).id, active=active, actor="cli")
        _out({"id": user.id, "username": user.username, "active": user.active})


@group_app.command("put")
def group_put(realm: str, name: str,
              member: list[str] = typer.Option([], "--member", help="A username or user id (repeat).")) -> None:
    """Create or replace a group."""
    from credo.management.groups import put_group

    with _services() as services:
        group = put_group(services, realm, name, list(member), actor="cli")
        _out({"name": group.name, "members": list(group.members)})


@group_app.command("list")
def group_list(realm: str, as_json: bool = JSON) -> None:
    """List groups with their members (user ids)."""
    from credo.management.groups import list_groups

    with _services() as services:
        rows = [shapes.group(g) for g in list_groups(services, realm)]
    emit_list(rows, ("name", "members"), as_json=as_json, title=f"groups of {realm}")


@group_app.command("show")
def group_show(realm: str, name: str, as_json: bool = JSON) -> None:
    """Show a group with its members (user ids and usernames)."""
    from credo.management.groups import get_group

    with _services() as services:
        group = get_group(services, realm, name)
        users = [services.user(realm, m) for m in group.members]
    emit_one({**shapes.group(group), "usernames": [u.username for u in users if u is not None]}, as_json=as_json)


@group_app.command("delete")
def group_delete(realm: str, name: str, as_json: bool = JSON) -> None:
    """Delete a group (policies naming it forget it)."""
    from credo.management.groups import delete_group

    with _services() as services:
        delete_group(services, realm, name, actor="cli")
    done(f"deleted group {name} of realm {realm}", {"deleted": "group", "realm": realm, "name": name},
         as_json=as_json)


CLIENT_COLUMNS = ("client_id", "name", "enabled", "grant_types", "scopes", "auth_method")


@application_app.command("list")
def app_list(realm: str, as_json: bool = JSON) -> None:
    """List applications (never their secrets)."""
    from credo.management.applications import list_applications

    with _services() as services:
        rows = [shapes.client(c) for c in list_applications(services, realm)]
    emit_list(rows, (*CLIENT_COLUMNS, "app_type"), as_json=as_json, title=f"applications of {realm}")


@application_app.command("delete")
def app_delete(realm: str, client_id: str, as_json: bool = JSON) -> None:
    """Delete an application (and the policies letting agents reach it)."""
    from credo.management.applications import delete_application

    with _services() as services:
        delete_application(services, realm, client_id, actor="cli")
    done(f"deleted application {client_id} of realm {realm}",
         {"deleted": "application", "realm": realm, "client_id": client_id}, as_json=as_json)


@application_app.command("create")
def app_create(realm: str, client_id: str,
               app_type: str = typer.Option("service", "--type", help="web or service."),
               name: str = typer.Option("", help="Display name."),
               scope: str = typer.Option("", help="Space-separated scopes."),
               grant: list[str] = typer.Option(["client_credentials"], help="Grant types (repeat)."),
               secret: str = typer.Option(None, help="Client secret (16+ characters); generated when omitted."),
               auth_method: str = typer.Option("client_secret_post"),
               owner: list[str] = typer.Option([], help="Owner username or admin name (repeat)."),
               redirect_uri: list[str] = signin.REDIRECT_URI, post_logout_redirect_uri: list[str] = signin.POST_LOGOUT,
               resource: list[str] = signin.RESOURCE, application_type: str = signin.APPLICATION_TYPE_NEW,
               skip_consent: bool = signin.SKIP_CONSENT_NEW,
               strict_auth_method: bool = signin.STRICT_AUTH_METHOD_NEW,
               dpop_bound: bool = signin.DPOP_BOUND_NEW, jwks: str = signin.JWKS_FILE,
               jwks_uri: str = signin.JWKS_URI, signing_alg: str = signin.SIGNING_ALG) -> None:
    """Create an application; prints it with its secret, shown once (none with --auth-method private_key_jwt)."""
    from credo.management.applications import create_application

    with _services() as services:
        client, plain = create_application(services, realm, client_id, name=name or client_id, app_type=app_type,
                                           secret=secret, grant_types=tuple(grant), scopes=tuple(scope.split()),
                                           auth_method=auth_method, owners=tuple(owner),
                                           redirect_uris=tuple(redirect_uri),
                                           post_logout_redirect_uris=tuple(post_logout_redirect_uri),
                                           resources=tuple(resource), application_type=application_type,
                                           skip_consent=skip_consent, strict_auth_method=strict_auth_method,
                                           dpop_bound_access_tokens=dpop_bound, keys=signin.keys(jwks, jwks_uri, signing_alg),
                                           actor="cli")
        _out({**signin.shown(client), "client_secret": plain})


@application_app.command("update")
def app_update(realm: str, client_id: str,
               redirect_uri: list[str] = signin.REDIRECT_URI_CHANGE,
               post_logout_redirect_uri: list[str] = signin.POST_LOGOUT_CHANGE,
               resource: list[str] = signin.RESOURCE_CHANGE,
               application_type: str = signin.APPLICATION_TYPE_CHANGE,
               skip_consent: bool = signin.SKIP_CONSENT_CHANGE,
               strict_auth_method: bool = signin.STRICT_AUTH_METHOD_CHANGE,
               dpop_bound: bool = signin.DPOP_BOUND_CHANGE) -> None:
    """Change an application's browser sign-in settings and whether its authentication method is pinned
    (only the options given); prints it."""
    from credo.management.applications import update_application

    changes = signin.changes(redirect_uri, post_logout_redirect_uri, resource, application_type, skip_consent,
                             strict_auth_method)
    if dpop_bound is not None:
        changes["dpop_bound_access_tokens"] = dpop_bound
    with _services() as services:
        _out(signin.shown(update_application(services, realm, client_id, changes, actor="cli")))


@application_app.command("show")
def app_show(realm: str, client_id: str, as_json: bool = JSON) -> None:
    """Show an application (never its secret)."""
    from credo.management.applications import get_application

    with _services() as services:
        client = get_application(services, realm, client_id)
    emit_one(shapes.client(client), as_json=as_json)


@agent_app.command("create")
def agent_create(realm: str, client_id: str,
                 name: str = typer.Option("", help="Display name."),
                 scope: str = typer.Option("", help="Space-separated scopes."),
                 grant: list[str] = typer.Option(["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"],
                                                 help="Grant types (repeat)."),
                 secret: str = typer.Option(None, help="Client secret (16+ characters); generated when omitted."),
                 auth_method: str = typer.Option("client_secret_post"),
                 overrides: bool = typer.Option(False, help="Enable OAuth2 provider overrides."),
                 stateless: bool = typer.Option(False, help="Issue client-side (JWT) tokens (needs --overrides)."),
                 accept_audience: bool = typer.Option(False, help="Accept audience parameters in token exchange "
                                                                  "(needs --overrides)."),
                 strict_auth_method: bool = signin.STRICT_AUTH_METHOD_NEW,
                 dpop_bound: bool = signin.DPOP_BOUND_NEW, jwks: str = signin.JWKS_FILE,
                 jwks_uri: str = signin.JWKS_URI, signing_alg: str = signin.SIGNING_ALG) -> None:
    """Create an AI agent; prints its secret once (none with --auth-method private_key_jwt)."""
    from credo.management.agents import create_agent

    with _services() as services:
        client, plain = create_agent(services, realm, client_id, name=name or client_id, secret=secret,
                                     scopes=tuple(scope.split()), grant_types=tuple(grant), auth_method=auth_method,
                                     overrides_enabled=overrides, stateless_tokens=stateless,
                                     accept_audience=accept_audience, strict_auth_method=strict_auth_method,
                                     dpop_bound_access_tokens=dpop_bound, keys=signin.keys(jwks, jwks_uri, signing_alg),
                                     actor="cli")
        _out({"client_id": client.client_id, "client_secret": plain})


def _warn(messages: list[str]) -> None:
    for message in messages:
        typer.echo(f"warning: {message}", err=True)


def _agent(services: Services, agent: Client) -> dict[str, Any]:
    """An agent as the command line prints it: its overrides as stored, and what does nothing (`warnings`)."""
    from credo.management.agents import list_policies
    from credo.management.overrides import override_warnings, stored_flags

    return {**shapes.client(agent), **stored_flags(agent),
            "applications": [p.application_id for p in list_policies(services, agent.realm, agent.client_id)],
            "warnings": override_warnings(agent)}


@agent_app.command("update")
def agent_update(realm: str, client_id: str,
                 overrides: bool = typer.Option(None, "--overrides/--no-overrides",
                                                help="Enable OAuth2 provider overrides (the switch of the two below)."),
                 stateless: bool = typer.Option(None, "--stateless/--no-stateless",
                                                help="Issue client-side (JWT) tokens (needs overrides)."),
                 accept_audience: bool = typer.Option(None, "--accept-audience/--no-accept-audience",
                                                      help="Accept audience parameters in token exchange (needs "
                                                           "overrides)."),
                 dpop_bound: bool = signin.DPOP_BOUND_CHANGE) -> None:
    """Change an AI agent's provider overrides (only the options given); prints the agent. Turning one on
    while overrides stay off is refused; one left on when overrides are turned off is warned of."""
    from credo.management.agents import update_agent

    changes = {k: v for k, v in {"overrides_enabled": overrides, "stateless_tokens": stateless,
                                 "accept_audience": accept_audience,
                                 "dpop_bound_access_tokens": dpop_bound}.items() if v is not None}
    with _services() as services:
        shown = _agent(services, update_agent(services, realm, client_id, changes, actor="cli"))
        _out(shown)
        _warn(shown["warnings"])


@agent_app.command("enable")
def agent_enable(realm: str, client_id: str, enabled: bool = typer.Option(True, "--enabled/--disabled")) -> None:
    """Enable or disable an AI agent."""
    from credo.management.agents import set_agent_enabled

    with _services() as services:
        agent = set_agent_enabled(services, realm, client_id, enabled, actor="cli")
        _out({"client_id": agent.client_id, "enabled": agent.enabled})


@agent_app.command("policy")
def agent_policy(realm: str, agent: str, application: str,
                 subject: list[str] = typer.Option([], help="A username or user id the agent may act for (repeat)."),
                 group: list[str] = typer.Option([], help="A group whose members the agent may act for (repeat)."),
                 permission: list[str] = typer.Option([], help="A scope the agent may get (repeat); none: all.")) -> None:
    """Create or replace the policy letting AGENT reach APPLICATION."""
    from credo.management.agents import put_policy

    with _services() as services:
        policy = put_policy(services, realm, agent, application, subjects=tuple(subject), subject_groups=tuple(group),
                            permissions=tuple(permission), actor="cli")
        _out(asdict(policy))


@agent_app.command("list")
def agent_list(realm: str, as_json: bool = JSON) -> None:
    """List AI agents with their overrides, their policies' applications and what does nothing (`warnings`)."""
    from credo.management.agents import list_agents

    with _services() as services:
        rows = [_agent(services, a) for a in list_agents(services, realm)]
    emit_list(rows, (*CLIENT_COLUMNS, "dynamic", "applications", "warnings"), as_json=as_json,
              title=f"AI agents of {realm}")


@agent_app.command("show")
def agent_show(realm: str, client_id: str, as_json: bool = JSON) -> None:
    """Show an AI agent with its overrides and policies' applications (never its secret)."""
    from credo.management.agents import get_agent

    with _services() as services:
        row = _agent(services, get_agent(services, realm, client_id))
    emit_one(row, as_json=as_json)


@agent_app.command("delete")
def agent_delete(realm: str, client_id: str, as_json: bool = JSON) -> None:
    """Delete an AI agent and its policies; its tokens stop working."""
    from credo.management.agents import delete_agent

    with _services() as services:
        delete_agent(services, realm, client_id, actor="cli")
    done(f"deleted AI agent {client_id} of realm {realm}",
         {"deleted": "agent", "realm": realm, "client_id": client_id}, as_json=as_json)


POLICY_COLUMNS = ("agent_id", "application_id", "subjects", "subject_groups", "permissions")


@policy_app.command("list")
def policy_list(realm: str, agent: str, as_json: bool = JSON) -> None:
    """List the application policies of AGENT."""
    from credo.management.agents import list_policies

    with _services() as services:
        rows = [shapes.policy(p) for p in list_policies(services, realm, agent)]
    emit_list(rows, POLICY_COLUMNS, as_json=as_json, title=f"policies of {agent}")


@policy_app.command("show")
def policy_show(realm: str, agent: str, application: str, as_json: bool = JSON) -> None:
    """Show the policy letting AGENT reach APPLICATION."""
    from credo.management.agents import get_policy

    with _services() as services:
        policy = get_policy(services, realm, agent, application)
    emit_one(shapes.policy(policy), as_json=as_json)


@policy_app.command("delete")
def policy_delete(realm: str, agent: str, application: str, as_json: bool = JSON) -> None:
    """Delete the policy letting AGENT reach APPLICATION."""
    from credo.management.agents import delete_policy

    with _services() as services:
        delete_policy(services, realm, agent, application, actor="cli")
    done(f"deleted the policy of {agent} for {application} in realm {realm}",
         {"deleted": "policy", "realm": realm, "agent_id": agent, "application_id": application}, as_json=as_json)


def audit(realm: str, action: str = typer.Option(None, help="e.g. token_exchange"),
          actor: str = typer.Option(None, help="Client id, admin or service account name."),
          decision: str = typer.Option(None, help="allow, deny or info."),
          limit: int = typer.Option(100, min=1, max=10000), as_json: bool = JSON) -> None:
    """Show a realm's audit events, newest first (`__admin__`: the administration's own)."""
    from credo.management.admins import ADMIN_REALM

    with _services() as services:
        if realm != ADMIN_REALM:
            services.realm(realm)  # an unknown realm is an error, not an empty list
        events = services.storage.audit.query(realm, action=action, actor=actor, decision=decision, limit=limit)
    emit_list([shapes.audit(e) for e in events], ("ts", "action", "actor", "decision", "target", "reason"),
              as_json=as_json, title=f"audit events of {realm}")


def register(app: typer.Typer, command: Callable[..., Any] = audit) -> None:
    """Wire these commands into the main CLI."""
    app.add_typer(user_app, name="user")
    app.add_typer(group_app, name="group")
    app.add_typer(application_app, name="app")
    app.add_typer(agent_app, name="agent")
    app.add_typer(policy_app, name="policy")
    policy_app.command("put")(agent_policy)
    app.command("audit")(command)
