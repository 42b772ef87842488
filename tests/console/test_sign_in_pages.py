"""The realm's sign-in pages in a real browser (headless Chromium) against Credo served by uvicorn: sign-in,
consent, Allow and Deny, prompt=none, RP-initiated logout and My account. The client's redirect URI is a
small HTTP server on another loopback port that records each request the browser makes to it, so each test
reads `code`, `state`, `iss` and `error` from where the browser really landed."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
import pytest

from credo.management.users import create_user
from credo.oauth.sessions import BAD_CREDENTIALS
from tests.console.conftest import watch
from tests.factories import PASSWORD, USER_ID, USERNAME
from tests.signin import Pkce, authorize_params, browser_client, enable_code_flow, introspect, pkce, redeem
from tests.support import LiveServer

STATE = "af0ifjsldkj"
AGENT, AGENT_NAME = "trip-planner", "Trip Planner"
LANDED = b"<!doctype html><title>The application</title><p id=landed>Back at the application</p>"


@dataclass(frozen=True)
class Landing:
    method: str
    path: str
    params: dict[str, str]


class RedirectTarget:
    """The application's side: `callback` (the redirect URI) and `signed_out` (the post-logout redirect URI)
    served on a loopback port of their own; every GET or POST to them is recorded with its parameters."""

    def __init__(self) -> None:
        self.landings: list[Landing] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.landings))
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.callback, self.signed_out = f"{self.origin}/callback", f"{self.origin}/signed-out"
        self.host = urlsplit(self.origin).netloc
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(landings: list[Landing]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._land(urlsplit(self.path).query)

        def do_POST(self) -> None:
            self._land(self.rfile.read(int(self.headers.get("content-length") or 0)).decode())

        def _land(self, data: str) -> None:
            path = urlsplit(self.path).path
            if path not in ("/callback", "/signed-out"):  # the browser's own requests (a favicon)
                self.send_error(404)
                return
            landings.append(Landing(self.command, path, dict(parse_qsl(data, keep_blank_values=True))))
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(LANDED)))
            self.end_headers()
            self.wfile.write(LANDED)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass
class Site:
    """A browser tab, the Credo it signs in to, and the application it returns to."""

    page: Any
    server: LiveServer
    app: RedirectTarget
    http: httpx.Client
    challenge: Pkce = field(default_factory=pkce)

    @property
    def base(self) -> str:
        return self.server.realm_url("alpha")

    def authorize(self, client_id: str = "web-app", **extra: Any) -> Any:
        """Open the authorization request; returns the answer to the last navigation."""
        query = authorize_params(client_id, challenge=self.challenge, redirect_uri=self.app.callback, state=STATE,
                                 **extra)
        return self.page.goto(f"{self.base}/authorize?{urlencode(query)}")

    def sign_in(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        with self.page.expect_navigation():
            self.page.click("#sign-in")

    def click_to_app(self, selector: str) -> Landing:
        """Click something that sends the browser back to the application; where it landed."""
        before = len(self.app.landings)
        self.page.click(selector)
        self.page.wait_for_url(re.compile(re.escape(self.app.origin) + "/"))
        return self.landed(before)

    def landed(self, before: int) -> Landing:
        """The one landing since there were `before`."""
        assert len(self.app.landings) == before + 1, (self.app.landings, self.page.url)
        return self.app.landings[-1]

    def code(self, landing: Landing) -> str:
        assert landing.path == "/callback" and set(landing.params) == {"code", "state", "iss"}, landing
        assert landing.params["state"] == STATE and landing.params["iss"] == self.base
        return landing.params["code"]

    def tokens(self, code: str, client_id: str = "web-app") -> dict[str, Any]:
        r = redeem(self.http, self.base, code, self.challenge, client_id, redirect_uri=self.app.callback)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def signed_in_code(self) -> str:
        """Sign in, allow the web app; the code it received."""
        self.authorize()
        self.sign_in()
        return self.code(self.click_to_app("#allow"))

    def cookies(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.page.context.cookies()}


@pytest.fixture
def site(browser: Any, live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str]) -> Iterator[Site]:
    """Realm alpha (of the demo) with the code flow, a user, a web application and an AI agent."""
    services = live_sqlite_server.services
    app = RedirectTarget()
    enable_code_flow(services)
    create_user(services, "alpha", USERNAME, PASSWORD, user_id=USER_ID)
    browser_client(services, redirect_uris=(app.callback,), post_logout_redirect_uris=(app.signed_out,))
    browser_client(services, client_id=AGENT, redirect_uris=(app.callback,), kind="agent", name=AGENT_NAME)
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems = watch(page)
    with live_sqlite_server.client() as http:
        yield Site(page, live_sqlite_server, app, http)
    context.close()
    app.close()
    assert problems == [], problems


def test_consent_page_shows_the_agent_and_allow_returns_a_code_with_state_and_iss(site: Site) -> None:
    site.authorize(AGENT, scope="openid profile email")
    assert site.page.inner_text("p.sub") == f"to continue to {AGENT_NAME}"
    site.sign_in()
    page = site.page
    assert page.url == f"{site.base}/signin"
    assert page.inner_text("h1") == f"{AGENT_NAME} AI agent" and page.inner_text("#agent-mark") == "AI agent"
    assert page.inner_text("#redirect-host") == site.app.host
    assert page.locator("#scopes li").all_inner_texts() == [
        "Confirm who you are (your user id) openid", "Your name and username profile", "Your email address email"]
    code = site.code(site.click_to_app("#allow"))
    tokens = site.tokens(code, AGENT)
    assert tokens["scope"] == "openid profile email"
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["aud"] == AGENT and claims["sub"] == USER_ID


def test_an_application_gets_no_agent_mark(site: Site) -> None:
    site.authorize()
    site.sign_in()
    assert site.page.inner_text("h1") == "web-app name"
    assert site.page.locator("#agent-mark").count() == 0
    assert site.page.locator("#scopes li").all_inner_texts() == [
        "Confirm who you are (your user id) openid", "Your name and username profile"]


def test_deny_returns_access_denied(site: Site) -> None:
    site.authorize()
    site.sign_in()
    landing = site.click_to_app("#deny")
    assert landing == Landing("GET", "/callback", {
        "error": "access_denied", "error_description": "The user denied the request.", "state": STATE,
        "iss": site.base})


def test_a_wrong_password_reads_like_an_unknown_user_and_stays_on_the_sign_in_page(site: Site) -> None:
    answers = []
    for username, password in ((USERNAME, "not-the-password"), ("nobody-here", PASSWORD)):
        site.authorize()
        site.sign_in(username, password)
        page = site.page
        assert page.url == f"{site.base}/signin" and page.locator("#password").is_visible()
        assert page.input_value("#username") == username and page.input_value("#password") == ""
        answers.append(page.inner_text("[role=alert]"))
    assert answers == [BAD_CREDENTIALS, BAD_CREDENTIALS]
    assert site.app.landings == [] and "credo_session_alpha" not in site.cookies()
    site.sign_in()  # the right password on the page that refused the wrong one
    assert site.page.locator("#allow").is_visible()


def test_prompt_none_without_a_session_is_login_required_and_with_one_a_code_without_a_page(site: Site) -> None:
    response = site.authorize(prompt="none")
    assert site.landed(0) == Landing("GET", "/callback", {
        "error": "login_required", "error_description": "The user is not signed in.", "state": STATE,
        "iss": site.base})
    assert response.request.redirected_from.url.startswith(f"{site.base}/authorize?")
    site.signed_in_code()
    response = site.authorize(prompt="none")
    site.code(site.landed(2))
    first = response.request.redirected_from
    assert first.url.startswith(f"{site.base}/authorize?") and first.redirected_from is None  # no page between


def test_logout_with_id_token_hint_returns_with_state_and_ends_the_session(site: Site) -> None:
    id_token = site.tokens(site.signed_in_code())["id_token"]
    session = site.cookies()["credo_session_alpha"]
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": site.app.signed_out, "state": "bye-1"})
    site.page.goto(f"{site.base}/connect/endSession?{query}")
    assert site.landed(1) == Landing("GET", "/signed-out", {"state": "bye-1"})
    assert "credo_session_alpha" not in site.cookies()
    site.page.context.add_cookies([session])  # the old cookie, kept: its session has ended on the server too
    site.authorize(prompt="none")
    assert site.landed(2).params["error"] == "login_required"
    # Signing in again: consent is remembered, so the sign-in form's answer is a redirect to the application.
    site.authorize()
    site.sign_in()
    site.code(site.landed(3))


def test_logout_without_a_hint_asks_first_then_returns(site: Site) -> None:
    site.signed_in_code()
    query = urlencode({"client_id": "web-app", "post_logout_redirect_uri": site.app.signed_out, "state": "bye-2"})
    site.page.goto(f"{site.base}/connect/endSession?{query}")
    assert site.page.inner_text("h1") == "Sign out?" and len(site.app.landings) == 1
    assert site.click_to_app("#confirm-sign-out") == Landing("GET", "/signed-out", {"state": "bye-2"})
    site.authorize(prompt="none")
    assert site.landed(2).params["error"] == "login_required"


def test_my_account_lists_the_application_and_revoke_ends_its_access(site: Site) -> None:
    access_token = site.tokens(site.signed_in_code())["access_token"]
    assert introspect(site.server, site.http, access_token)["active"] is True
    page = site.page
    page.goto(f"{site.base}/account")
    assert page.inner_text("#who") == USERNAME
    rows = page.locator("#grants tr[data-client]")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.client)") == ["web-app"]
    assert rows.first.locator("code").all_inner_texts() == ["web-app", "openid", "profile"]
    assert rows.first.locator("td").first.inner_text().startswith("web-app name")
    rows.first.locator("button").click()
    page.wait_for_url(f"{site.base}/account")
    assert page.inner_text("#no-grants") == "No application or agent has access to your account."
    assert introspect(site.server, site.http, access_token) == {"active": False}
    page.click("#sign-out")
    assert page.inner_text("#signed-out") == "You are signed out."
    page.goto(f"{site.base}/account")
    assert page.locator("#password").is_visible() and page.locator("#grants").count() == 0


def test_form_post_response_mode_submits_itself_to_the_redirect_uri(site: Site) -> None:
    site.authorize(response_mode="form_post")
    site.sign_in()
    landing = site.click_to_app("#allow")
    assert landing.method == "POST" and site.code(landing)


def test_page_headers_and_cookies(site: Site) -> None:
    response = site.authorize()
    policy = response.headers["content-security-policy"]
    nonce = re.findall(r"'nonce-([\w-]+)'", policy)[0]
    assert policy == (f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
                      f"form-action 'self' {site.app.origin}; frame-ancestors 'none'; base-uri 'none'")
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"  # a code in the URL never leaks (RFC 9700 §4.2.4)
    assert site.page.eval_on_selector("main", "e => getComputedStyle(e).maxWidth") == "460px"  # the nonce'd style
    site.sign_in()
    cookies = site.cookies()
    assert sorted(cookies) == ["credo_csrf_alpha", "credo_session_alpha"]
    for cookie in cookies.values():
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
            True, "Lax", "/am/oauth2/realms/root/realms/alpha")
