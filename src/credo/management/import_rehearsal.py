"""A throwaway copy of the records an import document touches, to rehearse the import on.

An import runs its writes twice: first on this copy (in memory), then, only if every record went
through, on the real store. The rehearsal calls the same use cases as the real run, so it refuses
exactly what they would refuse part-way (a weak client secret, a too-long username, a script that does
not compile, ...), on every storage backend, before the first real write. The copy holds only what the
document names or refers to (never a whole realm), and argon2 hashing is replaced by a fast keyed hash
in it (its hashes are thrown away).
"""

from __future__ import annotations

import os
from typing import Any

from credo.keys.keyring import KeyRing
from credo.keys.sealing import Sealer
from credo.keys.secrets import RehearsalHasher
from credo.management.client_signin import resource_owner
from credo.oauth.services import Services
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import Storage

Items = dict[str, list[dict[str, Any]]]


def rehearsal_services(services: Services, realm: str, sections: Items) -> Services:
    """Services over an in-memory copy of `realm`'s records that the document names or refers to."""
    storage = MemoryStorage()
    scratch = Services(storage=storage,  # type: ignore[arg-type]  # checked by the contract suite
                       keys=KeyRing(storage.keys, Sealer(os.urandom(32)), services.clock),
                       hasher=RehearsalHasher(services.hasher), clock=services.clock, base_url=services.base_url)
    scratch.script_runner = services.script_runner
    current = services.storage.realms.get(realm)
    if current is not None:
        storage.realms.put(current)
        _copy(services.storage, storage, realm, sections)
    return scratch


def _copy(src: Storage, dst: MemoryStorage, realm: str, sections: Items) -> None:
    for script in src.scripts.all(realm):
        dst.scripts.put(script)
    policies = [(a["client_id"], p) for a in sections["agents"] for p in a.get("policies") or []]
    for name in _user_refs(sections, policies):
        for user in (src.users.by_username(realm, name), src.users.get(realm, name)):
            if user is not None and dst.users.get(realm, user.id) is None:
                dst.users.put(user)
    groups = {g["name"] for g in sections["groups"]} | {g for _, p in policies for g in p.get("subject_groups") or []}
    for name in groups:
        group = src.groups.get(realm, name)
        if group is not None:
            dst.groups.put(group)
    client_ids = {c["client_id"] for c in sections["applications"] + sections["agents"]}
    for client_id in client_ids | {p["application"] for _, p in policies}:
        client = src.clients.get(realm, client_id)
        if client is not None and dst.clients.get(realm, client_id) is None:
            dst.clients.create(client)
    for resource in {r for c in sections["applications"] for r in c.get("resources") or []}:
        owner = resource_owner(src.clients, realm, resource)  # a client the import would collide with
        if owner is not None and dst.clients.get(realm, owner.client_id) is None:
            dst.clients.create(owner)
    for agent_id, p in policies:
        policy = src.policies.get(realm, agent_id, p["application"])
        if policy is not None:
            dst.policies.put(policy)


def _user_refs(sections: Items, policies: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """Every username or user id the document names: its users, group members and policy subjects."""
    refs = {u["username"] for u in sections["users"]} | {u["id"] for u in sections["users"] if u.get("id")}
    refs |= {m for g in sections["groups"] for m in g.get("members") or []}
    return refs | {s for _, p in policies for s in p.get("subjects") or []}
