"""End users of a realm: the people AI agents act for. Passwords are stored as argon2id only."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import replace

from credo.domain.errors import InvalidRequest, NotFound
from credo.domain.models import AuditEvent, User
from credo.management.policy_refs import forget_in_policies
from credo.oauth.lifecycle import creation_time, note_deletion
from credo.oauth.services import Services
from credo.storage.protocols import Conflict

MAX_USERNAME = 255
MAX_USER_ID = 64
MAX_NAME = 255
MAX_EMAIL = 255


# Format (zero-width, bidirectional), private-use, surrogate, unassigned, line and paragraph separators;
# control characters have their own check (and message).
INVISIBLE = ("Cf", "Co", "Cs", "Cn", "Zl", "Zp")


def identifier(value: str, field: str) -> str:
    """An identifier in its NFKC form (a full-width or compatibility look-alike becomes the name it imitates,
    so it meets that name's uniqueness check); refused with invisible or bidirectional control characters."""
    if any(unicodedata.category(ch) in INVISIBLE for ch in value):
        raise InvalidRequest(f"{field} with invisible characters", description=f"{field}: invisible or bidirectional "
                             "characters are not allowed.")
    return unicodedata.normalize("NFKC", value)


def _check_username(username: str) -> None:
    if not 1 <= len(username) <= MAX_USERNAME:
        raise InvalidRequest("username length", description=f"username: use 1 to {MAX_USERNAME} characters.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in username):
        raise InvalidRequest("username control characters", description="username: control characters are not allowed.")


def _check_user_id(user_id: str) -> None:
    if not 1 <= len(user_id) <= MAX_USER_ID or any(ord(ch) < 32 or ord(ch) == 127 for ch in user_id):
        raise InvalidRequest("bad user id", description=f"user_id: use 1 to {MAX_USER_ID} characters, "
                                                        "no control characters.")


def _control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def check_name(name: object) -> str:
    """A user's display name (the `name` claim): empty, or at most 255 characters on one line."""
    if not isinstance(name, str) or len(name) > MAX_NAME or _control(name):
        raise InvalidRequest("user name", description=f"name: a string of at most {MAX_NAME} characters, "
                                                      "no control characters.")
    return name.strip()


def check_email(email: object) -> str:
    """A user's email address (the `email` claim), checked lightly: empty, or one '@' between a local part
    and a domain, at most 255 characters, no spaces or control characters."""
    if not isinstance(email, str):
        raise InvalidRequest("email type", description="email: must be a string.")
    email = email.strip()
    if not email:
        return ""
    local, _, domain = email.partition("@")
    if len(email) > MAX_EMAIL or email.count("@") != 1 or not local or not domain or _control(email) or " " in email:
        raise InvalidRequest("bad email", description=f"email: '{email[:80]}' is not an email address (one '@' "
                                                      f"between a name and a domain, at most {MAX_EMAIL} characters).")
    return email


def _check_password(password: str) -> None:
    if not password:
        raise InvalidRequest("empty password", description="password: must not be empty.")
    if len(password) > 1024:
        raise InvalidRequest("long password", description="password: at most 1024 characters.")


def create_user(services: Services, realm: str, username: str, password: str, *, active: bool = True,
                user_id: str | None = None, name: str = "", email: str = "", actor: str = "system") -> User:
    services.realm(realm)
    username = identifier(username, "username")
    _check_username(username)
    name, email = check_name(name), check_email(email)
    _check_password(password)
    uid = identifier(user_id or str(uuid.uuid4()), "user_id")
    _check_user_id(uid)
    if services.storage.users.get(realm, uid) is not None:
        raise InvalidRequest(f"user id {uid} exists", description=f"user_id: '{uid}' already exists.")
    user = User(realm=realm, id=uid, username=username, password_hash=services.hasher.hash_password(password),
                active=active, created_at=creation_time(services, realm, "user", uid), name=name, email=email)
    try:
        services.storage.users.put(user)
    except Conflict as exc:
        raise InvalidRequest(f"username {username} exists", description=f"username: '{username}' already exists.") from exc
    services.audit(AuditEvent(realm=realm, action="user.create", actor=actor, target=uid,
                              details={"username": username}))
    return user


def get_user(services: Services, realm: str, user_id: str) -> User:
    services.realm(realm)
    user = services.storage.users.get(realm, user_id)
    if user is None:
        raise NotFound(f"user {user_id}", description=f"user_id: '{user_id}' does not exist.")
    return user


def find_user(services: Services, realm: str, username: str) -> User:
    user = services.storage.users.by_username(realm, unicodedata.normalize("NFKC", username))
    if user is None:
        raise NotFound(f"username {username}", description=f"username: '{username}' does not exist.")
    return user


def resolve_user(services: Services, realm: str, id_or_username: str) -> User:
    """A user by id, or else by username."""
    services.realm(realm)
    user = services.storage.users.get(realm, id_or_username)
    return user if user is not None else find_user(services, realm, id_or_username)


def list_users(services: Services, realm: str) -> list[User]:
    services.realm(realm)  # an unknown realm is an error, not an empty list
    return services.storage.users.all(realm)


def update_user(services: Services, realm: str, user_id: str, *, password: str | None = None,
                active: bool | None = None, name: str | None = None, email: str | None = None,
                actor: str = "system") -> User:
    """Change what is given (None: unchanged; an empty name or email clears it)."""
    user = get_user(services, realm, user_id)
    changed: list[str] = []
    if name is not None:
        user = replace(user, name=check_name(name))
        changed.append("name")
    if email is not None:
        user = replace(user, email=check_email(email))
        changed.append("email")
    if password is not None:
        _check_password(password)
        user = replace(user, password_hash=services.hasher.hash_password(password))
        changed.append("password")
    if active is not None:
        user = replace(user, active=active)
        changed.append("active")
    services.storage.users.put(user)
    services.audit(AuditEvent(realm=realm, action="user.update", actor=actor, target=user_id,
                              details={"changed": changed}))
    return user


def delete_user(services: Services, realm: str, user_id: str, *, actor: str = "system") -> None:
    if not services.storage.users.delete(realm, user_id):
        raise NotFound(f"user {user_id}", description=f"user_id: '{user_id}' does not exist.")
    note_deletion(services, realm, "user", user_id)
    forget_in_policies(services, realm, user_id=user_id)
    services.audit(AuditEvent(realm=realm, action="user.delete", actor=actor, target=user_id))
