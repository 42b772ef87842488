"""Reproducible benchmark of Credo's hot endpoints.

    python bench/run.py                                   # 100 clients, 1 worker
    python bench/run.py --clients 100,1000000 --workers 1,2
    python bench/run.py --peer                            # also the side-by-side ratios (peer.py)
    python bench/run.py --database postgresql://postgres@127.0.0.1:5432/   # the same on PostgreSQL

For every (clients, workers) combination it seeds the clients into a temporary SQLite data dir (with
`--database`, into a new database it creates on that PostgreSQL server and drops at the end), starts
`credo serve` on it, drives each hot endpoint with wrk and prints requests/s with p50/p99 latency,
the start-up time and the server's resident memory. Results go to bench/results/latest.md.

Workloads: `cc` (client credentials, stateless ES256 JWT, one client), `cc-spread` (the same, each
request from one of up to 1000 seeded clients picked at random, so cache misses reach the database),
`introspect` (a real token, introspected by its client), `register` (open dynamic registration, only
when the server offers it). Requires wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.seed import seed_client_id, seed_clients, seed_secret  # noqa: E402
from credo.app import build_services, open_storage  # noqa: E402
from credo.management.clients import create_client  # noqa: E402
from credo.management.demo import ensure_demo  # noqa: E402
from credo.settings import Settings  # noqa: E402

MASTER_KEY = "credo-bench-master-key-0123456789abcdef0123456789"
REALM = "alpha"
REALM_PATH = f"/am/oauth2/realms/root/realms/{REALM}"
FORM = "application/x-www-form-urlencoded"
REGISTER_BODY = {"grant_types": ["client_credentials"], "response_types": ["token"],
                 "redirect_uris": ["https://example.com/callback"], "client_name": "Bench Client",
                 "token_endpoint_auth_method": "client_secret_post"}
SPREAD = 1000
FRESH_PKJWT = "<fresh private_key_jwt assertions>"  # a script made anew for each wrk run
PKJWT_ASSERTIONS = 60_000  # cc-pkjwt: one single-use assertion per request, signed before the run
PKJWT_KEY = ec.generate_private_key(ec.SECP256R1())  # bench-pkjwt's key (ES256), registered by prepare()


@dataclass
class Result:
    workload: str
    clients: int
    workers: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _env(data_dir: Path, database: str | None) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, CREDO_DATA_DIR=str(data_dir), CREDO_MASTER_KEY=MASTER_KEY,
               CREDO_LOG_LEVEL="warning")
    env.pop("CREDO_DATABASE_URL", None)
    if database is not None:
        env["CREDO_DATABASE_URL"] = database
    return env


def create_database(server_url: str) -> str:
    """A new, empty database on the PostgreSQL server of `server_url`; returns its psycopg URL."""
    import psycopg

    base = server_url.replace("postgresql+psycopg://", "postgresql://").rstrip("/")
    if base.count("/") > 2:  # a database named in the URL: the new one goes beside it
        base = base.rsplit("/", 1)[0]
    name = f"credo_bench_{os.getpid()}_{random.randrange(1 << 30)}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"


def drop_database(url: str) -> None:
    import psycopg

    base, name = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(data_dir: Path, clients: int, database: str | None) -> tuple[str, str]:
    """Schema, demo realms and clients; returns bench-client's secret and a seeding note."""
    os.environ.update(_env(data_dir, database))
    if database is None:
        os.environ.pop("CREDO_DATABASE_URL", None)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    storage = open_storage(settings)
    services = build_services(settings, storage, base_url="http://127.0.0.1")
    creds = {c.client_id: c.client_secret for c in ensure_demo(services)}
    hasher = services.hasher
    create_client(services, REALM, "bench-pkjwt", auth_method="private_key_jwt", scopes=("data-read",),
                  keys={"jwks": {"keys": [{**json.loads(ECAlgorithm.to_jwk(PKJWT_KEY.public_key())), "kid": "bench-1",
                                           "alg": "ES256"}]}})
    storage.close()
    added, took = seed_clients(database or data_dir / "credo.db", REALM, clients, hasher)
    return creds["bench-client"], f"seeded {added} clients in {took:.1f} s" if added else ""


