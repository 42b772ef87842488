"""Declarative configuration: export a realm to a document; `import_document` makes a realm match one.

The document schema is described in docs/config-schema.md. Secrets never leave in clear: clients
export `secret_hash`, users `password_hash`.
"""

from __future__ import annotations

from typing import Any

from credo.domain.models import Client
from credo.management import realms, usecases
from credo.management.clients import client_keys
from credo.management.config_import import FORMAT_VERSION, import_document, import_warnings
from credo.oauth.services import Services

__all__ = ["export_realm", "import_document", "import_warnings"]


def export_realm(services: Services, realm: str) -> dict[str, Any]:
    r = realms.get_realm(services, realm)
    users = usecases.list_users(services, realm)
    names = {u.id: u.username for u in users}
    scripts = usecases.list_scripts(services, realm)
    settings = r.settings.model_dump(mode="json")
    script_names = {s.id: s.name for s in scripts}
    if settings.get("dcr_script") in script_names:
        settings["dcr_script"] = script_names[settings["dcr_script"]]
    return {
        "version": FORMAT_VERSION,
        "realm": realm,
        "settings": settings,
        "scripts": [{"name": s.name, "description": s.description, "source": s.source} for s in scripts],
        "applications": [_client_doc(c) for c in usecases.list_applications(services, realm) if not c.dynamic],
        "agents": [{**_client_doc(c), "policies": [
            {"application": p.application_id, "subjects": [names.get(s, s) for s in p.subjects],
             "subject_groups": list(p.subject_groups), "permissions": list(p.permissions)}
            for p in usecases.list_policies(services, realm, c.client_id)]}
            for c in usecases.list_agents(services, realm) if not c.dynamic],
        "users": [{"username": u.username, "id": u.id, "active": u.active, "name": u.name, "email": u.email,
                   "password_hash": u.password_hash} for u in sorted(users, key=lambda u: u.username)],
        "groups": [{"name": g.name, "members": sorted(names.get(m, m) for m in g.members)}
                   for g in usecases.list_groups(services, realm)],
    }


def _client_doc(c: Client) -> dict[str, Any]:
    doc: dict[str, Any] = {"client_id": c.client_id, "name": c.name, "grant_types": list(c.grant_types),
                           "scopes": list(c.scopes), "auth_method": c.auth_method, "enabled": c.enabled,
                           "attributes": {k: list(v) for k, v in sorted(c.attributes.items())},
                           "secret_hash": c.secret_hash}
    if client_keys(c):
        doc["keys"] = client_keys(c)
    if c.kind == "application":
        doc.update(app_type=c.app_type, owners=list(c.owners), application_type=c.application_type,
                   redirect_uris=list(c.redirect_uris), post_logout_redirect_uris=list(c.post_logout_redirect_uris),
                   resources=list(c.resources), skip_consent=c.skip_consent)
    if c.dpop_bound:
        doc["dpop_bound_access_tokens"] = True
    return doc
