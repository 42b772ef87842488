"""`credo initial-access-token list | show | delete`: the stored dcr_register tokens of a realm, whether each
was used, and revocation before use (the registration is then refused). Against a running server on the
same database, the tokens obtained at its token endpoint."""

from __future__ import annotations

import json
from pathlib import Path

from tests.procs import cli_json, run_cli
from tests.support import Server


def _listed(tmp_path: Path, realm: str = "alpha") -> list[dict[str, object]]:
    done = run_cli(tmp_path, "initial-access-token", "list", realm, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_list_show_and_revoke(sqlite_server: Server, sqlite_demo: dict[str, str], tmp_path: Path) -> None:
    secret = cli_json(tmp_path, "client", "create", "alpha", "onboarding", "--scope", "dcr_register")["client_secret"]
    run_cli(tmp_path, "realm", "settings", "alpha", "--set", '{"allow_open_registration": false}')
    before = _listed(tmp_path)
    with sqlite_server.client() as http:
        def iat() -> str:
            r = http.post(f"{sqlite_server.realm_url()}/access_token", data={
                "grant_type": "client_credentials", "client_id": "onboarding", "client_secret": secret,
                "scope": "dcr_register"})
            assert r.status_code == 200, r.text
            return str(r.json()["access_token"])

        def register(token: str) -> int:
            return http.post(f"{sqlite_server.realm_url()}/register", json={"client_name": "new"},
                             headers={"Authorization": f"Bearer {token}"}).status_code

        used, kept = iat(), iat()
        assert register(used) == 201
        listed = [t for t in _listed(tmp_path) if t not in before]
        assert sorted((t["client_id"], t["used"]) for t in listed) == [("onboarding", False), ("onboarding", True)]
        assert used not in str(listed) and kept not in str(listed)
        [unused] = [t for t in listed if not t["used"]]
        fresh = unused["id"]
        shown = run_cli(tmp_path, "initial-access-token", "show", "alpha", str(fresh), "--json")
        assert json.loads(shown.stdout) == unused
        done = run_cli(tmp_path, "initial-access-token", "delete", "alpha", str(fresh))
        assert done.returncode == 0 and done.stdout.startswith("revoked initial access token"), done.stderr
        assert register(kept) == 401  # revoked before use
    gone = run_cli(tmp_path, "initial-access-token", "show", "alpha", str(fresh))
    assert gone.returncode == 1 and gone.stderr == f"error: id: initial access token '{fresh}' does not exist or expired.\n"
    nosuch = run_cli(tmp_path, "initial-access-token", "list", "nosuch")
    assert nosuch.returncode == 1 and nosuch.stderr == "error: Realm 'nosuch' does not exist.\n"
