"""In a real browser: an AI agent created with private_key_jwt and a pasted JWK Set through the console's
form (the key fields appear when that method is chosen), then a token request signed with its key."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from credo.oauth.client_assertion import ASSERTION_TYPE
from tests.console.conftest import Console
from tests.factories import Signer

pytestmark = pytest.mark.browser


def test_agent_with_a_pasted_jwk_set(console: Console) -> None:
    c = console
    signer = Signer(kid="browser-key")
    c.go("/admin/r/root/agents/new")
    assert not c.page.is_visible("#client-keys")  # shown only for private_key_jwt
    c.page.fill("#f-name", "Keyed Agent")
    c.page.fill("#f-client_id", "keyed-agent")
    c.page.select_option("#f-auth_method", "private_key_jwt")
    assert c.page.is_visible("#client-keys")
    c.page.fill("#f-jwks", json.dumps(signer.jwks, indent=2))
    c.page.select_option("#f-token_endpoint_auth_signing_alg", "ES256")
    c.shot("20-agent-private-key-jwt")
    c.page.click("text=Create AI Agent")
    assert "private_key_jwt" in c.page.inner_text("#no-secret")
    assert c.page.query_selector("#client-secret") is None
    c.shot("21-agent-no-secret")
    c.page.click("#continue")
    c.page.click("text=Show Advanced Settings")
    assert "browser-key" in c.page.inner_text("#stored-jwks")
    assert c.page.is_visible("#client-keys") and c.page.query_selector("#new-secret") is None
    agent = c.server.services.storage.clients.get("root", "keyed-agent")
    assert agent is not None and agent.secret_hash is None
    assert agent.metadata["jwks"] == signer.jwks and agent.metadata["token_endpoint_auth_signing_alg"] == "ES256"
    base = c.server.realm_url("root")
    now = int(time.time())
    value = signer.sign({"iss": "keyed-agent", "sub": "keyed-agent", "aud": base, "exp": now + 60,
                         "jti": uuid.uuid4().hex})
    with c.server.client() as http:
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_assertion": value,
                                                    "client_assertion_type": ASSERTION_TYPE})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"].lower() == "bearer"