def start_server(data_dir: Path, port: int, workers: int, database: str | None) -> tuple[subprocess.Popen[bytes], float]:
    cmd = [sys.executable, "-m", "credo.cli.main", "serve", "--port", str(port), "--workers", str(workers)]
    began = time.monotonic()
    proc = subprocess.Popen(cmd, env=_env(data_dir, database), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}{REALM_PATH}/.well-known/openid-configuration"
    while time.monotonic() - began < 30:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return proc, time.monotonic() - began
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("server exited during start-up") from None
            time.sleep(0.02)
    stop_server(proc)
    raise SystemExit("server did not start within 30 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (MiB)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total / 1024


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def lua_static(body: str, content_type: str) -> str:
    return f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "{content_type}"\n'


def lua_spread(bodies: list[str]) -> str:
    items = ",\n".join(json.dumps(b) for b in bodies)
    return ("local bodies = {\n" + items + "\n}\n"
            'local headers = {["Content-Type"] = "' + FORM + '"}\n'
            "request = function()\n"
            "  return wrk.format(\"POST\", nil, headers, bodies[math.random(#bodies)])\n"
            "end\n")


def lua_sequence(bodies: list[str]) -> str:
    """Each body once, in order (single-use assertions); past the last one, requests repeat (and fail)."""
    items = ",\n".join(json.dumps(b) for b in bodies)
    return ("local bodies = {\n" + items + "\n}\n"
            'local headers = {["Content-Type"] = "' + FORM + '"}\n'
            "local i = 0\n"
            "request = function()\n"
            "  i = i % #bodies + 1\n"
            "  return wrk.format(\"POST\", nil, headers, bodies[i])\n"
            "end\n")


def pkjwt_bodies(base: str, count: int) -> list[str]:
    """Client credentials with private_key_jwt (ES256), each with a fresh jti, audience the issuer."""
    now = int(time.time())
    return [urllib.parse.urlencode({
        "grant_type": "client_credentials", "scope": "data-read",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt.encode({"iss": "bench-pkjwt", "sub": "bench-pkjwt", "aud": base, "exp": now + 590,
                                        "iat": now, "jti": uuid.uuid4().hex}, PKJWT_KEY, algorithm="ES256",
                                       headers={"kid": "bench-1"})}) for _ in range(count)]


def wrk(url: str, script: str, seconds: int, connections: int) -> tuple[float, float, float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name, url],
                             capture_output=True, text=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, _latency(out, "50%"), _latency(out, "99%"), _bad(out)


def _latency(out: str, pct: str) -> float:
    m = re.search(pct + r"\s+([\d.]+)(us|ms|s)\b", out)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")


def _bad(out: str) -> int:
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return int(m.group(1)) if m else 0


def workloads(base: str, secret: str, clients: int) -> dict[str, tuple[str, str]]:
    cc = {"grant_type": "client_credentials", "client_id": "bench-client", "client_secret": secret,
          "scope": "data-read"}
    status, body = post(f"{base}/access_token", urllib.parse.urlencode(cc).encode(), FORM)
    if status != 200:
        raise SystemExit(f"bench-client cannot get a token: HTTP {status}")
    intro = {"token": str(body["access_token"]), "client_id": "bench-client", "client_secret": secret}
    picks = random.Random(7).sample(range(clients), min(SPREAD, clients))
    spread = [urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": seed_client_id(i),
                                      "client_secret": seed_secret(i), "scope": "data-read"}) for i in picks]
    todo = {"cc": (f"{base}/access_token", lua_static(urllib.parse.urlencode(cc), FORM)),
            "introspect": (f"{base}/introspect", lua_static(urllib.parse.urlencode(intro), FORM))}
    if spread:
        todo["cc-spread"] = (f"{base}/access_token", lua_spread(spread))
    todo["cc-pkjwt"] = (f"{base}/access_token", FRESH_PKJWT)  # new assertions for every run (each is single-use)
    reg = json.dumps(REGISTER_BODY)
    if post(f"{base}/register", reg.encode(), "application/json")[0] == 201:
        todo["register"] = (f"{base}/register", lua_static(reg, "application/json"))
    return todo


@dataclass
class Server:
    clients: int
    workers: int
    port: int
    data_dir: Path
    database: str | None = None
    secret: str = ""
    proc: subprocess.Popen[bytes] | None = None
    todo: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}{REALM_PATH}"


def start_all(args: argparse.Namespace, root: Path, run: Run) -> list[Server]:
    servers: list[Server] = []
    for clients in args.clients:
        data_dir = root / f"clients-{clients}"
        data_dir.mkdir()
        database = create_database(args.database) if args.database else None
        if database is not None:
            args.created.append(database)
        secret, note = prepare(data_dir, clients, database)
        run.notes.append(f"{clients} clients: {note or 'no seeding needed'}")
        print(f"  {run.notes[-1]}", flush=True)
        for workers in args.workers:
            srv = Server(clients, workers, args.port + len(servers), data_dir, database, secret)
            srv.proc, startup = start_server(data_dir, srv.port, workers, database)
            servers.append(srv)
            run.notes.append(f"{clients} clients, {workers} worker(s): start-up {startup:.2f} s")
            print(f"  {run.notes[-1]}", flush=True)
    time.sleep(1.0)  # let every worker finish importing
    for srv in servers:
        srv.todo = {k: v for k, v in workloads(srv.base, srv.secret, srv.clients).items()
                    if not args.only or k in args.only}
    return servers


