"""How entities look in the admin API (never a secret or a hash)."""

from __future__ import annotations

from typing import Any

from credo.domain.models import ApplicationPolicy, AuditEvent, Client, Group, Realm, Script, User
from credo.management.clients import client_keys
from credo.management.overrides import override_warnings


def realm(r: Realm) -> dict[str, Any]:
    return {"name": r.name, "path": r.path, "created_at": r.created_at}


def client(c: Client, last_used: int | None = None) -> dict[str, Any]:
    return {"client_id": c.client_id, "name": c.name, "kind": c.kind, "is_agent": c.is_agent,
            "dynamic": c.dynamic, "enabled": c.enabled, "grant_types": list(c.grant_types),
            "scopes": list(c.scopes), "auth_method": c.auth_method, "strict_auth_method": c.strict_auth_method,
            "redirect_uris": list(c.redirect_uris),
            "post_logout_redirect_uris": list(c.post_logout_redirect_uris), "resources": list(c.resources),
            "application_type": c.application_type, "skip_consent": c.skip_consent,
            "app_type": c.app_type, "owners": list(c.owners), "attributes": c.attributes,
            "overrides_enabled": c.overrides_enabled, "stateless_tokens": bool(c.stateless_tokens),
            "accept_audience": c.accepts_audience, "dpop_bound_access_tokens": c.dpop_bound,
            "has_secret": c.secret_hash is not None,
            "keys": client_keys(c),
            "client_id_metadata_document": c.metadata.get("client_id_metadata_document") is True,
            "created_at": c.created_at, "updated_at": c.updated_at, "last_used": last_used,
            "warnings": override_warnings(c)}


def with_secret(c: Client, secret: str | None) -> dict[str, Any]:
    return {**client(c), "client_secret": secret}


def user(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "active": u.active, "name": u.name, "email": u.email,
            "created_at": u.created_at}


def group(g: Group) -> dict[str, Any]:
    return {"name": g.name, "members": list(g.members)}


def policy(p: ApplicationPolicy) -> dict[str, Any]:
    return {"agent_id": p.agent_id, "application_id": p.application_id, "subjects": list(p.subjects),
            "subject_groups": list(p.subject_groups), "permissions": list(p.permissions)}


def script(s: Script) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "source": s.source, "description": s.description, "type": s.type,
            "created_at": s.created_at, "updated_at": s.updated_at}


def audit(e: AuditEvent) -> dict[str, Any]:
    return {"id": e.id, "ts": e.ts, "realm": e.realm, "action": e.action, "actor": e.actor,
            "decision": e.decision, "target": e.target, "reason": e.reason, "details": e.details}
