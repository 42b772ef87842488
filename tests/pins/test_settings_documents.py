"""A settings document is taken as written and bounded: YAML aliases (a few hundred bytes expanding to
megabytes) and duplicate keys are refused on import, and an inline JWK Set a realm trusts must be a small
set of public keys, on import and through the admin API — each refusal names the field, nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credo.management.admins import create_admin
from credo.storage.memory import MemoryStorage
from tests.pins.inprocess import in_process
from tests.procs import cli, run_cli

ALIAS_BOMB = """version: 1
realm: bomb
settings:
  protection:
    software_statement_keys:
      jwks:
        a: &a ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
        e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
"""
DUPLICATE = """version: 1
realm: dup
settings:
  allow_open_registration: false
  allow_open_registration: true
"""
EC_KEY = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
          "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}


@pytest.mark.parametrize("text, message", [
    (ALIAS_BOMB, "settings.protection.software_statement_keys.jwks.b[0]: aliases (*a) are not allowed; "
                 "write the value out (line 8,"),
    (DUPLICATE, "settings.allow_open_registration: duplicate key (line 5,"),
], ids=["alias-bomb", "duplicate-key"])
def test_import_refuses_aliases_and_duplicate_keys(tmp_path: Path, text: str, message: str) -> None:
    doc = tmp_path / "settings.yaml"
    doc.write_text(text, encoding="utf-8")
    done = run_cli(tmp_path, "import", str(doc))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert message in done.stderr, done.stderr
    assert json.loads(cli(tmp_path, "realm", "list", "--json")) == []  # nothing was created


@pytest.mark.parametrize("jwks, message", [
    ({"keys": [EC_KEY], "padding": "x" * 40_000}, "a JWK Set of at most 32768 bytes"),
    ({"keys": [EC_KEY] * 21}, "a 'keys' array of 1 to 20 keys"),
    ({"keys": [{**EC_KEY, "d": "secret"}]}, "private key material is not allowed"),
    ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "an RSA, EC or OKP public key"),
    ({"a": ["x"] * 10}, "a 'keys' array"),
], ids=["oversize", "too-many-keys", "private", "symmetric", "not-a-jwk-set"])
def test_trusted_jwks_must_be_a_small_public_set(tmp_path: Path, jwks: dict[str, object], message: str) -> None:
    with in_process(MemoryStorage(), tmp_path) as app:
        create_admin(app.services, "root-admin", "correct-horse-battery-staple")
        token = app.post("/admin/api/token", json={"username": "root-admin",
                                                   "password": "correct-horse-battery-staple"}).json()["access_token"]
        before = app.services.realm("alpha").settings
        body = {"settings": {"protection": {"software_statement_keys": {"jwks": jwks}}}}
        r = app.run(app.http.put("/admin/api/realms/alpha/config", json=body,
                                 headers={"Authorization": f"Bearer {token}"}))
        assert r.status_code == 400, r.text
        described = json.dumps(r.json())
        assert "protection.software_statement_keys.jwks" in described and message in described, described
        assert app.services.realm("alpha").settings == before
        good = {"settings": {"protection": {"software_statement_keys": {"jwks": {"keys": [EC_KEY]}}}}}
        r = app.run(app.http.put("/admin/api/realms/alpha/config", json=good,
                                 headers={"Authorization": f"Bearer {token}"}))
        assert r.status_code == 200, r.text
