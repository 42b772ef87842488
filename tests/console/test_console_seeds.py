"""The seeds' console tasks carried out in a real browser, then the seeds' HTTP flows against what was
configured. Screenshots of every page go to test-artifacts/console/."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from tests.console.conftest import Console
from tests.support import LiveServer

pytestmark = pytest.mark.browser

SEED_SCOPES = "address phone openid profile fr:idm:* am-introspect-all-tokens email data-read data-write"
SEED_SCRIPT = """if (operation === "CREATE" && clientIdentity.isAIAgent()) {
  clientIdentity.setAttribute("providerOverridesEnabled", ["true"]);
  clientIdentity.setAttribute("statelessTokensEnabled", ["true"]);
  clientIdentity.setAttribute("acceptAudienceParametersInTokenExchangeRequests", ["true"]);
  clientIdentity.setAttribute("AgentType", clientIdentity.getAttributeValues("AgentType"));
  clientIdentity.setAttribute("aiAgentIdentityUid", clientIdentity.getAttributeValues("aiAgentIdentityUid"));
  clientIdentity.store();
}"""


def _create_realm(c: Console, name: str = "alpha") -> None:
    c.go("/admin/realms")
    c.shot("00-realms")
    c.page.fill("#f-name", name)
    c.page.click("text=Create realm")
    c.page.wait_for_url(f"**/admin/r/{name}/settings**")


def _configure_provider(c: Console, grants: tuple[str, ...], open_registration: bool = True) -> None:
    c.go("/admin/r/alpha/settings?tab=all")
    for box in c.page.query_selector_all("input[name=grant_types]"):
        box.set_checked(box.get_attribute("value") in grants)
    c.page.fill("#f-registration_scope_allowlist", SEED_SCOPES)
    c.page.set_checked("#f-allow_open_registration", open_registration)
    c.page.click("text=Save Changes")
    assert c.notice() == "Settings saved."


def test_dcr_onboarding_provider_settings(console: Console) -> None:
    c = console
    _create_realm(c)
    c.shot("01-provider-settings")
    _configure_provider(c, ("client_credentials",))
    c.shot("02-provider-settings-saved")
    settings = c.server.services.realm("alpha").settings
    assert settings.grant_types == ("client_credentials",) and settings.allow_open_registration
    with c.server.client() as http:
        d = http.get(c.server.realm_url("alpha") + "/.well-known/openid-configuration").json()
        privileged = ("fr:idm:*", "am-introspect-all-tokens")  # allowlisted, but never for open registration
        assert d["scopes_supported"] == [s for s in SEED_SCOPES.split() if s not in privileged]
        assert d["registration_endpoint"] == c.server.realm_url("alpha") + "/register"
        reg = http.post(c.server.realm_url("alpha") + "/register", json={
            "grant_types": ["client_credentials"], "response_types": ["token"],
            "redirect_uris": ["https://example.com/callback"], "scopes": ["data-read", "data-write"],
            "client_name": "Retail Chatbot", "token_endpoint_auth_method": "client_secret_post"})
        assert reg.status_code == 201, reg.text
        creds = reg.json()
        tok = http.post(c.server.realm_url("alpha") + "/access_token", data={
            "grant_type": "client_credentials", "client_id": creds["client_id"],
            "client_secret": creds["client_secret"], "scope": "data-read"})
        assert tok.status_code == 200 and tok.json()["scope"] == "data-read"
    c.go("/admin/r/alpha/dynamic")
    assert creds["client_id"] in c.page.inner_text("#list")
    c.shot("03-dynamic-clients")
    c.page.once("dialog", lambda dialog: dialog.accept())
    c.page.click(f"#list tr:has-text('{creds['client_id']}') >> text=Delete")
    assert c.notice() == "Dynamic client deleted."
    assert c.server.services.storage.clients.get("alpha", creds["client_id"]) is None
    # "Protect by access token": with open registration off, /register needs an initial access token.
    _configure_provider(c, ("client_credentials",), open_registration=False)
    with c.server.client() as http:
        refused = http.post(c.server.realm_url("alpha") + "/register", json={"client_name": "Anonymous"})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"


def test_form_errors_show_next_to_the_field(console: Console) -> None:
    c = console
    _create_realm(c)
    c.go("/admin/r/alpha/settings?tab=all")
    c.page.fill("#f-access_token_lifetime", "5")
    c.page.click("text=Save Changes")
    assert "must be at least 60" in c.page.inner_text("#err-access_token_lifetime")
    c.shot("04-settings-field-error")
    assert c.server.services.realm("alpha").settings.access_token_lifetime == 3600
    c.go("/admin/r/alpha/applications/new")
    c.page.fill("#f-client_id", "bad id!")
    c.page.fill("#f-name", "<script>alert('x')</script>")
    c.page.click("text=Create Application")
    assert "letters, digits" in c.page.inner_text("#err-client_id")
    assert c.page.input_value("#f-name") == "<script>alert('x')</script>"  # kept, escaped, not executed
    c.shot("05-application-field-error")
    c.page.fill("#f-client_id", "escaped-app")
    c.page.click("text=Create Application")
    c.page.click("#continue")
    c.go("/admin/r/alpha/applications")
    assert "<script>alert('x')</script>" in c.page.inner_text("#list")
    assert "&lt;script&gt;" in c.page.content()


def test_ai_agent_dcr_script(console: Console) -> None:
    c = console
    _create_realm(c)
    _configure_provider(c, ("client_credentials",))
    c.go("/admin/r/alpha/scripts")
    c.page.click("#new-link")
    c.page.fill("#f-name", "AI Agent Dynamic Client Registration Script")
    c.shot("06-new-script")
    c.page.click("#create")
    c.page.fill("#f-description", "Script to configure AI agent access settings during dynamic client registration.")
    c.paste("#f-source-editor", SEED_SCRIPT)  # into the editor over the textarea (editor.js)
    c.page.click("#save")
    assert c.notice() == "Script saved."
    script = c.server.services.storage.scripts.all("alpha")[0]
    assert script.source == SEED_SCRIPT and script.name == "AI Agent Dynamic Client Registration Script"
    c.page.click("summary")
    c.page.click("#test-run")
    result = c.page.inner_text("#test-result")
    assert "acceptAudienceParametersInTokenExchangeRequests" in result and "Stored: yes" in result
    c.shot("07-script-editor-test-run")
    c.go("/admin/r/alpha/settings?tab=all")
    c.page.select_option("#f-dcr_script", script.id)
    c.page.click("text=Save Changes")
    assert c.server.services.realm("alpha").settings.dcr_script == script.id
    c.shot("08-provider-dcr-script")
    base = c.server.realm_url("alpha")
    with c.server.client() as http:
        reg = http.post(f"{base}/aiagent/register", json={
            "grant_types": ["client_credentials"], "response_types": ["token"],
            "redirect_uris": ["https://example.com/callback"], "scopes": ["data-read", "data-write"],
            "client_name": "Workforce Assistant", "token_endpoint_auth_method": "client_secret_post"})
        assert reg.status_code == 201, reg.text
        creds = reg.json()
        tok = http.post(f"{base}/access_token", data={"grant_type": "client_credentials",
                                                      "client_id": creds["client_id"],
                                                      "client_secret": creds["client_secret"], "scope": "data-read"})
        assert tok.status_code == 200, tok.text
        info = http.get(f"{base}/tokeninfo", params={"access_token": tok.json()["access_token"]}).json()
        assert info["cts"] == "OAUTH2_STATELESS_GRANT" and info["sub"] == creds["client_id"]
    c.go("/admin/r/alpha/dynamic")
    assert "AI agent" in c.page.inner_text("#list") and creds["client_id"] in c.page.inner_text("#list")
    c.shot("08b-dynamic-clients-ai-agent")
    c.go("/admin/r/alpha/agents")
    assert creds["client_id"] in c.page.inner_text("#list")


def _create_application(c: Console, client_id: str, name: str, app_type: str, secret: str, scopes: str,
                        grants: tuple[str, ...] = ("client_credentials",)) -> None:
    c.go("/admin/r/alpha/applications")
    c.page.click("#new-link")
    c.page.select_option("#f-app_type", app_type)
    c.page.fill("#f-name", name)
    c.page.fill("#f-owners", "ops-team")
    c.page.fill("#f-client_id", client_id)
    c.page.fill("#f-secret", secret)
    c.page.click("text=Create Application")
    assert c.page.inner_text("#client-secret") == secret
    c.shot(f"09-{client_id}-secret-once")
    c.page.click("#continue")
    c.page.click("#tab-signon")
    for box in c.page.query_selector_all("input[name=grant_types]"):
        box.set_checked(box.get_attribute("value") in grants)
    c.page.fill("#f-scopes", scopes)
    c.page.select_option("#f-auth_method", "client_secret_post")
    c.page.click("text=Save")
    assert c.notice() == "Changes saved."
    c.shot(f"10-{client_id}-sign-on")


def _create_agent(c: Console, client_id: str, name: str, secret: str, scopes: str, app: str,
                  permissions: tuple[str, ...], subjects: str = "", grants: tuple[str, ...] = ()) -> None:
    c.go("/admin/r/alpha/agents")
    c.page.click("#new-link")
    c.page.fill("#f-name", name)
    c.page.fill("#f-client_id", client_id)
    c.page.fill("#f-secret", secret)
    c.shot("11a-new-agent")
    c.page.click("text=Create AI Agent")
    c.page.click("#continue")
    c.page.fill("#f-scopes", scopes)
    c.page.click("text=Show Advanced Settings")
    for box in c.page.query_selector_all("input[name=grant_types]"):
        box.set_checked(box.get_attribute("value") in (grants or ("client_credentials", GRANT_TOKEN_EXCHANGE)))
    c.page.select_option("#f-auth_method", "client_secret_post")
    for box in ("#f-overrides_enabled", "#f-stateless_tokens", "#f-accept_audience"):
        c.page.check(box)
    c.shot(f"11-{client_id}-access-advanced")
    c.page.click("text=Save Changes")
    assert c.notice() == "Changes saved."
    c.page.click("#tab-applications")
    assert not c.page.is_visible(f"#perm-{app}")  # permissions follow the chosen resource
    c.page.select_option("#f-application_id", app)
    assert c.page.is_visible(f"#perm-{app}")
    if subjects:
        c.page.fill("#f-subjects", subjects)
    for scope in permissions:
        c.page.check(f"#perm-{app} input[value='{scope}']")
    c.page.click("#add-policy")
    assert c.notice() == "Changes saved."
    assert app in c.page.inner_text("#policies")
    c.shot(f"12-{client_id}-applications")


def test_autonomous_agent(console: Console) -> None:
    c = console
    _create_realm(c)
    _configure_provider(c, ("client_credentials", GRANT_TOKEN_EXCHANGE))
    _create_application(c, "web-server-logs-api-app", "Web Server Logs API App", "service",
                        "logs-api-secret-0123456789", "logs-read logs-search")
    _create_agent(c, "bot-traffic-analyzer-agent", "Bot Traffic Analyzer Agent", "bot-secret-0123456789abc",
                  "monitor-system", "web-server-logs-api-app", ("logs-read", "logs-search"))
    c.page.once("dialog", lambda dialog: dialog.accept())
    c.page.click("#new-secret")
    fresh = c.page.inner_text("#client-secret")
    assert len(fresh) >= 40
    c.shot("12b-new-secret-once")
    agent = c.server.services.storage.clients.get("alpha", "bot-traffic-analyzer-agent")
    assert agent is not None and agent.stateless_tokens and agent.accepts_audience
    assert c.server.services.hasher.verify(fresh, agent.secret_hash)
    c.server.services.storage.clients.update(replace(agent, secret_hash=c.server.services.hasher.hash_human(
        "bot-secret-0123456789abc")))
    policy = c.server.services.storage.policies.get("alpha", agent.client_id, "web-server-logs-api-app")
    assert policy is not None and set(policy.permissions) == {"logs-read", "logs-search"}
    base = c.server.realm_url("alpha")
    with c.server.client() as http:
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": agent.client_id,
                                                    "client_secret": "bot-secret-0123456789abc",
                                                    "scope": "monitor-system"})
        assert r.status_code == 200, r.text
        own = r.json()["access_token"]
        info = http.get(f"{base}/tokeninfo", params={"access_token": own}).json()
        assert info["cts"] == "OAUTH2_STATELESS_GRANT" and info["sub"] == agent.client_id
        x = http.post(f"{base}/access_token", data={
            "grant_type": GRANT_TOKEN_EXCHANGE, "subject_token": own,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "client_id": agent.client_id, "client_secret": "bot-secret-0123456789abc",
            "audience": "web-server-logs-api-app", "scope": "logs-read logs-search"})
        assert x.status_code == 200, x.text
        assert set(x.json()["scope"].split()) == {"logs-read", "logs-search"}
        exchanged = http.get(f"{base}/tokeninfo", params={"access_token": x.json()["access_token"]}).json()
        assert exchanged["act"] == {"sub": agent.client_id} and "web-server-logs-api-app" in exchanged["aud"]
    for name in ("agents", "applications", "audit"):
        c.go(f"/admin/r/alpha/{name}")
        c.shot(f"13-{name}")
    c.go("/admin/r/alpha/audit?actor=console-admin&action=policy.put")
    assert "web-server-logs-api-app" in c.page.inner_text("#audit")
    assert len(c.page.query_selector_all("#audit tbody tr")) == 1
    c.go("/admin/r/alpha/keys")
    c.page.click("text=Rotate signing key")
    assert c.notice().startswith("New signing key")
    assert c.page.inner_text("#keys").count("retired") == 1
    c.shot("13-keys")
    c.page.select_option("#realm-switch", "root")
    c.page.wait_for_url("**/admin/r/root/overview")


def test_on_behalf_of(console: Console) -> None:
    c = console
    _create_realm(c)
    _configure_provider(c, ("client_credentials", "password", GRANT_TOKEN_EXCHANGE))
    c.go("/admin/r/alpha/users")
    c.page.fill("#f-username", "temp.user")
    c.page.fill("#f-password", "Temp-Passw0rd-123")
    c.page.click("text=Create user")
    c.page.click("#users tr:has-text('temp.user') >> text=Deactivate")
    assert c.notice() == "temp.user is now inactive."
    temp = c.server.services.storage.users.by_username("alpha", "temp.user")
    assert temp is not None and not temp.active
    c.page.fill("#f-username", "barbara.jensen")
    c.page.fill("#f-password", "Demo-Passw0rd-Barbara")
    c.page.click("text=Create user")
    c.page.fill("#f-group_name", "assistant-users")
    c.page.fill("#f-members", "barbara.jensen")
    c.page.click("text=Save group")
    assert "barbara.jensen" in c.page.inner_text("#groups")
    c.shot("14-users-groups")
    _create_application(c, "digital-assistant-web-app", "Digital Assistant Web App", "web",
                        "web-app-secret-0123456789", "openid read-data", ("client_credentials", "password"))
    _create_agent(c, "digital-assistant-ai-agent", "Digital Assistant AI Agent", "assistant-secret-0123456789",
                  "read-data", "digital-assistant-web-app", ("read-data",), subjects="barbara.jensen",
                  grants=(GRANT_TOKEN_EXCHANGE,))
    user = c.server.services.storage.users.by_username("alpha", "barbara.jensen")
    assert user is not None
    policy = c.server.services.storage.policies.get("alpha", "digital-assistant-ai-agent", "digital-assistant-web-app")
    assert policy is not None and policy.subjects == (user.id,) and policy.permissions == ("read-data",)
    base = c.server.realm_url("alpha")
    with c.server.client() as http:
        r = http.post(f"{base}/access_token", data={
            "grant_type": "password", "username": "barbara.jensen", "password": "Demo-Passw0rd-Barbara",
            "client_id": "digital-assistant-web-app", "client_secret": "web-app-secret-0123456789", "scope": "openid"})
        assert r.status_code == 200, r.text
        x = http.post(f"{base}/access_token", data={
            "grant_type": GRANT_TOKEN_EXCHANGE, "subject_token": r.json()["access_token"],
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "client_id": "digital-assistant-ai-agent", "client_secret": "assistant-secret-0123456789",
            "audience": "digital-assistant-web-app", "scope": "read-data"})
        assert x.status_code == 200, x.text
        info = http.post(f"{base}/introspect", data={"token": x.json()["access_token"],
                                                      "client_id": "digital-assistant-ai-agent",
                                                      "client_secret": "assistant-secret-0123456789"}).json()
        assert info["sub"] == user.id and info["act"] == {"sub": "digital-assistant-ai-agent"}


def test_registration_protection_settings(console: Console) -> None:
    c = console
    c.go("/admin/r/root/settings?tab=all")
    c.page.check("#f-require_software_statement")
    c.page.fill("#f-ss_jwks", "not json")
    c.page.click("text=Save Changes")
    assert c.page.inner_text("#err-ss_jwks") == "not valid JSON."
    c.page.fill("#f-ss_jwks_uri", "ftp://keys.example")
    c.page.fill("#f-ss_jwks", "")
    c.page.click("text=Save Changes")
    assert "must be a URL with the scheme" in c.page.inner_text("#err-ss_jwks_uri")
    assert c.server.services.realm("root").settings.protection.require_software_statement is False
    c.shot("15-protection-field-error")
    c.page.fill("#f-ss_jwks_uri", "https://keys.example/jwks.json")
    c.page.fill("#f-ss_issuers", "https://issuer.example")
    c.page.fill("#f-policy_max_clients", "100")
    c.page.fill("#f-policy_allowed_redirect_hosts", "example.com")
    c.page.click("text=Save Changes")
    assert c.notice() == "Settings saved."
    p = c.server.services.realm("root").settings.protection
    assert p.require_software_statement and str(p.software_statement_keys.jwks_uri) == "https://keys.example/jwks.json"
    assert p.software_statement_keys.issuers == ("https://issuer.example",) and p.policy.max_clients == 100
    assert p.policy.allowed_redirect_hosts == ("example.com",)
    c.shot("16-protection-saved")


def test_refused_agent_save_keeps_what_was_typed(console: Console) -> None:
    c = console
    c.go("/admin/r/root/agents/new")
    c.page.fill("#f-client_id", "typed-agent")
    c.page.click("text=Create AI Agent")
    c.page.click("#continue")
    c.page.fill("#f-scopes", "read-data bad\\scope")
    c.page.click("text=Show Advanced Settings")
    c.page.check("#f-overrides_enabled")
    c.page.click("text=Save Changes")
    assert c.page.inner_text("#err-scopes")
    assert c.page.input_value("#f-scopes") == "read-data bad\\scope" and c.page.is_checked("#f-overrides_enabled")
    agent = c.server.services.storage.clients.get("root", "typed-agent")
    assert agent is not None and agent.scopes == () and not agent.overrides_enabled
    c.shot("17-agent-field-error")


def test_one_time_password_must_be_replaced(browser: Any, live_sqlite_server: LiveServer) -> None:
    from credo.management.admins import bootstrap_admin

    created = bootstrap_admin(live_sqlite_server.services)
    assert created is not None
    page = browser.new_page()
    try:
        c = Console(page, live_sqlite_server)
        c.go("/admin/login")
        page.fill("#f-username", created[0])
        page.fill("#f-password", created[1])
        page.click("button[type=submit]")
        assert "one-time password" in page.inner_text("#change-password")
        c.go("/admin/account")
        page.fill("#f-current_password", created[1])
        page.fill("#f-new_password", "short")
        page.fill("#f-repeat_password", "short")
        page.click("#password-form button")
        assert "at least 12" in page.inner_text("#err-new_password")
        page.fill("#f-current_password", created[1])
        page.fill("#f-new_password", "my-own-admin-password")
        page.fill("#f-repeat_password", "my-own-admin-password")
        page.click("#password-form button")
        assert c.notice() == "Password changed."
        c.go("/admin/r/root/settings?tab=all")
        assert page.query_selector("#change-password") is None
        c.shot("18-account")
        admin = live_sqlite_server.services.storage.admins.get(created[0])
        assert admin is not None and not admin.must_change_password
        assert live_sqlite_server.services.hasher.verify("my-own-admin-password", admin.password_hash)
    finally:
        page.close()
