"""Console polish in a real browser (one server and one signed-in page for the module): the Copy button
puts a secret shown once on the clipboard; the DCR script editor (CodeJar + Prism, vendored) shows line
numbers and highlighting, saves what was typed through the form's `source`, and reports no
Content-Security-Policy violation; the Initial Access page issues a token that registers one client at
/register (open registration off) and revokes another, which /register then refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from credo.management.admins import create_admin
from credo.management.applications import create_application
from credo.management.usecases import create_script
from tests.console.conftest import ADMIN, PASSWORD, Console, watch
from tests.factories import SEED_BODY, demo_secrets, realm_settings
from tests.support import LiveServer, live_server, make_storage

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def polished(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Console, list[str]]]:
    tmp = tmp_path_factory.mktemp("polish")
    with make_storage("sqlite", tmp) as storage, live_server(storage, tmp) as server:
        demo_secrets(server.services)
        create_admin(server.services, ADMIN, PASSWORD)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("dialog", lambda dialog: dialog.accept())  # the delete and revoke confirmations
        problems = watch(page)
        c = Console(page, server)
        c.go("/admin/login")
        page.fill("#f-username", ADMIN)
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/r/*/overview")
        yield c, problems
        context.close()


@pytest.fixture
def c(polished: tuple[Console, list[str]]) -> Iterator[Console]:
    console, problems = polished
    problems.clear()
    yield console
    assert problems == [], problems  # no script error, no Content-Security-Policy violation


def _clipboard(c: Console) -> str:
    return str(c.page.evaluate("navigator.clipboard.readText()"))


def test_the_copy_button_puts_the_new_secret_on_the_clipboard(c: Console) -> None:
    create_application(c.server.services, "alpha", "copy-app", name="Copy app")
    c.go("/admin/r/alpha/applications/copy-app")
    c.page.click("#new-secret")
    c.page.wait_for_selector("#client-secret")
    secret = c.page.inner_text("#client-secret").strip()
    c.page.evaluate("navigator.clipboard.writeText('something else')")
    c.page.click("#copy-client-secret")
    c.page.wait_for_selector("#copy-client-secret:has-text('Copied')")
    assert _clipboard(c) == secret and len(secret) >= 32
    c.shot("polish-01-copy-secret")


def test_the_script_editor_highlights_numbers_lines_and_saves_what_was_typed(c: Console) -> None:
    script = create_script(c.server.services, "alpha", name="Onboarding", source="// first line", actor="t")
    c.go(f"/admin/r/alpha/scripts/{script.id}")
    c.page.wait_for_selector(".editor[data-ready=true]")
    assert c.page.is_hidden("#f-source")  # the textarea stays in the form, under the editor
    assert c.page.inner_text(".editor .gutter").split() == ["1"]
    assert c.page.query_selector(".editor .token.comment") is not None
    c.page.click("#f-source-editor")
    c.page.keyboard.press("Control+End")
    c.page.keyboard.press("Enter")
    c.page.keyboard.type("var answer = 42;")
    c.page.keyboard.press("Enter")
    c.page.keyboard.type("clientIdentity.store();")
    assert c.page.inner_text(".editor .gutter").split() == ["1", "2", "3"]
    c.page.wait_for_selector(".editor .token.keyword >> text=var")  # highlighted as typed
    c.shot("polish-02-script-editor")
    c.page.click("#save")
    assert c.notice() == "Script saved."
    stored = c.server.services.storage.scripts.get("alpha", script.id)
    assert stored is not None and stored.source == "// first line\nvar answer = 42;\nclientIdentity.store();"
    c.page.reload()
    c.page.wait_for_selector(".editor[data-ready=true]")
    assert "var answer = 42;" in c.page.inner_text("#f-source-editor")
    assert c.page.inner_text(".editor .gutter").split() == ["1", "2", "3"]


def _register(server: LiveServer, token: str) -> int:
    with server.client() as http:
        return http.post(f"{server.realm_url('alpha')}/register", json=SEED_BODY,
                         headers={"Authorization": f"Bearer {token}"}).status_code


def _issue(c: Console) -> str:
    c.go("/admin/r/alpha/initial-access")
    c.page.select_option("#f-client_id", "onboarding")
    c.page.select_option("#f-lifetime", "3600")
    c.page.fill("#f-note", "partner onboarding")
    c.page.click("#issue")
    c.page.wait_for_selector("#iat-value")
    return c.page.inner_text("#iat-value").strip()


def test_the_initial_access_page_issues_a_token_that_registers_once_and_revokes_another(c: Console) -> None:
    create_application(c.server.services, "alpha", "onboarding", name="Onboarding", scopes=("dcr_register",))
    realm_settings(c.server.services, "alpha", allow_open_registration=False)
    c.go("/admin/r/alpha/dynamic")
    c.page.click("nav.side >> text=Initial Access")
    c.page.wait_for_url("**/admin/r/alpha/initial-access")
    token = _issue(c)
    c.page.click("#copy-iat-value")
    assert _clipboard(c) == token
    c.shot("polish-03-initial-access-issued")
    assert _register(c.server, token) == 201
    assert _register(c.server, token) == 401  # used up by the first registration
    other = _issue(c)
    c.go("/admin/r/alpha/initial-access")
    rows = c.page.query_selector_all("#list tbody tr")  # issued within one second: in either order
    assert sorted(r.query_selector_all("td")[4].inner_text() for r in rows) == ["no", "yes"]
    revocable = [r.query_selector("button.danger") for r in rows]
    assert [b is not None for b in revocable].count(True) == 1  # a used token has nothing left to revoke
    next(b for b in revocable if b is not None).click()
    assert c.notice() == "Initial access token revoked."
    assert _register(c.server, other) == 401
    c.shot("polish-04-initial-access-revoked")


def test_a_new_service_accounts_secret_is_copied_and_obtains_an_admin_token(c: Console) -> None:
    c.go("/admin/r/alpha/overview")
    c.page.click("nav.side >> text=Service accounts")
    c.page.fill("#f-name", "provisioner")
    c.page.select_option("#f-access", "write")
    c.page.fill("#f-realms", "alpha")
    c.page.click("#create-account")
    c.page.wait_for_selector("#account-secret")
    c.page.click("#copy-account-secret")
    secret = _clipboard(c)
    assert secret == c.page.inner_text("#account-secret").strip()
    c.shot("polish-05-service-account-created")
    with c.server.client() as http:
        r = http.post("/admin/api/token", data={"grant_type": "client_credentials"}, auth=("provisioner", secret))
        assert r.status_code == 200 and r.json()["scope"] == "admin:read admin:write"
