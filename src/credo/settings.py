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
        default=None, description="Secret of at least 32 characters that seals the data key (which seals private "
                                  "keys and keys the token hashes). Default: CREDO_MASTER_KEY_FILE, else generated "
                                  "once into <data_dir>/master.key (mode 0600; SQLite only).")
    master_key_file: Path | None = Field(
        default=None, description="A file holding the master key (a secret manager's or Kubernetes secret's mount); "
                                  "surrounding whitespace is ignored. If CREDO_MASTER_KEY is set too, both must hold "
                                  "the same key.")
    master_key_previous: str | None = Field(
        default=None, description="The master key being replaced, during a rewrap: the data key opens with either "
                                  "key (see `credo keys rewrap`).")
    master_key_previous_file: Path | None = Field(
        default=None, description="A file holding CREDO_MASTER_KEY_PREVIOUS.")
    key_rotation_days: float = Field(
        default=90.0, ge=0.0, description="Days after which a realm's active signing key is replaced by a new one "
                                          "(at start-up and hourly in credo serve; 0: never). The old key stays "
                                          "published until the last token it signed has expired.")
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
    ephemeral_url: str | None = Field(
        default=None, description="Where the short-lived state every process shares lives (failure throttles, "
                                  "rate limits, the replay cache): unset, the database; redis://host:6379/0 "
                                  "(or rediss://), a Redis. Revocations and other single-use marks stay in the "
                                  "database either way.")
    ephemeral_prefix: str = Field(default="credo:", min_length=1, description="Prefix of every Redis key (several "
                                  "deployments may share one Redis under different prefixes).")

    @field_validator("ephemeral_url")
    @classmethod
    def _ephemeral(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("ephemeral_url must be a redis://, rediss:// or unix:// URL (or unset: the database)")
        return v or None

    # TEST ONLY. Lets the SSRF-guarded fetcher (jwks_uri, client metadata documents) reach a local test
    # server: names under the reserved `.test` domain mapped to loopback addresses ({"cimd.test":
    # "127.0.0.1"}), and a CA file its certificates are checked against (besides the system's). Names outside
    # `.test` and non-loopback addresses are refused at start-up; a warning is logged whenever it is set.
    unsafe_test_only_fetch_resolve: dict[str, str] = Field(
        default_factory=dict, description="TEST ONLY: `.test` host names the outbound fetcher maps to loopback "
                                          "addresses. Never set in production.")
    unsafe_test_only_fetch_ca_file: Path | None = Field(
        default=None, description="TEST ONLY: an extra CA (PEM) the outbound fetcher trusts. Never set in production.")

    @field_validator("unsafe_test_only_fetch_resolve")
    @classmethod
    def _test_resolve(cls, v: dict[str, str]) -> dict[str, str]:
        from credo.keys.remote_jwks import check_test_resolve
        check_test_resolve(v)
        return v

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
        """The master key: CREDO_MASTER_KEY, or the content of CREDO_MASTER_KEY_FILE (both set: they must
        agree), or else (SQLite only) the key generated once into <data_dir>/master.key."""
        key = _master_key(self.master_key, self.master_key_file, "CREDO_MASTER_KEY")
        if key is not None:
            return key
        if not self.resolved_database_url().startswith("sqlite"):
            raise ValueError("set CREDO_MASTER_KEY or CREDO_MASTER_KEY_FILE: with a shared database every node "
                             "needs the same master key, so none is generated")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "master.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return _checked(path.read_text().strip(), f"the master key in {path}")

    def resolved_previous_master_key(self) -> bytes | None:
        """The master key being replaced (CREDO_MASTER_KEY_PREVIOUS or its _FILE), during a rewrap."""
        return _master_key(self.master_key_previous, self.master_key_previous_file, "CREDO_MASTER_KEY_PREVIOUS")


MIN_MASTER_KEY_LENGTH = 32


def _checked(value: str, what: str) -> bytes:
    if len(value) < MIN_MASTER_KEY_LENGTH:
        raise ValueError(f"{what} must have at least {MIN_MASTER_KEY_LENGTH} characters (it has {len(value)}); "
                         "make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'")
    return value.encode()


def _master_key(value: str | None, path: Path | None, name: str) -> bytes | None:
    """A master key given directly (`name`) or by a file (`name`_FILE); both given must be the same key."""
    from_file = None
    if path is not None:
        try:
            from_file = path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"{name}_FILE: cannot read {path}: {exc.strerror or exc}") from exc
        if not from_file:
            raise ValueError(f"{name}_FILE: {path} is empty")
    if value is not None and from_file is not None and not secrets.compare_digest(value, from_file):
        raise ValueError(f"{name} and {name}_FILE are both set and hold different keys; set one of them")
    if from_file is not None:
        return _checked(from_file, f"the key in {name}_FILE ({path})")
    if value is not None:
        return _checked(value, name)
    return None
