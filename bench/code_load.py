#!/usr/bin/env python3
"""Authorization-code redemption throughput (grant_type=authorization_code with PKCE) against a running
Credo server with the code flow enabled (`credo serve --demo` enables it in realm alpha).

    python bench/code_load.py --base http://127.0.0.1:8080/am/oauth2/realms/root/realms/alpha \
        --username bench-user --password <password>      # a user of the realm (`credo user create ...`)

It registers a public client (open dynamic registration), signs the user in once through the real pages
(sign-in form, consent), then mints codes with `prompt=none` (each a real /authorize request on the
signed-in session) and loads /access_token with wrk, one fresh code per request: client identification,
code lookup, single-use burn and tombstone, PKCE check, user check, access token, refresh token, ID token.
Codes live 60 seconds, so each round mints and then redeems. Prints requests/s, p99 latency and failures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

REDIRECT = "http://127.0.0.1/bench-callback"


class _Hidden(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action, self.fields = "", []  # type: str, list[tuple[str, str]]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.action:
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.fields.append((a["name"], a.get("value", "")))


def _submit(http: httpx.Client, page: httpx.Response, **extra: str) -> httpx.Response:
    form = _Hidden()
    form.feed(page.text)
    return http.post(form.action, content=urlencode([*form.fields, *extra.items()]),
                     headers={"content-type": "application/x-www-form-urlencoded"})


def _code(response: httpx.Response) -> str:
    query = parse_qs(urlsplit(response.headers.get("location", "")).query)
    if "code" not in query:
        raise SystemExit(f"no code: {response.status_code} {response.headers.get('location')} {response.text[:300]}")
    return query["code"][0]


def set_up(base: str, username: str, password: str) -> tuple[httpx.Client, dict[str, str], str]:
    """A registered public client and a signed-in, consented browser session; the authorize parameters."""
    http = httpx.Client(timeout=10)
    reg = http.post(f"{base}/register", json={
        "client_name": "code-bench", "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
        "application_type": "native", "scope": "openid"})
    if reg.status_code != 201:
        raise SystemExit(f"registration refused: {reg.status_code} {reg.text[:300]}")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": reg.json()["client_id"], "redirect_uri": REDIRECT,
              "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"}
    page = http.get(f"{base}/authorize", params=params)
    page = _submit(http, page, username=username, password=password)
    if page.status_code == 200:
        page = _submit(http, page, decision="allow")
    _code(page)
    return http, params, verifier


async def mint(base: str, cookies: httpx.Cookies, params: dict[str, str], count: int) -> list[str]:
    """`count` codes, each from a real `prompt=none` authorization request on the session."""
    async with httpx.AsyncClient(timeout=10, cookies=cookies,
                                 limits=httpx.Limits(max_connections=16)) as http:
        sem = asyncio.Semaphore(16)

        async def one() -> str:
            async with sem:
                r = await http.get(f"{base}/authorize", params={**params, "prompt": "none"})
                return _code(r)

        return list(await asyncio.gather(*(one() for _ in range(count))))


def wrk(url: str, bodies: list[str], seconds: int, connections: int) -> tuple[float, float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
                f"local bodies = {{{','.join(json.dumps(b) for b in bodies)}}}\nlocal i = 0\n"
                "request = function()\n  i = i + 1\n  if i > #bodies then i = 1 end\n"
                "  return wrk.format(nil, nil, nil, bodies[i])\nend\n")
        script = f.name
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                             capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(p99m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99m.group(2)] if p99m else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, p99, int(bad.group(1)) if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--codes", type=int, default=20000, help="codes minted per round (each redeemed once)")
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    http, params, verifier = set_up(args.base, args.username, args.password)
    results = []
    for n in range(args.rounds):
        codes = asyncio.run(mint(args.base, http.cookies, params, args.codes))
        bodies = [urlencode({"grant_type": "authorization_code", "code": c, "redirect_uri": REDIRECT,
                             "client_id": params["client_id"], "code_verifier": verifier}) for c in codes]
        rps, p99, bad = wrk(f"{args.base}/access_token", bodies, args.seconds, args.connections)
        used = min(len(codes), int(rps * args.seconds))
        # A body used twice (the run outlasted the codes) is a replay and is refused: count only fresh ones.
        print(f"round {n + 1}: {rps:,.0f} redemptions/s, p99 {p99:.1f} ms, non-2xx {bad} "
              f"({len(codes)} codes minted, ~{used} redeemed)", flush=True)
        results.append((rps, p99, bad))
    print(json.dumps({"workload": "authorization_code redemption", "rps_median": statistics.median(r[0] for r in results),
                      "p99_ms_median": statistics.median(r[1] for r in results),
                      "non_2xx": sum(r[2] for r in results)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
