"""`credo check`: validate a production configuration before starting the server, and say what to fix.

Each check gives `ok`, `warn` (works, but look at it) or `FAIL` (fix it before production) with the fix.
Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 when a setting is invalid
(as every command). The checks read the same settings and take the same options as `credo serve`.
"""

from __future__ import annotations

import os
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

import typer
from sqlalchemy import make_url

from credo.domain.values import value_object
from credo.settings import LOOPBACK_HOSTS, Settings
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import schema_state


@value_object
class Finding:
    level: str  # "ok" | "warn" | "FAIL"
    what: str
    message: str


def check_public_url(settings: Settings) -> Finding:
    url = settings.public_url
    if not url:
        return Finding("FAIL", "public URL", "CREDO_PUBLIC_URL is not set; the issuer would be the listening "
                                             "address. Set it to the https URL clients use, e.g. "
                                             "https://id.example.com")
    parts = urlsplit(url)
    if parts.scheme != "https":
        return Finding("FAIL", "public URL", f"{url} is not https: tokens and secrets would cross the network in "
                                             "clear. Set CREDO_PUBLIC_URL to an https URL (TLS at the proxy).")
    if parts.hostname in LOOPBACK_HOSTS:
        return Finding("FAIL", "public URL", f"{url} is a loopback address: no other host can reach it. Set "
                                             "CREDO_PUBLIC_URL to the public name.")
    return Finding("ok", "public URL", url.rstrip("/"))


def check_master_key(settings: Settings, environ: dict[str, str]) -> Finding:
    if settings.master_key is None:
        path = (settings.data_dir / "master.key").resolve()
        return Finding("FAIL", "master key", f"no CREDO_MASTER_KEY: the key would be read from {path}, beside the "
                                             "database it protects (a copy of the data directory would hold both). "
                                             "Set CREDO_MASTER_KEY from your secret store (32+ characters).")
    if len(settings.master_key) < 32:
        return Finding("FAIL", "master key", "CREDO_MASTER_KEY is shorter than 32 characters.")
    if "CREDO_MASTER_KEY" not in environ:
        env_file = Path(".env").resolve()
        return Finding("warn", "master key", f"read from {env_file}: make sure that file is readable by the server "
                                             "only and not in a backup of the data directory.")
    return Finding("ok", "master key", "from the environment")


def check_database(settings: Settings) -> Finding:
    url = settings.resolved_database_url()
    shown = make_url(url).render_as_string(hide_password=True)
    if not url.startswith(("postgresql", "postgres")):
        return Finding("FAIL", "database", f"{shown} is SQLite: one host, no failover. Set CREDO_DATABASE_URL to a "
                                           "PostgreSQL database (postgresql://user@host/db).")
    engine = make_engine(url)
    try:
        reachable, at_head = schema_state(engine)
    finally:
        engine.dispose()
    if not reachable:
        return Finding("FAIL", "database", f"{shown} does not answer. Check the host, port, database name and "
                                           "credentials in CREDO_DATABASE_URL, and that PostgreSQL runs.")
    if not at_head:
        return Finding("FAIL", "database", f"{shown} is not at the migrations' head. Run `credo db upgrade` "
                                           "(with the same settings) before starting the server.")
    return Finding("ok", "database", f"{shown}: reachable, at head")


def check_proxy(settings: Settings, proxy_headers: bool, forwarded_allow_ips: str) -> list[Finding]:
    found: list[Finding] = []
    networks = [n.strip() for n in forwarded_allow_ips.split(",") if n.strip()]
    if proxy_headers and not networks:
        return [Finding("FAIL", "proxy", "--proxy-headers without --forwarded-allow-ips: name the proxies to trust "
                                         "(e.g. --forwarded-allow-ips 10.0.0.5).")]
    if networks and not proxy_headers:
        return [Finding("FAIL", "proxy", "--forwarded-allow-ips without --proxy-headers: the addresses are ignored. "
                                         "Add --proxy-headers, or drop --forwarded-allow-ips.")]
    for network in networks:
        try:
            parsed = ip_network(network, strict=False)
        except ValueError:
            return [Finding("FAIL", "proxy", f"--forwarded-allow-ips: {network!r} is no address or network.")]
        if parsed.prefixlen == 0:
            return [Finding("FAIL", "proxy", f"--forwarded-allow-ips {network} trusts every address: anyone could "
                                             "choose the client address the throttles count by. Name the proxies.")]
    https = (settings.public_url or "").startswith("https://")
    if https and not proxy_headers:
        found.append(Finding("warn", "proxy", "the public URL is https and the server speaks http: a TLS proxy is in "
                                              "front. Without --proxy-headers every client has the proxy's address, "
                                              "so the throttles and rate limits count all clients as one."))
    if settings.metrics_path and not proxy_headers and https and settings.metrics_networks():
        found.append(Finding("warn", "metrics", f"{settings.metrics_path} is served to CREDO_METRICS_ALLOW; behind "
                                                "a proxy without --proxy-headers every request has the proxy's "
                                                "address: do not route the metrics path through the public proxy."))
    if not found:
        found.append(Finding("ok", "proxy", "trusted proxies: " + ", ".join(networks) if networks
                             else "no proxy headers trusted (clients connect directly)"))
    return found


def check_workers(workers: int, cores: int | None) -> Finding:
    cores = cores or 1
    if workers > cores:
        return Finding("FAIL", "workers", f"--workers {workers} on {cores} core(s): a worker is a process with its "
                                          "own event loop; more than one per core only adds contention and "
                                          f"connections. Use --workers {cores} or fewer.")
    return Finding("ok", "workers", f"{workers} on {cores} core(s)")


def run_checks(settings: Settings, *, workers: int, proxy_headers: bool, forwarded_allow_ips: str,
               environ: dict[str, str] | None = None, cores: int | None = None) -> list[Finding]:
    environ = dict(os.environ) if environ is None else environ
    return [check_public_url(settings), check_master_key(settings, environ), check_database(settings),
            *check_proxy(settings, proxy_headers, forwarded_allow_ips),
            check_workers(workers, cores if cores is not None else os.cpu_count())]


def register(app: typer.Typer) -> None:
    @app.command()
    def check(workers: int = typer.Option(1, min=1, help="The --workers `credo serve` will be given."),
              proxy_headers: bool = typer.Option(False, help="The --proxy-headers `credo serve` will be given."),
              forwarded_allow_ips: str = typer.Option("", help="The --forwarded-allow-ips `credo serve` will be "
                                                               "given.")) -> None:
        """Validate a production configuration before start, and say what to fix (exit 1 if a check fails)."""
        findings = run_checks(Settings(), workers=workers, proxy_headers=proxy_headers,
                              forwarded_allow_ips=forwarded_allow_ips)
        for f in findings:
            typer.echo(f"{f.level:<4}  {f.what}: {f.message}")
        failed = sum(f.level == "FAIL" for f in findings)
        warned = sum(f.level == "warn" for f in findings)
        typer.echo(f"{failed} to fix, {warned} to look at" if failed or warned else "ready for production")
        if failed:
            raise typer.Exit(1)
