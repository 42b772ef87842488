"""In-process cost of one request through the whole ASGI app (no sockets, no load generator).

    python bench/micro.py [--n 5000] [--profile] [--concurrency 8] [--database-url postgresql://...]

Machine load from other processes barely affects these numbers (they are CPU time per request of
the server's own code), so they are the ones to compare before and after a change.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from credo.app import build_app
from credo.management.agent_demo import DEMO_USER, ensure_agent_demo
from credo.management.clients import create_client
from credo.management.demo import ensure_demo
from credo.settings import Settings

REALM = "/am/oauth2/realms/root/realms/alpha"
TE = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
REGISTER = orjson.dumps({"grant_types": ["client_credentials"], "response_types": ["token"],
                         "redirect_uris": ["https://example.com/callback"], "client_name": "Bench Client",
                         "token_endpoint_auth_method": "client_secret_post"})


def _scope(path: str, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    kind = b"application/json" if body.startswith(b"{") else b"application/x-www-form-urlencoded"
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", kind),
                        (b"content-length", str(len(body)).encode()), *(extra or ())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8123)}


async def call(app: Any, path: str, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(path, body, extra), receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def _token(app: Any, fields: dict[str, str]) -> str:
    status, out = await call(app, REALM + "/access_token", urlencode(fields).encode())
    assert status == 200, out
    return str(orjson.loads(out)["access_token"])


async def exchange_bodies(app: Any, creds: dict[str, str]) -> dict[str, bytes]:
    """An autonomous exchange (the agent's own token) and an on-behalf-of exchange (a user's token)."""
    bot = {"client_id": "bot-traffic-analyzer", "client_secret": creds["bot-traffic-analyzer"]}
    own = await _token(app, {"grant_type": "client_credentials", **bot})
    assistant = {"client_id": "digital-assistant-ai-agent", "client_secret": creds["digital-assistant-ai-agent"]}
    user = await _token(app, {"grant_type": "password", "username": DEMO_USER, "password": creds[DEMO_USER],
                              "client_id": "digital-assistant-web-app",
                              "client_secret": creds["digital-assistant-web-app"], "scope": "read-data"})
    return {
        "xchg-auto": urlencode({"grant_type": TE, "subject_token": own, "subject_token_type": AT,
                                "audience": "access-log-api", "scope": "logs-read", **bot}).encode(),
        "xchg-obo": urlencode({"grant_type": TE, "subject_token": user, "subject_token_type": AT,
                               "audience": "digital-assistant-web-app", "scope": "read-data", **assistant}).encode(),
    }


def dpop_proofs(count: int, url: str) -> Iterator[list[tuple[bytes, bytes]]]:
    """`DPoP` headers of one client key, each with its own jti (made before the clock starts; RFC 9449)."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = orjson.loads(ECAlgorithm.to_jwk(key.public_key()))
    now = int(time.time())
    proofs = [jwt.encode({"jti": os.urandom(12).hex(), "htm": "POST", "htu": url, "iat": now}, key, algorithm="ES256",
                         headers={"typ": "dpop+jwt", "jwk": jwk}) for _ in range(count)]
    return iter([[(b"dpop", p.encode())] for p in proofs])


