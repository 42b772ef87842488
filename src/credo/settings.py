"""Server settings, read from `CREDO_*` environment variables (or a `.env` file).

Insecure values are refused at start-up: a master key shorter than 32 bytes, or a public URL that is
plain `http` on a non-loopback host unless CREDO_ALLOW_INSECURE_HTTP=true.
"""

from __future__ import annotations

import os
import secrets
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
RESERVED_PREFIXES = ("/am/", "/admin", "/.well-known/", "/health/")  # the public endpoints, the console, health
RESERVED_PATHS = ("/am", "/health")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDO_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("credo-data"), description="Where the SQLite file and master key live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/credo.db. PostgreSQL: "
                                  "postgresql://user@host/db")
    public_url: str | None = Field(default=None, description="Base URL clients use, e.g. https://id.example.com")
    master_key: str | None = Field(
        default=None, description="Secret of at least 32 characters that seals private keys and keys the token "
                                  "hashes. Default: generated once into <data_dir>/master.key (mode 0600).")
    sqlite_synchronous: str = Field(default="NORMAL", description="NORMAL (WAL-safe on crash) or FULL (power loss).")
    allow_insecure_http: bool = Field(default=False, description="Allow a plain-http public URL on a non-loopback host.")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="Largest accepted request body.")
    cache_check_interval: float = Field(default=0.0, ge=0.0, le=5.0,
                                        description="Seconds between cache freshness checks (0: every request).")
    record_cache_entries: int = Field(default=20_000, ge=0, description="Realm and client records kept in memory "
                                      "per process (about 1.5 KB each).")
    log_level: str = Field(default="info")
    access_log: bool = Field(default=True, description="Write one JSON line per request to stderr (no secret, no "
                                                        "token: only a hash prefix of a bearer token). false: off.")
    metrics_path: str = Field(default="/metrics", description="Where the Prometheus metrics are served at the host "
                                                              "root; empty: no metrics endpoint.")
    metrics_allow: str = Field(
        default="127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
        description="Comma-separated networks whose requests may read the metrics (the client address as the "
                    "server sees it: the socket's peer, or the forwarded one from a trusted proxy); others get 404. "
                    "Empty: any address.")
    auth_failure_limit: int = Field(default=10, ge=1, description="Failed client authentications per client id and "
                                                                  "source address, and failed password logins per "
                                                                  "username and source address, before 429. "
                                                                  "Counted over all processes sharing the database.")
    auth_identity_failure_limit: int = Field(
        default=50, ge=1, description="Failed client authentications per client id, and failed password logins per "
                                      "username, from all source addresses together, before 429 for every "
                                      "address: bounds guessing spread over many addresses.")
    login_spray_failure_limit: int = Field(
        default=100, ge=1, description="Failed password logins per source address over all usernames (through "
                                       "one client, or the sign-in page), before 429: bounds password spraying.")
    login_client_failure_limit: int = Field(
        default=500, ge=1, description="Failed password logins through one client (or the sign-in page) over "
                                       "all usernames and addresses, before 429.")
    auth_failure_window: int = Field(default=60, ge=1, description="Seconds the failures are counted over.")
    auth_failure_sync_interval: float = Field(
        default=1.0, ge=0.0, le=60.0, description="Seconds between reads of the failures other processes recorded "
                                                  "(0: before every authentication). A process checks a key it "
                                                  "knows failures for against the shared count on every attempt.")

    @field_validator("metrics_path")
    @classmethod
    def _metrics_path(cls, v: str) -> str:
        v = v.strip()
        if v and (not v.startswith("/") or v.endswith("/") or v.startswith(RESERVED_PREFIXES) or v in RESERVED_PATHS):
            raise ValueError("metrics_path must be empty or a path like /metrics, outside /am/, /admin, "
                             "/.well-known/ and /health/")
        return v

    @field_validator("metrics_allow")
    @classmethod
    def _metrics_allow(cls, v: str) -> str:
        for network in filter(None, (n.strip() for n in v.split(","))):
            ip_network(network, strict=False)  # a ValueError names the bad entry
        return v

    def metrics_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(ip_network(n.strip(), strict=False) for n in self.metrics_allow.split(",") if n.strip())

    @field_validator("sqlite_synchronous")
    @classmethod
    def _sync(cls, v: str) -> str:
        if v.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("sqlite_synchronous must be NORMAL, FULL or EXTRA")
        return v.upper()

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'credo.db').resolve()}"

    def resolved_public_url(self, host: str = "127.0.0.1", port: int = 8080) -> str:
        url = (self.public_url or f"http://{host}:{port}").rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"CREDO_PUBLIC_URL is not an absolute http(s) URL: {url}")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS and not self.allow_insecure_http \
                and parts.hostname != "0.0.0.0":  # noqa: S104 - the bind-all address, only as a display default
            raise ValueError("refusing a plain-http public URL on a non-loopback host; "
                             "set CREDO_ALLOW_INSECURE_HTTP=true to override")
        return url

    def resolved_master_key(self) -> bytes:
        if self.master_key is not None:
            if len(self.master_key) < 32:
                raise ValueError("CREDO_MASTER_KEY must have at least 32 characters")
            return self.master_key.encode()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "master.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()
