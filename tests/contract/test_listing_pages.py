"""Administration listings page by key (keyset), search case-insensitively, count; on every backend.

The console's lists (users, applications, agents, dynamic clients, the audit log) are built on these
methods; a realm of 100,000 users or 1,000,000 dynamic clients is only ever read one page at a time.
"""

from __future__ import annotations

from credo.domain.models import AuditEvent, Client, User
from credo.storage.protocols import Storage

R = "alpha"


def _user(i: int, **kw: str) -> User:
    return User(realm=R, id=f"id-{i:03d}", username=kw.get("username", f"user{i:03d}"), password_hash="x",
                created_at=1, name=kw.get("name", ""), email=kw.get("email", ""))


def _client(client_id: str, *, dynamic: bool = False, kind: str = "client", name: str = "") -> Client:
    return Client(realm=R, client_id=client_id, secret_hash="h1$" + "a" * 64, name=name or client_id,
                  created_at=1, updated_at=1, dynamic=dynamic, kind=kind)  # type: ignore[arg-type]


def test_users_page_by_username_forward_and_back(any_storage: Storage) -> None:
    users = any_storage.users
    for i in range(7):
        users.put(_user(i))
    users.put(User(realm="other", id="o", username="user000x", password_hash="x", created_at=1))
    first = users.search(R, limit=3)
    assert [u.username for u in first] == ["user000", "user001", "user002"]
    second = users.search(R, after=first[-1].username, limit=3)
    assert [u.username for u in second] == ["user003", "user004", "user005"]
    assert [u.username for u in users.search(R, after="user005", limit=3)] == ["user006"]
    assert [u.username for u in users.search(R, descending=True, limit=2)] == ["user006", "user005"]
    assert [u.username for u in users.search(R, descending=True, after="user005", limit=2)] == ["user004", "user003"]
    assert users.count(R) == 7 and users.count("other") == 1


def test_users_search_matches_username_name_or_email_case_insensitively(any_storage: Storage) -> None:
    users = any_storage.users
    users.put(_user(1, username="alice", name="Alice Liddell", email="alice@example.com"))
    users.put(_user(2, username="bob", name="Robert Marley", email="BOB@Example.org"))
    users.put(_user(3, username="carol_x"))
    users.put(_user(4, username="carolx"))
    assert [u.username for u in users.search(R, text="LIDDELL")] == ["alice"]
    assert [u.username for u in users.search(R, text="example")] == ["alice", "bob"]
    assert [u.username for u in users.search(R, text="marl")] == ["bob"]
    # LIKE's own wildcards match only themselves
    assert [u.username for u in users.search(R, text="l_x")] == ["carol_x"]
    assert [u.username for u in users.search(R, text="%")] == []


def test_clients_page_by_kind_dynamic_and_text(any_storage: Storage) -> None:
    clients = any_storage.clients
    for i in range(5):
        clients.create(_client(f"dyn-{i}", dynamic=True, name=f"Robot {i}"))
    clients.create(_client("app-a"))
    clients.create(_client("agent-a", kind="agent", name="Helper"))
    page = clients.search(R, dynamic=True, limit=2)
    assert [c.client_id for c in page] == ["dyn-0", "dyn-1"]
    assert [c.client_id for c in clients.search(R, dynamic=True, after="dyn-1", limit=10)] == ["dyn-2", "dyn-3", "dyn-4"]
    assert [c.client_id for c in clients.search(R, kind="agent")] == ["agent-a"]
    assert [c.client_id for c in clients.search(R, text="ROBOT 3")] == ["dyn-3"]
    assert [c.client_id for c in clients.search(R, text="help")] == ["agent-a"]
    assert [c.client_id for c in clients.search(R, descending=True, limit=1)] == ["dyn-4"]
    assert clients.count(R, kind="agent") == 1 and clients.count(R, dynamic=True) == 5 and clients.count(R) == 7


def test_audit_pages_back_by_id_and_keeps_a_time_window(any_storage: Storage) -> None:
    audit = any_storage.audit
    audit.add_many([AuditEvent(realm=R, action="a", actor=f"x{i}", ts=100 + i) for i in range(6)])
    newest = audit.query(R, limit=2)
    assert [e.actor for e in newest] == ["x5", "x4"]
    older = audit.query(R, limit=2, before=newest[-1].id)
    assert [e.actor for e in older] == ["x3", "x2"]
    assert [e.actor for e in audit.query(R, since=104)] == ["x5", "x4"]
    assert [e.actor for e in audit.query(R, before=older[-1].id, since=101)] == ["x1"]


def test_a_users_or_a_clients_live_tokens(any_storage: Storage) -> None:
    from credo.domain.models import TokenRecord

    def token(h: str, *, sub: str, client: str, kind: str = "access_token", exp: int = 500, at: int = 10) -> TokenRecord:
        return TokenRecord(token_hash=h, realm=R, jti="j-" + h, kind=kind, client_id=client, sub=sub, scopes=("a",),
                           issued_at=at, expires_at=exp, claims={})
    tokens = any_storage.tokens
    tokens.add_many([token("1", sub="u1", client="c1", at=12), token("2", sub="u1", client="c2", kind="refresh_token"),
                     token("3", sub="u2", client="c1"), token("4", sub="u1", client="c1", exp=50),
                     token("5", sub="u1", client="c1", kind="code")])
    assert [r.jti for r in tokens.of_realm(R, 100, sub="u1")] == ["j-2", "j-5", "j-1"]  # by issued_at, then jti
    assert [r.jti for r in tokens.of_realm(R, 100, sub="u1", kinds=("access_token", "refresh_token"))] == ["j-2", "j-1"]
    assert [r.jti for r in tokens.of_realm(R, 100, client_id="c1", kinds=("access_token",))] == ["j-3", "j-1"]
    assert [r.jti for r in tokens.of_realm(R, 100, client_id="c1", limit=1)] == ["j-3"]
    assert [r.jti for r in tokens.of_realm(R, 40, sub="u1", client_id="c1")] == ["j-4", "j-5", "j-1"]
