#!/usr/bin/env python3
"""Token-exchange throughput (RFC 8693) against a running Credo server.

Usage (Credo started with `credo serve --demo`; run this with the same environment, so that the
set-up commands reach the same database):

    python bench/exchange_load.py --base http://127.0.0.1:8080/am/oauth2/realms/root/realms/alpha

It creates, with the `credo` CLI, an application, a user and two AI agents (one issuing client-side
JWTs, one opaque tokens) with their policies, takes one subject token per flow, then loads the token
endpoint with wrk: each request is one full exchange (client authentication, subject token check,
policy decision, audit record, token issuance). A client-credentials load by the same agent runs
interleaved as the baseline. Prints the median requests/s and p99 latency over the rounds, and failures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import uuid

TE = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
FORM = "application/x-www-form-urlencoded"


def cli(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "credo.cli.main", *args], check=True, capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def post(url: str, fields: dict[str, str]) -> dict[str, object]:
    req = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), headers={"Content-Type": FORM})
    with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
        return json.loads(resp.read())


def load(url: str, body: str, seconds: int, connections: int) -> tuple[float, float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "{FORM}"\n')
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name, url],
                             capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    finally:
        os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, p99, int(bad.group(1)) if bad else 0


def peer_cc(args: argparse.Namespace, agent: dict[str, str]) -> tuple[float, float, int]:
    """One round of peer.py's `cc` workload; the peer's requests/s, p99 and failures."""
    out = subprocess.run([sys.executable, args.peer_script, "--ours-base", args.base, "--client-id",
                          agent["client_id"], "--client-secret", agent["client_secret"], "--scope", "monitor",
                          "--workloads", "cc", "--rounds", "1", "--seconds", str(args.seconds),
                          "--connections", str(args.connections), "--json"],
                         capture_output=True, text=True, timeout=args.seconds * 4 + 120, check=False)
    row = json.loads(out.stdout.strip().splitlines()[-1])["cc"]
    return row["peer_rps"], row["peer_p99_ms"], int(row["peer_errors"])


def setup(realm: str, tag: str) -> dict[str, dict[str, str]]:
    app, user = f"bench-app-{tag}", f"bench-user-{tag}"
    app_secret = cli("app", "create", realm, app, "--type", "web", "--scope", "read-data write-data",
                     "--grant", "password", "--grant", "client_credentials", "--secret", f"app-secret-{tag}")
    cli("user", "create", realm, user, "--password", f"user-password-{tag}")
    agents = {}
    for fmt in ("jwt", "opaque"):
        agent = f"bench-agent-{fmt}-{tag}"
        flags = ["--stateless"] if fmt == "jwt" else []
        created = cli("agent", "create", realm, agent, "--scope", "monitor", "--overrides", "--accept-audience", *flags)
        cli("agent", "policy", realm, agent, app, "--subject", user, "--permission", "read-data")
        agents[fmt] = {"client_id": agent, "client_secret": str(created["client_secret"])}
    return {"app": {"client_id": app, "client_secret": str(app_secret["client_secret"]), "user": user,
                    "password": f"user-password-{tag}"}, **agents}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="realm base URL of the running Credo server")
    p.add_argument("--realm", default="alpha")
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--peer-script", default="", help="peer.py: after each round, run its `cc` workload (peer and "
                   "ours) once, and print each exchange's ratio to the peer's client credentials")
    args = p.parse_args()
    parties = setup(args.realm, uuid.uuid4().hex[:8])
    app = parties["app"]
    token_url = f"{args.base}/access_token"
    user_token = post(token_url, {"grant_type": "password", "username": app["user"], "password": app["password"],
                                  "client_id": app["client_id"], "client_secret": app["client_secret"]})["access_token"]
    loads: dict[str, str] = {}
    for fmt in ("jwt", "opaque"):
        agent = parties[fmt]
        cc = {"grant_type": "client_credentials", **agent}
        own = post(token_url, cc)["access_token"]
        loads[f"client_credentials ({fmt} tokens, baseline)"] = urllib.parse.urlencode(cc)
        for flow, subject in (("autonomous", own), ("on-behalf-of", user_token)):
            fields = {"grant_type": TE, "subject_token": str(subject), "subject_token_type": AT,
                      "audience": app["client_id"], "scope": "read-data", **agent}
            post(token_url, fields)  # fail fast if the set-up is wrong
            loads[f"exchange {flow} ({fmt} tokens)"] = urllib.parse.urlencode(fields)
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in loads}
    if args.peer_script:
        runs["peer cc (node-oidc-provider)"] = []
    for _ in range(args.rounds):  # interleaved, so that a drifting machine hurts every workload alike
        for name, body in loads.items():
            runs[name].append(load(token_url, body, args.seconds, args.connections))
        if args.peer_script:
            runs["peer cc (node-oidc-provider)"].append(peer_cc(args, parties["jwt"]))
    results: dict[str, dict[str, float]] = {}
    for name, samples in runs.items():
        rps = statistics.median(r for r, _, _ in samples)
        p99 = statistics.median(p for _, p, _ in samples)
        bad = sum(b for _, _, b in samples)
        results[name] = {"rps": rps, "p99_ms": p99, "failed": bad}
        print(f"{name:45s} {rps:9.1f} req/s   p99 {p99:8.1f} ms   failed {bad}")
    peer = results.get("peer cc (node-oidc-provider)")
    if peer:
        for name, row in results.items():
            if name.startswith("exchange"):
                print(f"ratio {name} / peer cc: {row['rps'] / peer['rps']:.2f}   "
                      f"p99 {row['p99_ms']:.1f} ms vs {peer['p99_ms']:.1f} ms")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
