"""private_key_jwt keys and the DPoP binding on the console's application and agent pages: created and
replaced through the forms (a pasted JWK Set or a JWKS URI, the signing algorithm), every refusal shown
at its field in Credo's words with what was typed kept, no secret for such a client, and the client made
there then authenticates with a JWT signed by its key at the token endpoint."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credo.oauth.client_assertion import ASSERTION_TYPE
from tests.factories import Signer
from tests.http.admin_support import console_session, form_fields, submit
from tests.support import InProcessServer, demo_server_the_cli_reaches

REALM = "alpha"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessServer]:
    with demo_server_the_cli_reaches(tmp_path, monkeypatch) as srv:
        yield srv


@pytest.fixture
def console(server: InProcessServer) -> Iterator[Any]:
    http, _ = console_session(server)
    yield http
    http.close()


def token_status(server: InProcessServer, client_id: str, signer: Signer, alg: str | None = None) -> int:
    """A client-credentials request authenticated by a JWT the client signed (RFC 7523 §2.2)."""
    base = server.realm_url(REALM)
    now = int(time.time())
    value = signer.sign({"iss": client_id, "sub": client_id, "aud": base, "exp": now + 60, "jti": uuid.uuid4().hex})
    with server.client() as http:
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_assertion": value,
                                                    "client_assertion_type": ASSERTION_TYPE})
    return int(r.status_code)


def field_error(html: str, name: str) -> str:
    """The error shown at field `name` (empty when none)."""
    found = re.search(rf'<div class="err" id="err-{re.escape(name)}">([^<]*)</div>', html)
    return found.group(1) if found else ""


def csrf(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def stored(server: InProcessServer, client_id: str) -> Any:
    client = server.services.storage.clients.get(REALM, client_id)
    assert client is not None
    return client


NEW = {"applications": "app-form", "agents": "agent-form"}


def create(http: Any, section: str, client_id: str, **fields: Any) -> Any:
    extra: dict[str, Any] = {"grant_types": ["client_credentials"]} if section == "applications" else {}
    return submit(http, f"/admin/r/{REALM}/{section}/new", NEW[section], client_id=client_id,
                  **{"auth_method": "private_key_jwt", **extra, **fields})


@pytest.mark.parametrize("section", ["applications", "agents"])
def test_create_with_a_pasted_set_and_replace_it(server: InProcessServer, console: Any, section: str) -> None:
    signer, other = Signer(kid="first"), Signer(kid="second")
    page = console.get(f"/admin/r/{REALM}/{section}/new")
    assert 'id="client-keys"' in page.text and '<option value="private_key_jwt"' in page.text
    assert '<option value="EdDSA">' in page.text and '<option value="HS256">' not in page.text
    assert 'name="dpop_bound_access_tokens"' in page.text
    r = create(console, section, "pk-client", jwks=json.dumps(signer.jwks), token_endpoint_auth_signing_alg="ES256",
               dpop_bound_access_tokens="on")
    assert r.status_code == 200, r.text[:800]
    assert 'id="client-secret"' not in r.text and "private_key_jwt" in r.text  # the secret-once page: no secret
    client = stored(server, "pk-client")
    assert client.secret_hash is None and client.auth_method == "private_key_jwt" and client.dpop_bound
    assert client.metadata["jwks"] == signer.jwks and client.metadata["token_endpoint_auth_signing_alg"] == "ES256"
    # DPoP-bound: a token request without a proof is refused; unbind it on the edit page, then the key works
    assert token_status(server, "pk-client", signer) == 400
    edit = f"/admin/r/{REALM}/{section}/pk-client" + ("?tab=signon" if section == "applications" else "")
    form_id = "signon-form" if section == "applications" else "access-form"
    page = console.get(edit)
    assert "<code>first</code></td><td>EC</td>" in page.text and 'id="no-secret"' in page.text
    assert 'id="new-secret"' not in page.text
    refused = console.post(f"/admin/r/{REALM}/{section}/pk-client/secret", data={"csrf": csrf(page.text)})
    assert refused.status_code == 400 and "a private_key_jwt client has no secret." in refused.text
    assert stored(server, "pk-client").secret_hash is None
    r = submit(console, edit, form_id, dpop_bound_access_tokens=[])
    assert r.status_code == 303, r.text[:800]
    assert stored(server, "pk-client").metadata["jwks"] == signer.jwks  # blank key fields keep the stored keys
    assert token_status(server, "pk-client", signer) == 200
    # replace the set: the old key stops working, the new one works; the algorithm kept as selected
    r = submit(console, edit, form_id, jwks=json.dumps(other.jwks))
    assert r.status_code == 303, r.text[:800]
    assert "<code>second</code>" in console.get(edit).text
    assert token_status(server, "pk-client", signer) == 401
    assert token_status(server, "pk-client", other) == 200
    assert stored(server, "pk-client").metadata["token_endpoint_auth_signing_alg"] == "ES256"
    # an algorithm its key does not use: every assertion refused; back to any algorithm: accepted again
    assert submit(console, edit, form_id, token_endpoint_auth_signing_alg="RS256").status_code == 303
    assert stored(server, "pk-client").metadata["jwks"] == other.jwks
    assert token_status(server, "pk-client", other) == 401
    assert submit(console, edit, form_id, token_endpoint_auth_signing_alg="").status_code == 303
    assert "token_endpoint_auth_signing_alg" not in stored(server, "pk-client").metadata
    assert token_status(server, "pk-client", other) == 200


@pytest.mark.parametrize("section", ["applications", "agents"])
def test_a_jwks_uri_is_stored_and_shown(server: InProcessServer, console: Any, section: str) -> None:
    r = create(console, section, "uri-client", jwks_uri="https://keys.example/jwks.json")
    assert r.status_code == 200, r.text[:800]
    client = stored(server, "uri-client")
    assert client.metadata["jwks_uri"] == "https://keys.example/jwks.json" and "jwks" not in client.metadata
    assert client.secret_hash is None
    edit = f"/admin/r/{REALM}/{section}/uri-client" + ("?tab=signon" if section == "applications" else "")
    form_id = "signon-form" if section == "applications" else "access-form"
    page = console.get(edit)
    assert '<code id="stored-jwks-uri">https://keys.example/jwks.json</code>' in page.text
    # replace the URI by an inline set
    signer = Signer()
    assert submit(console, edit, form_id, jwks=json.dumps(signer.jwks)).status_code == 303
    client = stored(server, "uri-client")
    assert client.metadata["jwks"] == signer.jwks and "jwks_uri" not in client.metadata
    assert token_status(server, "uri-client", signer) == 200


PRIVATE = Signer().jwks["keys"][0] | {"d": "c2VjcmV0"}
REFUSALS = [
    ({"jwks": "{not json"}, "jwks", "not valid JSON"),
    ({"jwks": json.dumps({"keys": [PRIVATE]})}, "jwks", "private key material is not allowed."),
    ({"jwks": json.dumps({"keys": []})}, "jwks", "must be a JWK Set object with a non-empty 'keys' array."),
    ({"jwks": json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})}, "jwks",
     "only RSA, EC and OKP public keys are allowed."),
    ({"jwks": json.dumps(Signer().jwks), "jwks_uri": "https://keys.example/jwks.json"}, "jwks",
     "'jwks' and 'jwks_uri' cannot both be given."),
    ({"jwks_uri": "http://keys.example/jwks.json"}, "jwks_uri", "must be an absolute https URL."),
    ({}, "auth_method", "'private_key_jwt' needs the client's public keys in 'jwks' or 'jwks_uri'."),
    ({"jwks": json.dumps(Signer().jwks), "secret": "a-typed-secret-of-24-chars"}, "secret",
     "a private_key_jwt client has no secret."),
    ({"jwks": json.dumps(Signer().jwks), "token_endpoint_auth_signing_alg": "HS256"},
     "token_endpoint_auth_signing_alg", "must be one of "),
]


@pytest.mark.parametrize("section", ["applications", "agents"])
def test_every_refusal_at_its_field_on_the_new_page(server: InProcessServer, console: Any, section: str) -> None:
    path = f"/admin/r/{REALM}/{section}/new"
    fields = form_fields(console.get(path).text, NEW[section])
    for number, (typed, field, message) in enumerate(REFUSALS):
        client_id = f"refused-{number}"
        body = {**fields, "client_id": [client_id], "auth_method": ["private_key_jwt"],
                "grant_types": ["client_credentials"], **{k: [v] for k, v in typed.items()}}
        r = console.post(path, data=body)
        assert r.status_code == 400, (typed, r.text[:600])
        shown = field_error(r.text, field)
        assert message in shown.replace("&#39;", "'"), (typed, field, shown, r.text[:2000])
        assert server.services.storage.clients.get(REALM, client_id) is None
        if "jwks_uri" in typed:
            assert f'value="{typed["jwks_uri"]}"' in r.text  # what was typed is kept
    # the key fields are ignored for another method: a secret client, its secret shown once
    r = create(console, section, "secret-client", auth_method="client_secret_post", jwks="{not json")
    assert r.status_code == 200 and 'id="client-secret"' in r.text
    assert "jwks" not in stored(server, "secret-client").metadata


@pytest.mark.parametrize("section", ["applications", "agents"])
def test_every_refusal_at_its_field_on_the_edit_page(server: InProcessServer, console: Any, section: str) -> None:
    signer = Signer(kid="kept")
    assert create(console, section, "edited", jwks=json.dumps(signer.jwks)).status_code == 200
    edit = f"/admin/r/{REALM}/{section}/edited" + ("?tab=signon" if section == "applications" else "")
    form_id = "signon-form" if section == "applications" else "access-form"
    for typed, field, message in REFUSALS:
        if field in ("secret", "auth_method"):
            continue  # no secret field on the edit page; an empty form keeps the stored keys
        r = submit(console, edit, form_id, **typed)
        assert r.status_code == 400, (typed, r.text[:600])
        assert message in field_error(r.text, field).replace("&#39;", "'"), (typed, field, r.text[:2000])
        assert stored(server, "edited").metadata["jwks"] == signer.jwks  # nothing changed
    assert token_status(server, "edited", signer) == 200
    # a secret client switched to private_key_jwt must be given keys, and then loses its secret
    assert create(console, section, "switched", auth_method="client_secret_post").status_code == 200
    edit = f"/admin/r/{REALM}/{section}/switched" + ("?tab=signon" if section == "applications" else "")
    assert 'id="no-stored-keys"' in console.get(edit).text
    r = submit(console, edit, form_id, auth_method="private_key_jwt")
    assert r.status_code == 400
    assert "needs the client's public keys" in field_error(r.text, "auth_method").replace("&#39;", "'")
    assert stored(server, "switched").secret_hash is not None
    assert submit(console, edit, form_id, auth_method="private_key_jwt",
                  jwks=json.dumps(signer.jwks)).status_code == 303
    assert stored(server, "switched").secret_hash is None
    assert token_status(server, "switched", signer) == 200
