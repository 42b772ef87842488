"""The OpenAPI 3.1 description of the admin API (served at /admin/api/openapi.json)."""

from __future__ import annotations

from typing import Any

from credo.domain.settings import ProviderSettings

STR = {"type": "string"}
STRS = {"type": "array", "items": STR}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
NINT = {"type": ["integer", "null"]}
NSTR = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), extra: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if not extra:
        schema["additionalProperties"] = False
    return schema


URIS = {"type": "array", "items": {"type": "string", "format": "uri", "maxLength": 2048}, "maxItems": 100}
APPLICATION_TYPE = {"enum": ["web", "native"], "description": "OpenID Connect client type of browser sign-in."}
# The browser sign-in fields of an application (see management/client_signin.py for their rules).
SIGNIN = {
    "redirect_uris": {**URIS, "description": "Where the authorization code flow may return: absolute https URLs, "
                                             "http only on a loopback host, no fragment (a native application may "
                                             "also use a private-use scheme such as com.example.app:/cb)."},
    "post_logout_redirect_uris": {**URIS, "description": "Where RP-initiated logout may return (same rules)."},
    "resources": {**URIS, "description": "RFC 8707 resource identifiers this application answers to as a resource "
                                         "server (e.g. an MCP server's URL): absolute https URLs (http only on "
                                         "loopback), no fragment; each belongs to one client of the realm."},
    "application_type": APPLICATION_TYPE,
    "skip_consent": {"type": "boolean", "description": "A first-party application: no consent page."},
}
STRICT = {"type": "boolean", "description": "Pin auth_method: a client with a secret then accepts only that method "
                                         "(by default client_secret_basic and client_secret_post alike)."}
DPOP = {"type": "boolean", "description": "RFC 9449 §5.2 dpop_bound_access_tokens: every token request of the "
                                       "client needs a DPoP proof (its tokens are bound to the proof's key)."}
KEYS = {"type": "object", "description": "private_key_jwt (RFC 7523 §2.2): the client's public keys, `jwks` (a JWK "
                                        "Set) or `jwks_uri` (https), and optionally `token_endpoint_auth_signing_alg` "
                                        "(one asymmetric algorithm). Required with auth_method private_key_jwt; such a "
                                        "client has no secret.",
        "properties": {"jwks": {"type": "object"}, "jwks_uri": {"type": "string", "format": "uri"},
                       "token_endpoint_auth_signing_alg": {"type": "string"}}, "additionalProperties": False}
CLIENT = _obj({
    "client_id": STR, "name": STR, "kind": {"enum": ["client", "application", "agent"]}, "is_agent": BOOL,
    "dynamic": BOOL, "enabled": BOOL, "grant_types": STRS, "scopes": STRS, "auth_method": STR,
    "strict_auth_method": STRICT,
    "redirect_uris": STRS, "post_logout_redirect_uris": STRS, "resources": STRS, "application_type": STR,
    "skip_consent": BOOL, "app_type": NSTR, "owners": STRS,
    "attributes": {"type": "object", "additionalProperties": STRS},
    "overrides_enabled": BOOL, "stateless_tokens": BOOL, "accept_audience": BOOL, "dpop_bound_access_tokens": DPOP,
    "has_secret": BOOL,
    "keys": KEYS, "client_id_metadata_document": {"type": "boolean", "description": "A client known by its "
                                                  "Client ID Metadata Document URL (its client_id)."},
    "created_at": INT, "updated_at": INT, "last_used": NINT,
    "warnings": {**STRS, "description": "Settings of the client that do nothing (provider overrides while "
                                        "overrides_enabled is off), one sentence each."},
}, ("client_id", "kind", "is_agent", "dynamic", "grant_types", "scopes", "auth_method", "created_at"))

