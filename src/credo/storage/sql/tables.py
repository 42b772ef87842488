"""Table definitions. Change them only together with a new Alembic migration."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

realms = Table(
    "realms", metadata,
    Column("name", String(64), primary_key=True),
    Column("settings", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

clients = Table(
    "clients", metadata,
    Column("realm", String(64), primary_key=True),
    Column("client_id", String(255), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("dynamic", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
    Column("secret_hash", String(255), nullable=True),
    Column("registration_token_hash", String(128), nullable=True),
    Column("registration_token_expires_at", BigInteger, nullable=True),
    Column("data", Text, nullable=False),
    Column("version", BigInteger, nullable=False, server_default="0"),  # moved by every update (CAS)
    Index("ix_clients_realm_kind", "realm", "kind"),
    Index("ix_clients_realm_dynamic", "realm", "dynamic"),
)

users = Table(
    "users", metadata,
    Column("realm", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("username", String(255), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("name", String(255), nullable=False, server_default=""),
    Column("email", String(255), nullable=False, server_default=""),
    Index("ux_users_realm_username", "realm", "username", unique=True),
)

# RFC 8707 resource identifiers and the client answering to each: the primary key keeps one client per
# resource in a realm. Kept in the transaction that writes the client (its `data` lists them too).
client_resources = Table(
    "client_resources", metadata,
    Column("realm", String(64), primary_key=True),
    Column("resource", String(2048), primary_key=True),
    Column("client_id", String(255), nullable=False),
    Index("ix_client_resources_client", "realm", "client_id"),
)

# What a user allowed a client (browser sign-in); scopes and resources are JSON lists.
consents = Table(
    "consents", metadata,
    Column("realm", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("client_id", String(255), primary_key=True),
    Column("scopes", Text, nullable=False),
    Column("resources", Text, nullable=False),
    Column("grant_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_consents_user", "realm", "user_id"),
)

groups = Table(
    "groups", metadata,
    Column("realm", String(64), primary_key=True),
    Column("name", String(255), primary_key=True),
)

group_members = Table(
    "group_members", metadata,
    Column("realm", String(64), primary_key=True),
    Column("group_name", String(255), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Index("ix_group_members_user", "realm", "user_id"),
)

policies = Table(
    "application_policies", metadata,
    Column("realm", String(64), primary_key=True),
    Column("agent_id", String(255), primary_key=True),
    Column("application_id", String(255), primary_key=True),
    Column("data", Text, nullable=False),
)

scripts = Table(
    "scripts", metadata,
    Column("realm", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("type", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

tokens = Table(
    "tokens", metadata,
    Column("token_hash", String(128), primary_key=True),
    Column("realm", String(64), nullable=False),
    Column("jti", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("sub", String(255), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("claims", Text, nullable=False),
    Index("ix_tokens_expires_at", "expires_at"),
    Index("ix_tokens_realm_sub", "realm", "sub"),  # a user's tokens (administration; migration 0009)
    Index("ix_tokens_realm_client", "realm", "client_id"),  # a client's tokens
)

one_time_ids = Table(
    "one_time_ids", metadata,
    Column("realm", String(64), primary_key=True),
    Column("id", String(255), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_one_time_ids_expires_at", "expires_at"),
)

signing_keys = Table(
    "signing_keys", metadata,
    Column("realm", String(64), primary_key=True),
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_key_encrypted", LargeBinary, nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("publish_until", BigInteger, nullable=True),
)

data_keys = Table(  # envelope encryption: data keys sealed by the master key (migration 0006_keys)
    "data_keys", metadata,
    Column("name", String(32), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("master_id", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

audit_events = Table(
    "audit_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("realm", String(64), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("action", String(64), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("decision", String(8), nullable=False),
    # Unbounded: a policy's `agent->application`, or the audience a refused exchange asked for. SQLite keeps
    # its declared VARCHAR(255) (it does not enforce lengths; see migration 0003).
    Column("target", Text().with_variant(String(255), "sqlite"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", Text, nullable=False),
    Index("ix_audit_realm_ts", "realm", "ts"),
)

admins = Table(
    "admins", metadata,
    Column("username", String(255), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("must_change_password", Boolean, nullable=False),
)

change_counter = Table(
    "change_counter", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
    # Moves on every burned one-time id (a revocation, a consumed initial access token, a deletion mark):
    # the caches of burned ids compare it, as the record caches compare `n`. Read in the same statement.
    Column("burns", BigInteger, nullable=False, server_default="0"),
)

# One row per failed client authentication or password login (the failure throttles); key_hash is a keyed
# hash of (throttle, realm, claimed identity, source address). Rows are purged once expired.
# AUTOINCREMENT on SQLite: ids are never reused, so processes can follow new rows by id.
auth_failures = Table(
    "auth_failures", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False),
    Column("failed_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_auth_failures_key_hash", "key_hash", "failed_at"),
    Index("ix_auth_failures_expires_at", "expires_at"),
    sqlite_autoincrement=True,
)

# EphemeralState on the database (storage/sql/throttle_store.py): one row per rate-limit hit, kept until the
# end of its window, and one row per replay mark (`first_use`), kept until it expires. Keys are opaque (keyed
# hashes where they stem from user input; longer than 255 characters: their SHA-256).
rate_hits = Table(
    "rate_hits", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False),
    Column("hit_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_rate_hits_key", "key", "hit_at"),
    Index("ix_rate_hits_expires_at", "expires_at"),
)

replay_marks = Table(
    "replay_marks", metadata,
    Column("key", String(255), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_replay_marks_expires_at", "expires_at"),
)

# Tokens issued per realm, grant type and minute (storage/sql/usage.py): the console's overview counts the
# last hour and day from it. Each process adds its tally every few seconds (an additive upsert), so the
# rows stay few: one per realm, grant type and minute with issuance; purged after two days.
token_usage = Table(
    "token_usage", metadata,
    Column("realm", String(64), primary_key=True),
    Column("grant_type", String(128), primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("issued", BigInteger, nullable=False),
)
