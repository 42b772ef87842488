"""EphemeralState in Redis (`CREDO_EPHEMERAL_URL=redis://host:6379/0`): failures, rate-limit hits and replay
marks shared by every process that uses the same Redis and key prefix.

Every method is one round trip and atomic (a Lua script, or one command). Times are the caller's clock
(a mark holds its `expires_at` and is judged against the caller's `now`, as in the database); Redis's own
expiry (EXPIRE, relative to that clock) only makes it forget what has expired.
The calls are synchronous, like the database statements of the same port: the throttles and the rate
limiter are called from synchronous core code on the event loop, and only on a failure or a registration
(plus one read of new failures a second per process), never on a plain successful request. The replay
check (`first_use`) runs on every request with a DPoP proof or a client assertion: it is awaited, on an
asynchronous client of the serving event loop (one per loop), so the loop serves while it travels.
A local Redis answers in about a tenth of a millisecond; the socket timeouts bound the wait when it does
not answer (then StorageUnavailable: the request is answered 503, as when the database is unreachable).

Keys: `<prefix>f:<key>` a sorted set of one key's failures (member id, score time); `<prefix>feed` every
failure (score id, member "id key at expires_at") for the other processes to learn from; `<prefix>h:<key>`
a sorted set of a key's rate-limit hits; `<prefix>u:<key>` a replay mark; `<prefix>seq` the id counter.
Each expires on its own (EXPIRE), the feed is purged by `purge_expired` and bounded to FEED_MAX entries.
One Redis (or a primary with replicas), not Redis Cluster: the scripts use keys of several slots.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import redis
import redis.asyncio

from credo.storage.protocols import StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")
FEED_MAX = 100_000  # failures kept in the feed at most (the newest); far more than a window's worth
TIMEOUT = 0.5  # seconds: connecting to, and waiting for, Redis
CLOSE_WAIT = 2.0  # seconds the server's shutdown waits for a loop's client to close

_ADD = """
local at, exp = tonumber(ARGV[1]), tonumber(ARGV[2])
local id = redis.call('INCR', KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', at - (exp - at))
redis.call('ZADD', KEYS[2], at, id)
redis.call('EXPIRE', KEYS[2], math.max(1, exp - at))
redis.call('ZADD', KEYS[3], id, id .. ' ' .. ARGV[3] .. ' ' .. at .. ' ' .. exp)
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[4]) + 1))
return id
"""

_NEWER = """
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local out, cursor = {}, '(' .. ARGV[1]
while #out < limit do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[1], cursor, '+inf', 'LIMIT', 0, limit)
  if #batch == 0 then break end
  for _, m in ipairs(batch) do
    local id, exp = string.match(m, '^(%d+) .* %-?%d+ (%-?%d+)$')
    cursor = '(' .. id
    if tonumber(exp) > now then
      out[#out + 1] = m
      if #out >= limit then break end
    end
  end
end
return out
"""

_PURGE = """
local now, gone = tonumber(ARGV[1]), 0
while true do
  local batch = redis.call('ZRANGE', KEYS[1], 0, 999)
  if #batch == 0 then return gone end
  local expired = {}
  for _, m in ipairs(batch) do
    local exp = string.match(m, ' (%-?%d+)$')
    if tonumber(exp) <= now then expired[#expired + 1] = m end
  end
  if #expired == 0 then return gone end
  redis.call('ZREM', KEYS[1], unpack(expired))
  gone = gone + #expired
  if #expired < #batch then return gone end
end
"""

_FIRST_USE = """
local mark = redis.call('GET', KEYS[1])
if mark and tonumber(mark) > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', math.max(1, tonumber(ARGV[1]) - tonumber(ARGV[2])))
return 1
"""

_HIT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, redis.call('INCR', KEYS[2]))
redis.call('EXPIRE', KEYS[1], window)
return 0
"""


_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError,
                redis.exceptions.OutOfMemoryError)


def _unavailable(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn "cannot reach Redis" into StorageUnavailable, so the edge answers 503."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except _UNAVAILABLE as exc:  # unreachable, a replica, or full
            raise StorageUnavailable("ephemeral state (Redis) unavailable") from exc

    return wrapper


class RedisEphemeral:
    def __init__(self, url: str, *, prefix: str = "credo:", name: str = "credo") -> None:
        self._url = url
        self._name = name  # how its connections show in Redis's CLIENT LIST
        self._redis: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, health_check_interval=30, client_name=name)
        # Per event loop: its asynchronous client and the replay script registered on it.
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._p = prefix
        self._add = self._redis.register_script(_ADD)
        self._newer = self._redis.register_script(_NEWER)
        self._purge = self._redis.register_script(_PURGE)
        self._hit = self._redis.register_script(_HIT)

    @_unavailable
    def add(self, key: str, at: int, expires_at: int) -> int:
        return int(self._add(keys=[self._p + "seq", self._p + "f:" + key, self._p + "feed"],
                             args=[at, expires_at, key, FEED_MAX]))

    @_unavailable
    def recent(self, key: str, since: int, limit: int) -> list[int]:
        rows: Any = self._redis.zrevrangebyscore(
            self._p + "f:" + key, "+inf", f"({since}", start=0, num=limit, withscores=True)
        return [int(at) for _, at in rows]  # (member, score: the failure's time), newest first

    @_unavailable
    def newer(self, after_id: int, now: int, limit: int) -> list[tuple[int, str, int]]:
        out = []
        for member in self._newer(keys=[self._p + "feed"], args=[after_id, now, limit]):
            row_id, rest = member.decode().split(" ", 1)
            key, at, _ = rest.rsplit(" ", 2)
            out.append((int(row_id), key, int(at)))
        return out

    @_unavailable
    def hit(self, key: str, limit: int, window: int, now: int) -> int:
        return int(self._hit(keys=[self._p + "h:" + key, self._p + "seq"], args=[now, window, limit]))

    async def first_use(self, key: str, expires_at: int, *, now: int) -> bool:
        loop = asyncio.get_running_loop()
        script = self._loops.get(loop)
        if script is None:
            client = redis.asyncio.Redis.from_url(self._url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
                                                  health_check_interval=30, client_name=self._name)
            script = self._loops[loop] = client.register_script(_FIRST_USE)
        try:
            return bool(await script(keys=[self._p + "u:" + key], args=[expires_at, now]))
        except _UNAVAILABLE as exc:
            raise StorageUnavailable("ephemeral state (Redis) unavailable") from exc

    @_unavailable
    def purge_expired(self, now: int) -> int:
        return int(self._purge(keys=[self._p + "feed"], args=[now]))  # the rest expires on its own

    def close(self) -> None:
        """Close every event loop's asynchronous client, awaited on its loop from this thread (the server's
        shutdown steps run on a thread while its loop still runs; a loop that stopped took its client's
        sockets with it, and the caller's own loop cannot be waited for here), then the synchronous client."""
        clients, self._loops = list(self._loops.items()), weakref.WeakKeyDictionary()
        for loop, script in clients:
            if loop.is_closed() or not loop.is_running() or _running_here(loop):
                continue
            try:
                asyncio.run_coroutine_threadsafe(script.registered_client.aclose(), loop).result(CLOSE_WAIT)
            except Exception as exc:  # the server stops anyway; its sockets go with the process
                logging.getLogger("credo").warning("closing a Redis client failed: %s", type(exc).__name__)
        self._redis.close()


def _running_here(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