PROFILE = {"name": {"type": "string", "maxLength": 255, "description": "Display name (the `name` claim); empty "
                                                                         "clears it."},
           "email": {"type": "string", "maxLength": 255, "description": "Email address (the `email` claim): one @ "
                                                                         "between a name and a domain; empty clears it."}}

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": STR, "error_description": STR, "field": STR}, ("error", "error_description")),
    "TokenRequest": {"oneOf": [
        _obj({"username": STR, "password": STR}, ("username", "password"), extra=False),
        _obj({"grant_type": {"const": "client_credentials"}, "client_id": STR, "client_secret": STR,
              "scope": {**STR, "description": "admin:read and/or admin:write, within the account's (default: all "
                                              "of them)."}}, ("grant_type",), extra=False)]},
    "TokenResponse": _obj({"access_token": STR, "token_type": {"const": "Bearer"}, "expires_in": INT, "scope": STR},
                          ("access_token", "token_type", "expires_in")),
    "ServiceAccount": _obj({"name": STR, "description": STR, "access": {"enum": ["read", "write"]}, "scopes": STRS,
                            "realms": {**STRS, "description": "The realms it may touch (and create); '*': every realm."},
                            "enabled": BOOL, "created_at": INT, "updated_at": INT},
                           ("name", "access", "scopes", "realms", "enabled", "created_at")),
    "ServiceAccountWithSecret": _obj({"name": STR, "description": STR, "access": STR, "scopes": STRS, "realms": STRS,
                                      "enabled": BOOL, "created_at": INT, "updated_at": INT, "client_id": STR,
                                      "client_secret": STR}, ("name", "client_id", "client_secret")),
    "ServiceAccountCreate": _obj({"name": {**STR, "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                                  "access": {"enum": ["read", "write"], "description": "read: admin:read (every "
                                             "GET); write: admin:read and admin:write. Default: read."},
                                  "realms": {**STRS, "minItems": 1}, "description": STR}, ("name", "realms"),
                                 extra=False),
    "ServiceAccountChange": _obj({"access": {"enum": ["read", "write"]}, "realms": {**STRS, "minItems": 1},
                                  "enabled": BOOL, "description": STR}, extra=False),
    "AdminToken": _obj({"id": STR, "kind": {"enum": ["access_token", "session"]}, "holder": STR,
                        "holder_kind": {"enum": ["admin", "service_account"]}, "scopes": STRS, "issued_at": INT,
                        "expires_at": INT}, ("id", "kind", "holder", "holder_kind", "issued_at", "expires_at")),
    "Realm": _obj({"name": STR, "path": STR, "created_at": INT}, ("name", "path", "created_at")),
    "RealmCreate": _obj({"name": STR, "settings": {"type": "object"}}, ("name",)),
    "ProviderSettings": ProviderSettings.model_json_schema(ref_template="#/components/schemas/{model}"),
    "Client": CLIENT,
    "ClientWithSecret": {"allOf": [CLIENT, _obj({"client_secret": NSTR}, ("client_secret",))]},
    "ApplicationCreate": _obj({"client_id": STR, "name": STR, "app_type": {"enum": ["web", "service"]},
                               "secret": STR, "grant_types": STRS, "scopes": STRS, "auth_method": STR,
                               "strict_auth_method": STRICT, "owners": STRS, "dpop_bound_access_tokens": DPOP,
                               "keys": KEYS, **SIGNIN}, ("client_id",), extra=False),
    "ApplicationChange": _obj({"name": STR, "grant_types": STRS, "scopes": STRS, "auth_method": STR,
                               "strict_auth_method": STRICT, "owners": STRS, "enabled": BOOL,
                               "dpop_bound_access_tokens": DPOP, "keys": KEYS, **SIGNIN}, extra=False),
    "AgentCreate": _obj({"client_id": STR, "name": STR, "secret": STR, "grant_types": STRS, "scopes": STRS,
                         "auth_method": STR, "strict_auth_method": STRICT, "overrides_enabled": BOOL,
                         "stateless_tokens": BOOL, "accept_audience": BOOL, "dpop_bound_access_tokens": DPOP,
                         "keys": KEYS}, ("client_id",), extra=False),
    "AgentChange": _obj({"name": STR, "grant_types": STRS, "scopes": STRS, "auth_method": STR,
                         "strict_auth_method": STRICT, "enabled": BOOL, "overrides_enabled": BOOL,
                         "stateless_tokens": BOOL, "accept_audience": BOOL, "dpop_bound_access_tokens": DPOP,
                         "keys": KEYS}, extra=False),
    "ConfigDocument": _obj({"version": {"const": 1}, "realm": STR, "settings": {"type": "object"},
                            "scripts": {"type": "array", "items": {"type": "object"}},
                            "applications": {"type": "array", "items": {"type": "object"}},
                            "agents": {"type": "array", "items": {"type": "object"}},
                            "users": {"type": "array", "items": {"type": "object"}},
                            "groups": {"type": "array", "items": {"type": "object"}}}),
    "ImportCounts": {"type": "object", "additionalProperties": INT,
                     "properties": {"warnings": {**STRS, "description": "Present when the document set something "
                                                 "that does nothing (provider overrides while overrides are off)."}},
                     "description": "How many entries of each kind were created or changed (0: already matching)."},
    "NewSecret": _obj({"secret": {"type": "string", "minLength": 16}}, extra=False),
    "Policy": _obj({"agent_id": STR, "application_id": STR, "subjects": STRS, "subject_groups": STRS,
                    "permissions": STRS}, ("agent_id", "application_id", "subjects", "subject_groups", "permissions")),
    "PolicyPut": _obj({"subjects": STRS, "subject_groups": STRS, "permissions": STRS}, extra=False),
    "User": _obj({"id": STR, "username": STR, "active": BOOL, "name": STR, "email": STR, "created_at": INT},
                 ("id", "username", "active")),
    "UserCreate": _obj({"username": STR, "password": STR, "active": BOOL, **PROFILE}, ("username", "password"),
                       extra=False),
    "UserChange": _obj({"password": STR, "active": BOOL, **PROFILE}, extra=False),
    "Group": _obj({"name": STR, "members": STRS}, ("name", "members")),
    "GroupPut": _obj({"members": STRS}, extra=False),
    "Script": _obj({"id": STR, "name": STR, "source": STR, "description": STR, "type": STR, "created_at": INT,
                    "updated_at": INT}, ("id", "name", "source")),
    "ScriptCreate": _obj({"name": STR, "source": STR, "description": STR}, ("name", "source"), extra=False),
    "ScriptChange": _obj({"name": STR, "source": STR, "description": STR}, extra=False),
    "ScriptTest": _obj({"source": STR, "operation": {"enum": ["CREATE", "UPDATE", "DELETE"]}, "is_ai_agent": BOOL,
                        "attributes": {"type": "object"}, "metadata": {"type": "object"}}, ("source",), extra=False),
    "ScriptTestResult": _obj({"ok": BOOL, "stored": BOOL, "attributes": {"type": "object"}, "logs": STRS,
                              "error": STR, "message": STR}, ("ok",)),
    "SigningKey": _obj({"kid": STR, "alg": STR, "active": BOOL, "created_at": INT, "publish_until": NINT,
                        "public_jwk": _obj({"kty": STR, "kid": STR}, ("kty", "kid"))},
                       ("kid", "alg", "active", "public_jwk")),
    "KeyRotate": _obj({"alg": {"enum": ["ES256", "RS256"]}}, extra=False),
    "AuditEvent": _obj({"id": NINT, "ts": INT, "realm": STR, "action": STR, "actor": STR,
                        "decision": {"enum": ["allow", "deny", "info"]}, "target": STR, "reason": STR,
                        "details": {"type": "object"}}, ("ts", "realm", "action", "actor", "decision")),
}


