"""The realm's `signing_alg` decides its keys: the first key of a realm created with RS256 (admin API,
import) is RS256, a rotation without an algorithm follows the setting (use case, admin API, CLI), and a
change of the setting makes the realm sign with the new algorithm."""

from __future__ import annotations

from pathlib import Path

from credo.management.export import import_document
from credo.management.keys import rotate_key
from credo.management.realms import patch_settings
from tests.http.admin_support import Admin
from tests.procs import cli_json
from tests.support import Server


def _algs(server: Server, realm: str) -> list[str]:
    return [k.alg for k in server.services.storage.keys.all(realm)]


def test_realm_created_with_rs256_gets_only_an_rs256_key(sqlite_server: Server) -> None:
    admin = Admin(sqlite_server)
    try:
        r = admin("POST", "/realms", {"name": "rsa", "settings": {"signing_alg": "RS256"}})
        assert r.status_code == 201, r.text
        assert [k["alg"] for k in admin("GET", "/realms/rsa/keys").json()] == ["RS256"]
        assert admin("POST", "/realms/rsa/keys/rotate").json()["alg"] == "RS256"
    finally:
        admin.close()
    assert _algs(sqlite_server, "rsa") == ["RS256", "RS256"]


def test_imported_realm_with_rs256_gets_an_rs256_key(sqlite_server: Server) -> None:
    import_document(sqlite_server.services, {"realm": "imported", "settings": {"signing_alg": "RS256"}})
    assert _algs(sqlite_server, "imported") == ["RS256"]
    assert sqlite_server.services.keys.signing_alg("imported") == "RS256"


def test_rotation_follows_the_realm_setting(sqlite_server: Server, tmp_path: Path) -> None:
    services = sqlite_server.services
    patch_settings(services, "root", {"signing_alg": "RS256"})  # the realm now signs with RS256
    assert services.keys.signing_alg("root") == "RS256"
    assert rotate_key(services, "root")["alg"] == "RS256"
    assert cli_json(tmp_path, "keys", "rotate", "root")["alg"] == "RS256"
    assert cli_json(tmp_path, "keys", "rotate", "root", "--alg", "ES256")["alg"] == "ES256"  # asked for: given
