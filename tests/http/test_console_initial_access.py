"""The console's initial access token page through the ASGI app: it lists the realm's tokens, issues one
for an onboarding client (shown once, stored only as a keyed hash, audited with the administrator), the
token registers exactly one client while open registration is off, a revoked one is refused; the page's
forms need the session's CSRF token and refuse a client that could not obtain such a token itself."""

from __future__ import annotations

import pytest

from credo.management.applications import create_application
from credo.management.initial_access import list_initial_access_tokens
from tests.factories import SEED_BODY, realm_settings
from tests.http.admin_support import console_session
from tests.support import Server

pytestmark = pytest.mark.usefixtures("demo")  # the demo realms alpha and bravo
PAGE = "/admin/r/alpha/initial-access"


def _onboarding(server: Server) -> None:
    create_application(server.services, "alpha", "onboarding", name="Onboarding", scopes=("dcr_register",))
    create_application(server.services, "alpha", "plain-service", name="Plain", scopes=("read",))
    create_application(server.services, "alpha", "bound-service", name="Bound", scopes=("dcr_register",),
                       dpop_bound_access_tokens=True)
    realm_settings(server.services, "alpha", allow_open_registration=False)


def _issued(text: str) -> str:
    return text.split('<div class="secret" id="iat-value">', 1)[1].split("</div>", 1)[0]


def test_an_issued_token_registers_one_client_and_a_revoked_one_none(server: Server) -> None:
    _onboarding(server)
    console, csrf = console_session(server)
    page = console.get(PAGE)
    assert page.status_code == 200 and 'id="issue-form"' in page.text and 'href="/admin/r/alpha/initial-access"' in page.text
    assert '<option value="onboarding"' in page.text  # only clients that could obtain one themselves:
    assert "plain-service" not in page.text and "bound-service" not in page.text
    issued = console.post(PAGE, data={"csrf": csrf, "client_id": "onboarding", "lifetime": "604800", "note": "acme"})
    assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
    value = _issued(issued.text)
    assert 'data-copy="iat-value"' in issued.text and " hidden>" in issued.text.split('data-copy="iat-value"')[1][:80]
    [row] = list_initial_access_tokens(server.services, "alpha")
    assert row["client_id"] == "onboarding" and row["used"] is False
    assert row["expires_at"] - row["issued_at"] == 604800  # the chosen lifetime, not the realm's token lifetime
    assert value not in console.get(PAGE).text  # shown once: the list never shows a value
    [event] = server.services.storage.audit.query("alpha", action="initial_access_token.issue")
    assert (event.actor, event.target, event.details["id"], event.details["note"]) == (
        "root-admin", "onboarding", row["id"], "acme")
    assert value not in str(event.details)
    with server.client() as http:
        register = f"{server.realm_url('alpha')}/register"
        assert http.post(register, json=SEED_BODY).status_code == 401  # open registration is off
        first = http.post(register, json=SEED_BODY, headers={"Authorization": f"Bearer {value}"})
        assert first.status_code == 201, first.text
        again = http.post(register, json=SEED_BODY, headers={"Authorization": f"Bearer {value}"})
        assert again.status_code == 401  # used up
    assert list_initial_access_tokens(server.services, "alpha")[0]["used"] is True
    other = _issued(console.post(PAGE, data={"csrf": csrf, "client_id": "onboarding", "lifetime": "86400"}).text)
    other_id = next(r["id"] for r in list_initial_access_tokens(server.services, "alpha") if not r["used"])
    revoked = console.post(f"{PAGE}/{other_id}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303 and "revoked" in revoked.headers["location"]
    assert [e.actor for e in server.services.storage.audit.query("alpha", action="initial_access_token.revoke")] == [
        "root-admin"]
    with server.client() as http:
        refused = http.post(f"{server.realm_url('alpha')}/register", json=SEED_BODY,
                            headers={"Authorization": f"Bearer {other}"})
        assert refused.status_code == 401


def test_the_page_refuses_without_csrf_and_for_a_client_that_could_not_obtain_one(server: Server) -> None:
    _onboarding(server)
    console, csrf = console_session(server)
    forged = console.post(PAGE, data={"client_id": "onboarding", "lifetime": "3600"})
    assert forged.status_code == 403
    assert list_initial_access_tokens(server.services, "alpha") == []
    for client_id, lifetime, field in [("plain-service", "3600", "client_id"), ("nobody", "3600", "client_id"),
                                       ("bound-service", "3600", "client_id"),
                                       ("onboarding", "10", "lifetime"), ("onboarding", "soon", "lifetime")]:
        refused = console.post(PAGE, data={"csrf": csrf, "client_id": client_id, "lifetime": lifetime})
        assert refused.status_code == 400 and f'id="err-{field}"' in refused.text, (client_id, lifetime)
        assert 'id="iat-value"' not in refused.text
    assert list_initial_access_tokens(server.services, "alpha") == []
    realm_settings(server.services, "alpha", token_format="stateless")  # a JWT would be neither stored nor listed
    stateless = console.post(PAGE, data={"csrf": csrf, "client_id": "onboarding", "lifetime": "3600"})
    assert stateless.status_code == 400 and "stateless" in stateless.text and 'id="iat-value"' not in stateless.text
    token_id = "0" * 32
    assert console.post(f"{PAGE}/{token_id}/revoke", data={}).status_code == 403
    missing = console.post(f"{PAGE}/{token_id}/revoke", data={"csrf": csrf})
    assert missing.status_code == 303 and "does%20not%20exist" in missing.headers["location"]


def test_the_script_page_loads_the_vendored_editor_over_a_plain_textarea(server: Server) -> None:
    from credo.management.usecases import create_script

    script = create_script(server.services, "alpha", name="s", source="var a = 1;", actor="t")
    console, _ = console_session(server)
    page = console.get(f"/admin/r/alpha/scripts/{script.id}")
    assert '<textarea class="code" id="f-source" name="source"' in page.text  # works without JavaScript
    assert "var a = 1;" in page.text and "<script>" not in page.text  # no inline script (CSP script-src 'self')
    sources = [s.split('"', 1)[0] for s in page.text.split('<script src="')[1:]] + [
        s.split('"', 1)[0] for s in page.text.split('<script type="module" src="')[1:]]
    assert "/admin/static/editor.js" in sources and all(s.startswith("/admin/static/") for s in sources)
    for path in [*sources, "/admin/static/vendor/codejar/LICENSE", "/admin/static/vendor/prism/LICENSE"]:
        served = console.get(path)
        assert served.status_code == 200 and served.content, path
        if path.endswith(".js"):
            assert "javascript" in served.headers["content-type"], path
