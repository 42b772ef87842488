"""No secret reaches the log: a real server process at debug level with its stderr captured is driven
through every error path we can reach, then every secret, password, token and registration access
token it ever saw or issued is searched for in every log line."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import httpx

from tests.procs import cli, cli_json, credo_server

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def marker(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


class Secrets:
    def __init__(self) -> None:
        self.values: list[str] = []

    def add(self, value: str | None) -> str:
        assert value
        self.values.append(value)
        return value


def _token_paths(http: httpx.Client, base: str, s: Secrets, creds: dict[str, str]) -> None:
    for cid in ("stateful-c", "stateless-c"):
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": cid,
                                                    "client_secret": creds[cid]})
        token = s.add(r.json()["access_token"])
        auth = {"client_id": cid, "client_secret": creds[cid]}
        http.post(f"{base}/introspect", data={"token": token, **auth})
        http.get(f"{base}/tokeninfo", params={"access_token": token})
        http.post(f"{base}/token/revoke", data={"token": token, **auth})
        http.post(f"{base}/introspect", data={"token": token, **auth})  # revoked
        http.get(f"{base}/tokeninfo", headers={"Authorization": f"Bearer {token}"})  # revoked: 401
        http.post(f"{base}/introspect", data={"token": token, "client_id": cid, "client_secret": s.add(marker("wrong"))})
    for _ in range(12):  # wrong secrets, up to and past the throttle
        http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": "stateful-c",
                                                "client_secret": s.add(marker("wrong"))})
    http.post(f"{base}/access_token", data={"grant_type": "client_credentials"},
              auth=("basic-c", s.add(marker("wrongbasic"))))
    http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_secret": creds["basic-c"]},
              auth=("basic-c", creds["basic-c"]))  # two methods at once
    http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": "nobody",
                                            "client_secret": s.add(marker("unknown"))})
    raw = base64.b64encode(f"basic-c:{s.add(marker('nocolon'))}".encode()).decode().replace("=", "")
    http.post(f"{base}/access_token", data={"grant_type": "client_credentials"},
              headers={"Authorization": f"Basic {raw}!"})
    for garbage in (s.add(marker("garbage")), s.add("eyJhbGciOiJub25lIn0." + marker("g") + ".")):
        http.get(f"{base}/tokeninfo", headers={"Authorization": f"Bearer {garbage}"})
        http.post(f"{base}/introspect", data={"token": garbage, "client_id": "stateful-c",
                                              "client_secret": creds["stateful-c"]})
        http.post(f"{base}/token/revoke", data={"token": garbage, "client_id": "stateful-c",
                                                "client_secret": creds["stateful-c"]})


def _malformed_bodies(http: httpx.Client, base: str, s: Secrets, creds: dict[str, str]) -> None:
    secret = creds["stateful-c"]
    bodies = [
        f"grant_type=client_credentials&client_id=stateful-c&client_secret={secret}&client_secret={secret}",
        f"grant_type=client_credentials&client_id=stateful-c&client_secret={secret}%zz",
        f"grant_type=client_credentials&client_id=stateful-c&client_secret={secret}%E0%A4",
        f"grant_type=client_credentials&client_id=stateful-c&client_secret={secret}%00",
        f"grant_type=client_credentials&client_id=stateful-c&client_secret={secret}&scope=bad\"scope",
        f"grant_type=client_credentials&client_id=stateful-c&client_secret={secret}&scope=not-allowed",
        f"grant_type=magic&client_id=stateful-c&client_secret={secret}",
        f"client_id=stateful-c&client_secret={secret}",
        f"grant_type=client_credentials&client_id=stateful-c&client_secret={secret}&pad={'a' * 70000}",
    ]
    for body in bodies:
        http.post(f"{base}/access_token", content=body.encode(), headers=FORM)
    http.post(f"{base}/access_token", content=f"client_secret={secret}".encode() + b"\xff\xfe", headers=FORM)
    http.post(f"{base}/access_token", content=f"client_secret={secret}".encode(), headers={"Content-Type": "text/plain"})
    http.post(f"{base}/access_token", json={"client_secret": secret})


def _registration_paths(http: httpx.Client, base: str, s: Secrets) -> None:
    body = {"grant_types": ["client_credentials"], "scope": "data-read", "client_name": "log-test",
            "token_endpoint_auth_method": "client_secret_post"}
    reg = http.post(f"{base}/register", json=body).json()
    s.add(reg["client_secret"])
    rat = s.add(reg["registration_access_token"])
    uri = reg["registration_client_uri"]
    http.get(uri, headers={"Authorization": f"Bearer {rat}"})
    http.get(uri, headers={"Authorization": f"Bearer {s.add(marker('wrongrat'))}"})
    http.put(uri, headers={"Authorization": f"Bearer {rat}"},
             json={**body, "client_id": reg["client_id"], "client_secret": reg["client_secret"], "grant_types": ["bogus"]})
    http.put(uri, headers={"Authorization": f"Bearer {rat}"},
             json={**body, "client_id": reg["client_id"], "client_secret": s.add(marker("putsecret"))})
    http.delete(uri, headers={"Authorization": f"Bearer {s.add(marker('wrongrat'))}"})
    http.post(f"{base}/register", json={**body, "client_secret": s.add(marker("chosen"))})
    http.post(f"{base}/register", json={**body, "jwks_uri": "https://127.0.0.1/" + s.add(marker("jwksuri"))})
    http.post(f"{base}/register", json={**body, "software_statement": s.add("eyJhbGciOiJIUzI1NiJ9." + marker("ss") + ".x")})
    http.post(f"{base}/register", content=s.add(marker("signedbody")).encode(), headers={"Content-Type": "application/jose"})
    http.post(f"{base}/register", json={**body, "scope": "admin"}, headers={"Authorization": f"Bearer {s.add(marker('iat'))}"})
    http.post(f"{base}/register", content=b"{not json " + s.add(marker("json")).encode(), headers={"Content-Type": "application/json"})
    http.post(f"{base}/aiagent/register", json={**body, "redirect_uris": ["javascript:" + s.add(marker("redir"))]})
    http.delete(uri, headers={"Authorization": f"Bearer {rat}"})


def _script_paths(http: httpx.Client, base: str, s: Secrets, data_dir: Path) -> None:
    """A script that throws with everything it can see in the message, and one that logs it."""
    body = {"grant_types": ["client_credentials"], "scope": "data-read", "client_name": "script-test",
            "token_endpoint_auth_method": "client_secret_post", "software_id": s.add(marker("swid"))}
    for source in ('logger.info(JSON.stringify(metadata)); throw new Error("seen: " + JSON.stringify(metadata));',
                   "while (true) {}"):
        path = data_dir / "script.js"
        path.write_text(source)
        script = cli_json(data_dir, "script", "create", "alpha", "--name", marker("script"), "--file", str(path))
        cli(data_dir, "script", "use", "alpha", script["id"])
        for endpoint in ("/register", "/aiagent/register"):
            http.post(f"{base}{endpoint}", json=body)


EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def _agent_setup(data_dir: Path, s: Secrets) -> dict[str, str]:
    password = s.add(marker("Password"))
    cli(data_dir, "user", "create", "alpha", "alice", "--password", password)
    creds = {"password": password}
    out = cli_json(data_dir, "app", "create", "alpha", "pw-c", "--scope", "data-read",
                   "--grant", "password", "--grant", "refresh_token")
    creds["pw-c"] = s.add(out["client_secret"])
    out = cli_json(data_dir, "agent", "create", "alpha", "agent-1", "--scope", "data-read")
    creds["agent-1"] = s.add(out["client_secret"])
    cli(data_dir, "agent", "policy", "alpha", "agent-1", "pw-c", "--subject", "alice")
    return creds


def _agent_paths(http: httpx.Client, base: str, s: Secrets, creds: dict[str, str]) -> None:
    pw = {"client_id": "pw-c", "client_secret": creds["pw-c"]}
    r = http.post(f"{base}/access_token", data={"grant_type": "password", "username": "alice",
                                                "password": creds["password"], "scope": "data-read", **pw})
    assert r.status_code == 200, r.text
    user_token, refresh = s.add(r.json()["access_token"]), s.add(r.json()["refresh_token"])
    http.post(f"{base}/access_token", data={"grant_type": "password", "username": "alice",
                                            "password": s.add(marker("wrongpw")), **pw})
    http.post(f"{base}/access_token", data={"grant_type": "password", "username": "nobody",
                                            "password": s.add(marker("nopw")), **pw})
    r = http.post(f"{base}/access_token", data={"grant_type": "refresh_token", "refresh_token": refresh, **pw})
    assert r.status_code == 200, r.text
    s.add(r.json()["refresh_token"])
    s.add(r.json()["access_token"])
    http.post(f"{base}/access_token", data={"grant_type": "refresh_token", "refresh_token": refresh, **pw})  # replay
    http.post(f"{base}/access_token", data={"grant_type": "refresh_token", "refresh_token": s.add(marker("rt")), **pw})
    agent = {"client_id": "agent-1", "client_secret": creds["agent-1"]}
    codes = []
    for subject in (user_token, s.add(marker("subject")), s.add("eyJhbGciOiJub25lIn0." + marker("sj") + ".")):
        r = http.post(f"{base}/access_token", data={
            "grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TYPE,
            "audience": "pw-c", "scope": "data-read", **agent})
        codes.append(r.status_code)
        if r.status_code == 200:
            s.add(r.json()["access_token"])
    assert codes[1:] == [400, 400], codes
    http.post(f"{base}/access_token", data={
        "grant_type": EXCHANGE, "subject_token": user_token, "subject_token_type": ACCESS_TYPE,
        "actor_token": s.add(marker("actor")), "actor_token_type": ACCESS_TYPE, **agent})
    http.post(f"{base}/access_token", data={
        "grant_type": EXCHANGE, "subject_token": user_token, "subject_token_type": "urn:bogus", **agent})


def test_no_secret_in_any_log_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    s = Secrets()
    cli(data_dir, "realm", "create", "alpha")
    cli(data_dir, "realm", "settings", "alpha", "--set",
        '{"allow_open_registration": true, "registration_scope_allowlist": ["data-read"], "grant_types": '
        '["client_credentials", "password", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"]}')
    agent_creds = _agent_setup(data_dir, s)
    creds = {}
    for cid, extra in (("stateful-c", []), ("stateless-c", ["--stateless"]),
                       ("basic-c", ["--auth-method", "client_secret_basic"])):
        creds[cid] = s.add(cli_json(data_dir, "client", "create", "alpha", cid, "--scope", "data-read", *extra)
                           ["client_secret"])
    log = tmp_path / "server.log"
    with credo_server(data_dir, log=log, CREDO_LOG_LEVEL="debug") as srv, httpx.Client(timeout=30) as http:
        base = srv.realm_url("alpha")
        _token_paths(http, base, s, creds)
        _malformed_bodies(http, base, s, creds)
        _registration_paths(http, base, s)
        _agent_paths(http, base, s, agent_creds)
        _script_paths(http, base, s, data_dir)
    text = log.read_text(errors="replace")
    lines = text.splitlines()
    assert any("request_refused" in line for line in lines), "the log must not be empty: nothing would be tested"
    leaks = [(value[:16], line[:200]) for value in s.values for line in lines if value in line]
    assert leaks == []
    # Secrets split by JSON escaping or percent-encoding would hide from a plain search: check those too.
    for value in s.values:
        assert json.dumps(value)[1:-1] not in text
    assert len(s.values) > 30
    assert any("too_many_requests" in line for line in lines) and any("server_error" in line for line in lines)
