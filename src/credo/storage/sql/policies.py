"""SQL application policies (agent -> application; through SQLAlchemy)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import and_, delete, insert, select, update

from credo.domain.models import ApplicationPolicy
from credo.storage.sql import tables as t
from credo.storage.sql.repo import _dumps, _Repo, _unavailable


def _policy(row: Any) -> ApplicationPolicy:
    d = orjson.loads(row.data)
    return ApplicationPolicy(realm=row.realm, agent_id=row.agent_id, application_id=row.application_id,
                             subjects=tuple(d["subjects"]), subject_groups=tuple(d["subject_groups"]),
                             permissions=tuple(d["permissions"]))


class SqlPolicies(_Repo):
    def _key(self, realm: str, agent_id: str, application_id: str) -> Any:
        return and_(t.policies.c.realm == realm, t.policies.c.agent_id == agent_id,
                    t.policies.c.application_id == application_id)

    @_unavailable
    def get(self, realm: str, agent_id: str, application_id: str) -> ApplicationPolicy | None:
        with self._read() as conn:
            row = conn.execute(select(t.policies).where(self._key(realm, agent_id, application_id))).first()
        return None if row is None else _policy(row)

    @_unavailable
    def for_agent(self, realm: str, agent_id: str) -> list[ApplicationPolicy]:
        with self._read() as conn:
            q = select(t.policies).where(t.policies.c.realm == realm, t.policies.c.agent_id == agent_id)
            return [_policy(r) for r in conn.execute(q.order_by(t.policies.c.application_id))]

    @_unavailable
    def put(self, policy: ApplicationPolicy) -> None:
        data = _dumps({"subjects": list(policy.subjects), "subject_groups": list(policy.subject_groups),
                       "permissions": list(policy.permissions)})
        with self._write(bump=True) as conn:
            key = self._key(policy.realm, policy.agent_id, policy.application_id)
            if conn.execute(update(t.policies).where(key).values(data=data)).rowcount == 0:
                conn.execute(insert(t.policies).values(realm=policy.realm, agent_id=policy.agent_id,
                                                       application_id=policy.application_id, data=data))

    @_unavailable
    def delete(self, realm: str, agent_id: str, application_id: str) -> bool:
        with self._write(bump=True) as conn:
            return bool(conn.execute(delete(t.policies).where(self._key(realm, agent_id, application_id))).rowcount)