def measure(servers: list[Server], args: argparse.Namespace, run: Run) -> None:
    """Each workload on every server in turn, `rounds` times (A B A B: a drifting machine hurts all
    alike); the median of the rounds is reported."""
    names = [n for n in ("cc", "introspect", "cc-pkjwt", "cc-spread", "register") if any(n in s.todo for s in servers)]
    for name in names:
        samples: dict[int, list[tuple[float, float, float, int]]] = {s.port: [] for s in servers}
        for _ in range(args.rounds):
            for srv in servers:
                if name in srv.todo:
                    url, script = srv.todo[name]
                    if script == FRESH_PKJWT:
                        script = lua_sequence(pkjwt_bodies(srv.base, PKJWT_ASSERTIONS))
                    samples[srv.port].append(wrk(url, script, args.seconds, args.connections))
        for srv in servers:
            got = samples[srv.port]
            if not got:
                continue
            rps, p50, p99 = (statistics.median(x[i] for x in got) for i in range(3))
            bad = sum(x[3] for x in got)
            run.results.append(Result(name, srv.clients, srv.workers, rps, p50, p99, bad))
            print(f"  {name:11s} clients={srv.clients:<8d} workers={srv.workers}  {rps:8.0f} req/s"
                  f"  p50 {p50:6.2f} ms  p99 {p99:7.2f} ms" + (f"  NON-2XX {bad}" if bad else ""), flush=True)


def run_peer(base: str, secret: str, args: argparse.Namespace) -> str:
    peer = Path(args.peer_script)
    names = "cc,introspect" + (",register" if post(f"{base}/register", json.dumps(REGISTER_BODY).encode(),
                                                   "application/json")[0] == 201 else "")
    out = subprocess.run([sys.executable, str(peer), "--ours-base", base, "--client-id", "bench-client",
                          "--client-secret", secret, "--workloads", names], capture_output=True, text=True,
                         timeout=1800)
    print(out.stdout, out.stderr[-2000:], flush=True)
    return "```\n" + out.stdout.strip() + "\n```"


def write_markdown(run: Run, args: argparse.Namespace, path: Path) -> None:
    load = os.getloadavg()
    lines = [f"# Benchmark results ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `python bench/run.py {' '.join(sys.argv[1:])}`  ",
             f"Machine: {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}, "
             f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}  ",
             f"wrk: 1 thread, {args.connections} connections, {args.seconds} s per run; "
             + ("PostgreSQL (a new database per set-up)." if args.database
                else "SQLite (WAL, synchronous=NORMAL) in a temporary data dir."), "",
             "| workload | clients | workers | req/s | p50 ms | p99 ms | non-2xx |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.workload} | {r.clients:,} | {r.workers} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
              f"| {r.errors} |" for r in run.results]
    lines += ["", "Each workload ran on every set-up in turn, " + f"{args.rounds} rounds (A B A B), median shown.", "",
              *[f"- {n}" if not n.startswith("peer") else "\n" + n for n in run.notes], ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default="100", help="comma-separated client counts, e.g. 100,1000000")
    p.add_argument("--workers", default="1", help="comma-separated worker counts, e.g. 1,2")
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds per workload (median reported)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--port", type=int, default=8190)
    p.add_argument("--only", default="", help="comma-separated workloads to run (default: all)")
    p.add_argument("--peer", action="store_true", help="also run peer.py (side-by-side ratios) on the first set-up")
    p.add_argument("--peer-script", default=str(ROOT.parent / "shared" / "bench" / "peer.py"))
    p.add_argument("--out", default=str(HERE / "results" / "latest.md"))
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    p.add_argument("--database", default=None,
                   help="a PostgreSQL server (postgresql://user@host:port/): each set-up gets a new database there, "
                        "dropped at the end; default: a SQLite file in the temporary data dir")
    args = p.parse_args()
    args.created = []
    args.clients = sorted(int(c) for c in args.clients.split(","))
    args.workers = [int(w) for w in args.workers.split(",")]
    args.only = [w for w in args.only.split(",") if w]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is required: apt-get install wrk")
    root = Path(tempfile.mkdtemp(prefix="credo-bench-"))
    run = Run()
    servers: list[Server] = []
    try:
        servers = start_all(args, root, run)
        measure(servers, args, run)
        for srv in servers:
            assert srv.proc is not None
            run.notes.append(f"{srv.clients} clients, {srv.workers} worker(s): resident memory after the run "
                             f"{rss_mb(srv.proc.pid):.0f} MiB (all processes)")
        if args.peer:
            run.notes.append("peer.py (first set-up):\n\n" + run_peer(servers[0].base, servers[0].secret, args))
    finally:
        for srv in servers:
            if srv.proc is not None:
                stop_server(srv.proc)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
            for database in args.created:
                drop_database(database)
    write_markdown(run, args, Path(args.out))
    print(f"results written to {args.out}")
    return 0 if all(r.errors == 0 for r in run.results) else 1


if __name__ == "__main__":
    sys.exit(main())