async def run(n: int, profile: bool, only: set[str], concurrency: int = 1, database_url: str | None = None,
              sort: str = "tottime") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), master_key="micro-bench-master-key-0123456789abcdef",
                            database_url=database_url, _env_file=None)  # type: ignore[call-arg]
        app = build_app(settings, base_url="http://127.0.0.1:8123")
        services = app.state.services
        creds = {c.client_id: c.client_secret for c in ensure_demo(services) + ensure_agent_demo(services)}
        cc = urlencode({"grant_type": "client_credentials", "client_id": "bench-client",
                        "client_secret": creds["bench-client"], "scope": "data-read"}).encode()
        status, out = await call(app, REALM + "/access_token", cc)
        assert status == 200, out
        token = orjson.loads(out)["access_token"]
        intro = urlencode({"token": token, "client_id": "bench-client",
                           "client_secret": creds["bench-client"]}).encode()
        cc_stateful = urlencode({"grant_type": "client_credentials", "client_id": "demo-client",
                                 "client_secret": creds["demo-client"], "scope": "data-read"}).encode()
        xchg = await exchange_bodies(app, creds)
        proofs = dpop_proofs(n + 200 + concurrency, "http://127.0.0.1:8123" + REALM + "/access_token") \
            if "cc_dpop" in only else None
        pkjwt = pkjwt_bodies(services, n + 200 + concurrency) if not only or "cc-pkjwt" in only else []
        cases: list[tuple[str, str, bytes | list[bytes]]] = [
                 ("cc", "/access_token", cc), ("cc_dpop", "/access_token", cc), ("introspect", "/introspect", intro),
                 ("cc-pkjwt", "/access_token", pkjwt),
                 ("cc-stateful", "/access_token", cc_stateful), ("register", "/register", REGISTER),
                 *((name, "/access_token", body) for name, body in xchg.items())]
        for name, path, given in cases:
            if (only and name not in only) or (name == "cc_dpop" and proofs is None):
                continue
            bodies = iter(given) if isinstance(given, list) else None
            extra = proofs if name == "cc_dpop" else None  # a fresh proof per request

            def next_body(fixed: bytes | list[bytes] = given, each: Any = bodies) -> bytes:
                return next(each) if each is not None else fixed  # type: ignore[return-value]

            for _ in range(200):
                await call(app, REALM + path, next_body(), next(extra) if extra else None)
            prof = cProfile.Profile() if profile else None
            start = time.process_time()
            if prof:
                prof.enable()
            rounds = n // concurrency
            for _ in range(rounds):  # `concurrency` requests at once, as one event-loop step sees them
                if concurrency == 1:
                    status, out = await call(app, REALM + path, next_body(), next(extra) if extra else None)
                else:
                    status, out = (await asyncio.gather(*(call(app, REALM + path, next_body(),
                                                               next(extra) if extra else None)
                                                          for _ in range(concurrency))))[-1]
            if prof:
                prof.disable()
            took = time.process_time() - start
            assert status in (200, 201) and b'"active":false' not in out, out
            assert name != "cc_dpop" or b'"token_type":"DPoP"' in out, out
            done = rounds * concurrency
            print(f"{name:12s} {took / done * 1e6:7.1f} us CPU/request  ({done / took:8.0f} req/s in-process)")
            if prof:
                pstats.Stats(prof).sort_stats(sort).print_stats(40)


def pkjwt_bodies(services: Any, count: int) -> list[bytes]:
    """Client credentials authenticated with private_key_jwt (ES256): a client registered with its public
    key, and `count` request bodies, each with a fresh assertion (a new jti: each is single-use). The
    assertions are signed before the clock starts: the client's signing is not the server's cost."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**orjson.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": "bench-1", "alg": "ES256"}
    if services.storage.clients.get("alpha", "bench-pkjwt") is None:
        create_client(services, "alpha", "bench-pkjwt", auth_method="private_key_jwt", scopes=("data-read",),
                      keys={"jwks": {"keys": [jwk]}})
    aud = f"http://127.0.0.1:8123{REALM}"
    now = int(time.time())
    return [urlencode({"grant_type": "client_credentials", "scope": "data-read", "client_assertion_type":
                       "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": jwt.encode(
                           {"iss": "bench-pkjwt", "sub": "bench-pkjwt", "aud": aud, "exp": now + 300, "iat": now,
                            "jti": uuid.uuid4().hex}, key, algorithm="ES256", headers={"kid": "bench-1"})}).encode()
            for _ in range(count)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--sort", default="tottime", help="order of the profile (tottime, cumulative, ...)")
    p.add_argument("--only", default="", help="comma-separated case names (cc,introspect,cc-pkjwt,cc-stateful,"
                                              "register,xchg-auto,xchg-obo; cc_dpop only when named: cc with a DPoP proof)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="requests started together (default 1: one after the other); shows what batching saves")
    p.add_argument("--database-url", default=None,
                   help="run against this database (e.g. an empty PostgreSQL database) instead of a temporary SQLite file")
    args = p.parse_args()
    asyncio.run(run(args.n, args.profile, {c for c in args.only.split(",") if c}, max(1, args.concurrency),
                    args.database_url, args.sort))


if __name__ == "__main__":
    main()
