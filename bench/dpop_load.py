"""HTTP throughput of client credentials with a secret, with DPoP, and with private_key_jwt, against a
running Credo, with wrk.

    python bench/dpop_load.py --base http://127.0.0.1:8080/am/oauth2/realms/root/realms/alpha \
        --client-id bench-client --client-secret '...' [--seconds 6] [--connections 32] [--rounds 2] \
        [--pkjwt-client-id ID --pkjwt-key key.pem]

With `--pkjwt-client-id` and `--pkjwt-key` (the PEM private key of a client registered with
`private_key_jwt` and the matching public key), a third workload sends a client assertion (RFC 7523 §2.2)
instead of a secret; every assertion has its own `jti` (single use), so they are signed in advance too.

Every DPoP request needs a proof of its own (a replayed `jti` is refused), so the proofs are signed
before the load starts (one ES256 key, as one agent would hold) and wrk sends one per request from a Lua
script; a run longer than the proofs' 300-second window is refused by the server, not measured. The two
workloads alternate (A B A B) so that a drifting machine hurts both alike. Same wrk options as the
side-by-side comparison with a peer server (one thread, 32 connections, 6 seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

BODIES = """
local bodies, i = {}, 0
for line in io.lines(%(file)s) do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  i = i + 1
  if i > #bodies then i = 1 end
  return wrk.format(nil, nil, nil, bodies[i])
end
"""
LUA = """
local proofs, i = {}, 0
for line in io.lines(%(file)s) do proofs[#proofs + 1] = line end
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  i = i + 1
  if i > #proofs then i = 1 end
  return wrk.format(nil, nil, {["Content-Type"] = "application/x-www-form-urlencoded", ["DPoP"] = proofs[i]})
end
"""
PLAIN = """
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def proofs(count: int, url: str) -> list[str]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    now = int(time.time())
    return [jwt.encode({"jti": os.urandom(12).hex(), "htm": "POST", "htu": url, "iat": now}, key, algorithm="ES256",
                       headers={"typ": "dpop+jwt", "jwk": jwk}) for _ in range(count)]


def assertions(count: int, client_id: str, audience: str, key_pem: bytes, scope: str) -> list[str]:
    """Token request bodies of a private_key_jwt client, each with an assertion of its own."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    now = int(time.time())
    return [urlencode({"grant_type": "client_credentials", "scope": scope,
                       "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                       "client_assertion": jwt.encode({"iss": client_id, "sub": client_id, "aud": audience,
                                                       "jti": os.urandom(12).hex(), "iat": now, "exp": now + 300},
                                                      key, algorithm=alg)})  # type: ignore[arg-type]
            for _ in range(count)]


def run_wrk(url: str, script: str, seconds: int, connections: int) -> tuple[float, str, int]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99.group(1) if p99 else "?", int(bad.group(1)) if bad else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="realm base URL (as discovery shows it: the proofs' htu)")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--scope", default="data-read")
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--proofs", type=int, default=60000, help="proofs signed in advance (one per request)")
    p.add_argument("--pkjwt-client-id", default=None, help="a client registered with private_key_jwt")
    p.add_argument("--pkjwt-key", default=None, help="its private key (PEM)")
    p.add_argument("--issuer", default=None, help="the assertions' aud (default: the token endpoint URL)")
    args = p.parse_args()
    url = args.base.rstrip("/") + "/access_token"
    body = urlencode({"grant_type": "client_credentials", "client_id": args.client_id,
                      "client_secret": args.client_secret, "scope": args.scope})
    results: dict[str, list[tuple[float, str, int]]] = {"cc": [], "cc_dpop": []}
    if args.pkjwt_client_id:
        results["cc_pkjwt"] = []
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp, "plain.lua")
        plain.write_text(PLAIN % {"body": json.dumps(body)})
        for _ in range(args.rounds):
            results["cc"].append(run_wrk(url, str(plain), args.seconds, args.connections))
            lines = Path(tmp, "proofs.txt")  # fresh proofs each round: the window and the replay cache
            lines.write_text("\n".join(proofs(args.proofs, url)) + "\n")
            script = Path(tmp, "dpop.lua")
            script.write_text(LUA % {"file": json.dumps(str(lines)), "body": json.dumps(body)})
            results["cc_dpop"].append(run_wrk(url, str(script), args.seconds, args.connections))
            if args.pkjwt_client_id:
                bodies = Path(tmp, "assertions.txt")
                bodies.write_text("\n".join(assertions(args.proofs, args.pkjwt_client_id, args.issuer or url,
                                                        Path(args.pkjwt_key).read_bytes(), args.scope)) + "\n")
                signed = Path(tmp, "pkjwt.lua")
                signed.write_text(BODIES % {"file": json.dumps(str(bodies))})
                results["cc_pkjwt"].append(run_wrk(url, str(signed), args.seconds, args.connections))
    for name, runs in results.items():
        rps = [r for r, _, _ in runs]
        print(f"{name:8s} {sum(rps) / len(rps):8.0f} req/s  (rounds: {', '.join(f'{r:.0f}' for r in rps)}; "
              f"p99 {', '.join(p for _, p, _ in runs)}; non-2xx {sum(b for _, _, b in runs)})")


if __name__ == "__main__":
    main()
