"""Driving the sign-in and consent pages the way a browser does (forms, cookies, redirects), for tests
that are about the protocol rather than the page (the page itself: tests/console with a real browser).

Clients for the code flow are set up through the management use cases, as an administrator would."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from credo.domain.models import ClientKind, User
from credo.domain.settings import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_PASSWORD,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
)
from credo.management.clients import create_client
from credo.management.users import create_user
from credo.oauth.services import Services
from tests.factories import APP_SECRET, PASSWORD, USER_ID, USERNAME, Party, realm_settings
from tests.support import Server

REDIRECT = "https://app.example/callback"
USER_NAME = "Barbara Jensen"
USER_EMAIL = "barbara.jensen@example.com"
BROWSER_GRANTS = (GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE, GRANT_REFRESH_TOKEN,
                  GRANT_AUTHORIZATION_CODE)


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def enable_code_flow(services: Services, realm: str = "alpha") -> None:
    realm_settings(services, realm, grant_types=BROWSER_GRANTS)


def browser_client(services: Services, realm: str = "alpha", client_id: str = "web-app", *, public: bool = True,
                   redirect_uris: tuple[str, ...] = (REDIRECT,), scopes: tuple[str, ...] = ("openid", "profile", "email"),
                   refresh: bool = True, secret: str | None = None, grant_types: tuple[str, ...] | None = None,
                   kind: ClientKind = "application", name: str | None = None, **signin_fields: Any) -> str | None:
    """A client for the code flow, made as an administrator makes one (`signin_fields`: post-logout
    redirect URIs, resources, application type, skip_consent); returns its secret (None for a public client)."""
    grants = grant_types or ((GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN) if refresh else (GRANT_AUTHORIZATION_CODE,))
    _, plain = create_client(services, realm, client_id, kind=kind, name=name or f"{client_id} name",
                             grant_types=grants, scopes=scopes, auth_method="none" if public else "client_secret_post",
                             app_type="web", redirect_uris=redirect_uris, secret=secret, **signin_fields)
    return plain or secret


def resource_server(services: Services, realm: str, client_id: str, url: str) -> Party:
    """An application that answers to the resource identifier `url` (an MCP server, an API), with the
    secret it introspects the tokens sent to it with."""
    create_client(services, realm, client_id, kind="application", name=client_id, app_type="service",
                  scopes=("data-read",), secret=APP_SECRET, resources=(url,))
    return Party(client_id, APP_SECRET)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": []})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            if tag == "input" and a.get("type") != "hidden":
                return
            self.forms[-1]["fields"].append((a["name"], a.get("value", ""), tag))


def page_form(html: str, index: int = 0) -> tuple[str, list[tuple[str, str]]]:
    """The action and the hidden fields of the page's form number `index`."""
    parser = _Forms()
    parser.feed(html)
    form = parser.forms[index]
    return form["action"], [(n, v) for n, v, tag in form["fields"] if tag == "input"]


def location_params(r: httpx.Response) -> dict[str, str]:
    """The query parameters of a redirect's Location (each once)."""
    assert r.status_code in (302, 303), (r.status_code, r.text[:500])
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}


def authorize_params(client_id: str = "web-app", *, challenge: Pkce | None = None, scope: str = "openid profile",
                     redirect_uri: str | None = REDIRECT, state: str = "st-1", resources: tuple[str, ...] = (),
                     **extra: str) -> list[tuple[str, str]]:
    """The query of an authorization request (a code request with PKCE when `challenge` is given)."""
    params: list[tuple[str, str]] = [("response_type", "code"), ("client_id", client_id), ("scope", scope),
                                     ("state", state)]
    if redirect_uri is not None:
        params.append(("redirect_uri", redirect_uri))
    if challenge is not None:
        params += [("code_challenge", challenge.challenge), ("code_challenge_method", "S256")]
    return params + [("resource", r) for r in resources] + list(extra.items())


def authorize(http: httpx.Client, base: str, client_id: str = "web-app", **kw: Any) -> httpx.Response:
    return http.get(f"{base}/authorize", params=tuple(authorize_params(client_id, **kw)))


def submit(http: httpx.Client, page: httpx.Response, **fields: str) -> httpx.Response:
    """Submit the page's first form with its hidden fields and `fields` (a button: decision=allow)."""
    action, hidden = page_form(page.text)
    return http.post(action, content=urlencode([*hidden, *fields.items()]),
                     headers={"content-type": "application/x-www-form-urlencoded"})


def sign_in(http: httpx.Client, page: httpx.Response, username: str = USERNAME,
            password: str = PASSWORD) -> httpx.Response:
    assert page.status_code == 200 and 'name="password"' in page.text, (page.status_code, page.text[:300])
    return submit(http, page, username=username, password=password)


def through_pages(http: httpx.Client, r: httpx.Response, *, allow: bool = True) -> httpx.Response:
    """From the answer to an authorization request to the redirect back to the client: signs in and
    consents when the pages ask."""
    if r.status_code == 200 and 'name="password"' in r.text:
        r = sign_in(http, r)
    if r.status_code == 200 and 'value="allow"' in r.text:
        r = submit(http, r, decision="allow" if allow else "deny")
    return r


def obtain_code(http: httpx.Client, base: str, client_id: str = "web-app", *, challenge: Pkce | None = None,
                allow: bool = True, **kw: Any) -> dict[str, str]:
    """Authorize, sign in (if asked), consent (if asked); returns the redirect's parameters."""
    return location_params(through_pages(http, authorize(http, base, client_id, challenge=challenge, **kw),
                                         allow=allow))


def profile_user(services: Services, realm: str = "alpha") -> User:
    """The user USERNAME (id USER_ID) with a name and an email address, released by `profile` and `email`."""
    return create_user(services, realm, USERNAME, PASSWORD, user_id=USER_ID, name=USER_NAME, email=USER_EMAIL)


def redeem(http: httpx.Client, base: str, code: str, challenge: Pkce | None, client_id: str = "web-app",
           redirect_uri: str = REDIRECT, **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": client_id,
            **extra}
    if challenge is not None:
        data["code_verifier"] = challenge.verifier
    return http.post(f"{base}/access_token", data=data)


def introspect(server: Server, http: httpx.Client, token: str, realm: str = "alpha") -> dict[str, object]:
    """The introspection answer for `token`, asked by a confidential client made on first use."""
    if server.services.client(realm, "introspector") is None:
        browser_client(server.services, realm, "introspector", public=False, scopes=("am-introspect-all-tokens",),
                       secret=APP_SECRET)
    r = http.post(f"{server.realm_url(realm)}/introspect", data={"token": token, "client_id": "introspector",
                                                                   "client_secret": APP_SECRET})
    assert r.status_code == 200, r.text
    return dict(r.json())


__all__ = ["PASSWORD", "USERNAME", "USER_ID"]