def _move_defs(schemas: dict[str, Any]) -> None:
    defs = schemas["ProviderSettings"].pop("$defs", {})
    schemas.update(defs)


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _json(schema: dict[str, Any], text: str = "OK") -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": schema}}}


ERRORS = {code: {"$ref": f"#/components/responses/{name}"} for code, name in
          (("400", "BadRequest"), ("401", "Unauthorized"), ("403", "Forbidden"), ("404", "NotFound"))}


def _op(op_id: str, summary: str, ok: str, schema: dict[str, Any] | None, body: str | None = None,
        params: tuple[str, ...] = (), query: tuple[str, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "responses": {**ERRORS}}
    op["responses"][ok] = _json(schema) if schema is not None else {"description": "Done"}
    if body:
        op["requestBody"] = _body(body)
        op["responses"]["415"] = {"$ref": "#/components/responses/UnsupportedMediaType"}
    parameters = [{"name": p, "in": "path", "required": True, "schema": STR} for p in params]
    parameters += [{"name": q, "in": "query", "required": False, "schema": STR} for q in query]
    if parameters:
        op["parameters"] = parameters
    return op


def _patch_settings() -> dict[str, Any]:
    op = _op("patchSettings", "Change provider settings (JSON merge patch)", "200", _ref("ProviderSettings"),
             "ProviderSettings", params=("realm",))
    op["description"] = ("A JSON merge patch (RFC 7396): only the members given change, also inside objects "
                         "(`protection`, `scope_descriptions`); a null member resets that setting to its default "
                         "(or removes that scope description); arrays are replaced as a whole. Concurrent "
                         "patches all apply. With `If-Match` (the `ETag` of a GET or PATCH answer), the patch "
                         "applies only if the settings are still those: 412 otherwise.")
    op["parameters"].append({"name": "If-Match", "in": "header", "required": False, "schema": STR})
    op["responses"]["412"] = {"$ref": "#/components/responses/PreconditionFailed"}
    op["responses"]["409"] = {"$ref": "#/components/responses/Conflict"}
    return op


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _paths() -> dict[str, Any]:
    R, rp = "/realms/{realm}", ("realm",)  # noqa: N806
    cp, ap = ("realm", "client_id"), ("realm", "client_id", "application_id")
    token = _op("getAdminToken", "Sign in: an administrator's username and password, or a service account's "
                "client credentials", "200", _ref("TokenResponse"), "TokenRequest")
    token["description"] = (
        "An administrator sends JSON `{username, password}` and gets a one-hour token. A service account uses "
        "the client credentials grant (RFC 6749 §4.4): `grant_type=client_credentials` as a form "
        "(application/x-www-form-urlencoded) or JSON, authenticating with HTTP Basic (client_secret_basic) or "
        "client_id and client_secret in the body; it gets a 15-minute token with its scopes (admin:read, "
        "admin:write), limited to its realms.")
    token["requestBody"]["content"]["application/x-www-form-urlencoded"] = {"schema": _ref("TokenRequest")}
    token["security"] = []
    token["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
    token["responses"]["429"] = {"$ref": "#/components/responses/TooManyRequests"}
    sa, np = "/service-accounts/{name}", ("name",)
    return {
        "/token": {"post": token},
        "/service-accounts": {
            "get": _op("listServiceAccounts", "List service accounts (administrators only)", "200",
                       _list("ServiceAccount")),
            "post": _op("createServiceAccount", "Create a service account (its secret shown once)", "201",
                        _ref("ServiceAccountWithSecret"), "ServiceAccountCreate")},
        sa: {"get": _op("getServiceAccount", "One service account", "200", _ref("ServiceAccount"), params=np),
             "patch": _op("updateServiceAccount", "Change its access, realms or state (its tokens follow at once)",
                          "200", _ref("ServiceAccount"), "ServiceAccountChange", params=np),
             "delete": _op("deleteServiceAccount", "Delete a service account and revoke its tokens", "204", None,
                           params=np)},
        f"{sa}/secret": {"post": _op("newServiceAccountSecret", "Generate a new secret (returned once)", "200",
                                     _ref("ServiceAccountWithSecret"), params=np)},
        "/tokens": {"get": _op("listAdminTokens", "Unexpired admin API tokens and console sessions (never their "
                               "values)", "200", _list("AdminToken"))},
        "/tokens/{token_id}": {"delete": _op("revokeAdminToken", "Revoke an admin API token or console session",
                                             "204", None, params=("token_id",))},
        "/realms": {"get": _op("listRealms", "List realms", "200", _list("Realm")),
                    "post": _op("createRealm", "Create a realm", "201", _ref("Realm"), "RealmCreate")},
        R: {"delete": _op("deleteRealm", "Delete a realm", "204", None, params=rp)},
        f"{R}/settings": {
            "get": _op("getSettings", "The realm's OAuth2 provider settings", "200", _ref("ProviderSettings"), params=rp),
            "patch": _patch_settings()},
        f"{R}/config": {
            "get": _op("exportConfig", "The realm's declarative configuration (secrets only as hashes)", "200",
                       _ref("ConfigDocument"), params=rp),
            "put": _op("importConfig", "Make the realm match a configuration document (idempotent)", "200",
                       _ref("ImportCounts"), "ConfigDocument", params=rp)},
        f"{R}/keys": {"get": _op("listKeys", "Signing keys (public parts)", "200", _list("SigningKey"), params=rp)},
        f"{R}/keys/rotate": {"post": _op("rotateKey", "Add a new active signing key", "201", _ref("SigningKey"),
                                         "KeyRotate", params=rp)},
        f"{R}/audit": {"get": _op("auditLog", "Audit events, newest first; `before` (the id of the last event of a page) pages back", "200", _list("AuditEvent"), params=rp,
                                  query=("action", "actor", "target", "decision", "text", "limit", "before"))},
        f"{R}/applications": {
            "get": _op("listApplications", "List applications", "200", _list("Client"), params=rp),
            "post": _op("createApplication", "Create an application (secret shown once)", "201",
                        _ref("ClientWithSecret"), "ApplicationCreate", params=rp)},
        f"{R}/applications/{{client_id}}": {
            "get": _op("getApplication", "One application", "200", _ref("Client"), params=cp),
            "patch": _op("updateApplication", "Change an application", "200", _ref("Client"), "ApplicationChange",
                         params=cp),
            "delete": _op("deleteApplication", "Delete an application", "204", None, params=cp)},
        f"{R}/applications/{{client_id}}/secret": {
            "post": _op("newApplicationSecret", "Set or generate a new client secret (returned once)", "200",
                        _ref("ClientWithSecret"), "NewSecret", params=cp)},
        f"{R}/agents/{{client_id}}/secret": {
            "post": _op("newAgentSecret", "Set or generate a new client secret (returned once)", "200",
                        _ref("ClientWithSecret"), "NewSecret", params=cp)},
        f"{R}/agents": {
            "get": _op("listAgents", "List AI agents (including dynamically registered)", "200", _list("Client"),
                       params=rp),
            "post": _op("createAgent", "Create an AI agent (secret shown once)", "201", _ref("ClientWithSecret"),
                        "AgentCreate", params=rp)},
        f"{R}/agents/{{client_id}}": {
            "get": _op("getAgent", "One AI agent", "200", _ref("Client"), params=cp),
            "patch": _op("updateAgent", "Change an AI agent", "200", _ref("Client"), "AgentChange", params=cp),
            "delete": _op("deleteAgent", "Delete an AI agent", "204", None, params=cp)},
        f"{R}/agents/{{client_id}}/policies": {
            "get": _op("listPolicies", "The agent's application policies", "200", _list("Policy"), params=cp)},
        f"{R}/agents/{{client_id}}/policies/{{application_id}}": {
            "put": _op("putPolicy", "Create or replace an application policy", "200", _ref("Policy"), "PolicyPut",
                       params=ap),
            "delete": _op("deletePolicy", "Delete an application policy", "204", None, params=ap)},
        f"{R}/dynamic-clients": {
            "get": _op("listDynamicClients", "Dynamically registered clients", "200", _list("Client"), params=rp)},
        f"{R}/dynamic-clients/{{client_id}}": {
            "delete": _op("deleteDynamicClient", "Delete a dynamic client", "204", None, params=cp)},
        f"{R}/users": {"get": _op("listUsers", "List users", "200", _list("User"), params=rp),
                       "post": _op("createUser", "Create a user", "201", _ref("User"), "UserCreate", params=rp)},
        f"{R}/users/{{user_id}}": {
            "get": _op("getUser", "One user", "200", _ref("User"), params=("realm", "user_id")),
            "patch": _op("updateUser", "Change a user", "200", _ref("User"), "UserChange", params=("realm", "user_id")),
            "delete": _op("deleteUser", "Delete a user", "204", None, params=("realm", "user_id"))},
        f"{R}/groups": {"get": _op("listGroups", "List groups", "200", _list("Group"), params=rp)},
        f"{R}/groups/{{name}}": {
            "put": _op("putGroup", "Create or replace a group", "200", _ref("Group"), "GroupPut", params=("realm", "name")),
            "delete": _op("deleteGroup", "Delete a group", "204", None, params=("realm", "name"))},
        f"{R}/scripts": {"get": _op("listScripts", "List DCR scripts", "200", _list("Script"), params=rp),
                         "post": _op("createScript", "Create a DCR script", "201", _ref("Script"), "ScriptCreate",
                                     params=rp)},
        f"{R}/scripts/test": {"post": _op("testScript", "Run a script against a sample client", "200",
                                          _ref("ScriptTestResult"), "ScriptTest", params=rp)},
        f"{R}/scripts/{{script_id}}": {
            "get": _op("getScript", "One script", "200", _ref("Script"), params=("realm", "script_id")),
            "patch": _op("updateScript", "Change a script", "200", _ref("Script"), "ScriptChange",
                         params=("realm", "script_id")),
            "delete": _op("deleteScript", "Delete a script", "204", None, params=("realm", "script_id"))},
    }


def document() -> dict[str, Any]:
    schemas = {k: v for k, v in SCHEMAS.items()}
    schemas["ProviderSettings"] = dict(schemas["ProviderSettings"])
    _move_defs(schemas)
    err = {"description": "Error", "content": {"application/json": {"schema": _ref("Error")}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Credo admin API", "version": "1.0.0",
                 "description": "Manage realms, provider settings, scripts, applications, AI agents, users, "
                                "groups, dynamic clients, signing keys and the audit log. Every change is audited "
                                "under the name of who made it: an administrator or a service account. A service "
                                "account's token carries admin:read (every GET) and possibly admin:write (every "
                                "change), and reaches only its realms: anything else is 403 (insufficient_scope, "
                                "or access_denied naming the realm). Service accounts and admin tokens are "
                                "managed by administrators only."},
        "servers": [{"url": "/admin/api"}],
        "security": [{"adminToken": []}],
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "responses": {"BadRequest": err, "Unauthorized": err, "Forbidden": err, "NotFound": err,
                          "TooManyRequests": err,
                          "PreconditionFailed": {**err, "description": "If-Match names an ETag the resource no "
                                                                       "longer has (error precondition_failed)"},
                          "Conflict": {**err, "description": "Changed concurrently too often; retry (error conflict)"},
                          "UnsupportedMediaType": {**err, "description": "The request body is not application/json "
                                                                         "(error invalid_request, field body)"}},
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer",
                                               "description": "A token from POST /admin/api/token (an administrator's: 1 "
                                                              "hour; a service account's: 15 minutes)."}},
        },
    }
