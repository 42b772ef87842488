"""Abuse soak: a bounded run of a hostile request mix against a real `credo serve` process.

    python bench/soak.py [--duration 120] [--fraction 0.5] [--threads 8] [--calibrate 10] [--rate N]

1. starts a server on a temporary data directory (SQLite) with the demo realm;
2. measures capacity: the closed-loop request rate of the mix for `--calibrate` seconds;
3. runs the mix open-loop at `--fraction` of that rate (or `--rate` requests/s) for `--duration` seconds,
   sampling the server's resident memory (RSS) every 5 seconds;
4. prints unexpected answers (5xx, transport errors, statuses outside each request's expected set) and
   the RSS series; exits 1 on any unexpected answer or when RSS grew more than `--max-growth-mb`.

The mix: token requests (stateful and stateless), introspection, tokeninfo, revocation, wrong secrets
(which run into the failed-authentication throttle), garbage tokens, malformed and oversized bodies,
and dynamic registrations followed by their deletion. Not part of CI.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MASTER_KEY = "soak-master-key-0123456789abcdef0123456789"
REALM = "/am/oauth2/realms/root/realms/alpha"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

Call = Callable[[httpx.Client], tuple[str, httpx.Response]]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDO_")}
    env.update({"CREDO_DATA_DIR": str(data_dir), "CREDO_MASTER_KEY": MASTER_KEY, "CREDO_LOG_LEVEL": "warning",
                "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])})
    return env


def _demo_credentials(data_dir: Path) -> dict[str, str]:
    os.environ.update(_env(data_dir))
    sys.path[:0] = [str(ROOT / "src")]
    from credo.cli.common import open_services
    from credo.management.demo import ensure_demo

    services = open_services()
    try:
        return {c.client_id: c.client_secret for c in ensure_demo(services)}
    finally:
        services.storage.close()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _mix(base: str, creds: dict[str, str]) -> list[tuple[int, Call]]:
    good = {cid: {"grant_type": "client_credentials", "client_id": cid, "client_secret": s} for cid, s in creds.items()}
    state: dict[str, str] = {}

    def token(cid: str) -> Call:
        def call(http: httpx.Client) -> tuple[str, httpx.Response]:
            r = http.post(f"{base}/access_token", data=good[cid])
            if r.status_code == 200:
                state[cid] = r.json()["access_token"]
            return "token", r
        return call

    def introspect(http: httpx.Client) -> tuple[str, httpx.Response]:
        return "introspect", http.post(f"{base}/introspect", data={"token": state.get("demo-client", "x"),
                                                                   **good["demo-client"]})

    def tokeninfo(http: httpx.Client) -> tuple[str, httpx.Response]:
        return "tokeninfo", http.get(f"{base}/tokeninfo", params={"access_token": state.get("bench-client", "x")})

    def revoke(http: httpx.Client) -> tuple[str, httpx.Response]:
        r = http.post(f"{base}/access_token", data=good["demo-client"])
        return "revoke", http.post(f"{base}/token/revoke", data={"token": r.json()["access_token"],
                                                                 **good["demo-client"]})

    def wrong_secret(http: httpx.Client) -> tuple[str, httpx.Response]:
        # Half aim at a few ids (they run into the throttle: 429), half spray fresh ids (throttle memory).
        cid = f"ghost-{random.randrange(20)}" if random.random() < 0.5 else f"spray-{random.randrange(10**9)}"
        return "wrong_secret", http.post(f"{base}/access_token", data={"grant_type": "client_credentials",
                                                                       "client_id": cid, "client_secret": "nope" * 5})

    def garbage_token(http: httpx.Client) -> tuple[str, httpx.Response]:
        return "garbage_token", http.get(f"{base}/tokeninfo",
                                         headers={"Authorization": f"Bearer {os.urandom(24).hex()}.x.y"})

    def malformed(http: httpx.Client) -> tuple[str, httpx.Response]:
        body = random.choice([b"grant_type=%zz", b"a=1&a=2", b"\xff\xfe\xfd", b"x=" + b"a" * 70_000])
        return "malformed", http.post(f"{base}/access_token", content=body, headers=FORM)

    def register(http: httpx.Client) -> tuple[str, httpx.Response]:
        r = http.post(f"{base}/register", json={"client_name": "soak", "grant_types": ["client_credentials"],
                                                "scope": "data-read", "token_endpoint_auth_method": "client_secret_post"})
        if r.status_code == 201:
            reg = r.json()
            http.delete(reg["registration_client_uri"],
                        headers={"Authorization": f"Bearer {reg['registration_access_token']}"})
        return "register", r

    return [(20, token("demo-client")), (20, token("bench-client")), (15, introspect), (15, tokeninfo),
            (5, revoke), (8, wrong_secret), (8, garbage_token), (5, malformed), (4, register)]


EXPECTED = {"token": {200}, "introspect": {200}, "tokeninfo": {200}, "revoke": {200},
            "wrong_secret": {401, 429}, "garbage_token": {401}, "malformed": {400, 413}, "register": {201}}


class Run:
    def __init__(self, calls: list[tuple[int, Call]]) -> None:
        weighted = [c for w, c in calls for _ in range(w)]
        random.shuffle(weighted)
        self._cycle = itertools.cycle(weighted)
        self._lock = threading.Lock()
        self.done = 0
        self.statuses: Counter[str] = Counter()
        self.unexpected: Counter[str] = Counter()

    def next_call(self) -> Call:
        with self._lock:
            return next(self._cycle)

    def record(self, kind: str, status: int | str) -> None:
        with self._lock:
            self.done += 1
            self.statuses[f"{kind} {status}"] += 1
            if status not in EXPECTED[kind]:
                self.unexpected[f"{kind} {status}"] += 1


def _worker(run: Run, stop: threading.Event, pace: Callable[[], bool]) -> None:
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            if not pace():
                continue
            call = run.next_call()
            try:
                kind, r = call(http)
                run.record(kind, r.status_code)
            except httpx.HTTPError as exc:
                run.record("token", type(exc).__name__)


def _drive(calls: list[tuple[int, Call]], threads: int, seconds: float, rate: float | None,
           on_tick: Callable[[float], None] | None = None) -> Run:
    run = Run(calls)
    stop = threading.Event()
    start = time.monotonic()
    issued = itertools.count()
    lock = threading.Lock()

    def pace() -> bool:
        if rate is None:
            return True
        with lock:
            slot = start + next(issued) / rate
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return not stop.is_set()

    workers = [threading.Thread(target=_worker, args=(run, stop, pace), daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    while time.monotonic() - start < seconds:
        time.sleep(1)
        if on_tick:
            on_tick(time.monotonic() - start)
    stop.set()
    for w in workers:
        w.join(15)
    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=120)
    p.add_argument("--fraction", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--calibrate", type=float, default=10)
    p.add_argument("--rate", type=float, default=None, help="requests/s (skips calibration)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--max-growth-mb", type=float, default=64,
                   help="allowed RSS growth after warm-up (the verified-token cache alone may take ~50 MB)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="credo-soak-") as tmp:
        data_dir = Path(tmp)
        creds = _demo_credentials(data_dir)
        server = subprocess.Popen([sys.executable, "-m", "credo.cli.main", "serve", "--port", str(args.port)],
                                  env=_env(data_dir))
        try:
            base = f"http://127.0.0.1:{args.port}{REALM}"
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/.well-known/openid-configuration").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            calls = _mix(base, creds)
            rate = args.rate
            if rate is None:
                cal = _drive(calls, args.threads, args.calibrate, None)
                capacity = cal.done / args.calibrate
                rate = capacity * args.fraction
                print(f"capacity: {capacity:.0f} req/s (closed loop, {args.threads} threads); soak at {rate:.0f} req/s")
            samples: list[tuple[float, int]] = [(0.0, _rss_kb(server.pid))]

            def tick(elapsed: float) -> None:
                if elapsed - samples[-1][0] >= 5:
                    samples.append((elapsed, _rss_kb(server.pid)))

            run = _drive(calls, args.threads, args.duration, rate, tick)
            samples.append((args.duration, _rss_kb(server.pid)))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(15)

    print(f"requests: {run.done} in {args.duration:.0f} s ({run.done / args.duration:.0f} req/s achieved)")
    for key, n in sorted(run.statuses.items()):
        print(f"  {key}: {n}")
    print("unexpected:", dict(run.unexpected) or "none")
    print("server RSS (MB) every ~5 s:", " ".join(f"{kb / 1024:.0f}" for _, kb in samples))
    warm = samples[min(2, len(samples) - 1)][1]
    growth = (samples[-1][1] - warm) / 1024
    print(f"RSS growth after warm-up: {growth:+.1f} MB")
    return 1 if run.unexpected or growth > args.max_growth_mb else 0


if __name__ == "__main__":
    sys.exit(main())
