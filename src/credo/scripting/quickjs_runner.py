"""The DCR script runner: QuickJS in worker processes, one fresh context per run.

QuickJS's own time limit only fires between bytecode instructions, so a script stuck inside one
native call (a backtracking regular expression, a huge sort) would never be interrupted. Scripts
therefore run in small worker processes: the CPU and memory limits apply inside the worker, and the
parent kills a worker that has not answered within a wall-clock deadline. Workers are reused (a
fresh context per run keeps runs apart); a killed worker is replaced on the next run.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import asdict
from pathlib import Path
from typing import Any

from credo.scripting.api import ScriptError, ScriptInput, ScriptOutput, ScriptRunner
from credo.scripting.sandbox import Limits
from credo.scripting.worker import HEADER

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
MAX_SOURCE_BYTES = 64 * 1024
STARTUP_SECONDS = 15.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = ("import sys; sys.path.insert(0, {root!r}); "
         "from credo.scripting.worker import main; main()")


class _Worker:
    def __init__(self) -> None:
        # A clean environment: the worker needs no configuration and must not see secrets.
        self._errors = tempfile.TemporaryFile()  # what a worker that fails to start says (read only then)
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-I", "-c", _BOOT.format(root=_PACKAGE_ROOT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, env={}, close_fds=True)
        # Wait for the worker to start, so its start-up never counts against a script's deadline.
        ready = self._frame(time.monotonic() + STARTUP_SECONDS)
        if ready != {"ready": True}:
            self.kill()
            self._errors.seek(0)
            said = self._errors.read()[-2000:].decode("utf-8", "replace")
            logging.getLogger("credo.scripting").warning("script worker did not start: %r %s", ready, said)
            raise ScriptError("exception", "the script worker did not start")

    def call(self, request: dict[str, Any], deadline: float) -> dict[str, Any] | None:
        """The worker's answer, or None if it missed the deadline or broke the protocol."""
        body = json.dumps(request).encode()
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(HEADER.pack(len(body)) + body)
            self.process.stdin.flush()
            return self._frame(deadline)
        except OSError:
            return None

    def _frame(self, deadline: float) -> dict[str, Any] | None:
        try:
            header = self._read(HEADER.size, deadline)
            if header is None:
                return None
            (size,) = HEADER.unpack(header)
            payload = self._read(size, deadline) if size <= MAX_RESPONSE_BYTES else None
            answer = None if payload is None else json.loads(payload)
            return answer if isinstance(answer, dict) else None
        except (OSError, ValueError):
            return None

    def _read(self, size: int, deadline: float) -> bytes | None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        ready = select.poll()  # not select(): a process with many open files has descriptors past FD_SETSIZE
        ready.register(fd, select.POLLIN)
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            wait = deadline - time.monotonic()
            if wait <= 0 or not ready.poll(wait * 1000):
                return None
            chunk = os.read(fd, remaining)
            if not chunk:
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class QuickJsRunner(ScriptRunner):
    """Runs DCR scripts with a CPU time limit, a memory limit and a bounded output.

    `wall_limit_ms` is the hard deadline after which the worker is killed (default: the time limit
    plus a margin for process scheduling)."""

    def __init__(self, *, time_limit_ms: int = 200, memory_limit_bytes: int = 16 * 1024 * 1024,
                 max_output_bytes: int = 64 * 1024, wall_limit_ms: int | None = None, max_workers: int = 4,
                 max_idle_workers: int = 2) -> None:
        self.limits = Limits(time_limit_ms, memory_limit_bytes, max_output_bytes)
        self.wall_limit_ms = wall_limit_ms if wall_limit_ms is not None else time_limit_ms + 1000
        self._max_idle = max_idle_workers
        self._slots = threading.BoundedSemaphore(max_workers)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        atexit.register(_close_ref, weakref.ref(self))

    def run(self, source: str, data: ScriptInput) -> ScriptOutput:
        if len(source.encode()) > MAX_SOURCE_BYTES:
            raise ScriptError("invalid", f"the script exceeds {MAX_SOURCE_BYTES} bytes")
        request = {"source": source, "input": _snapshot(data), "limits": asdict(self.limits)}
        if not self._slots.acquire(timeout=self.wall_limit_ms / 1000):
            raise ScriptError("timeout", "every script worker stayed busy; the script did not run")
        try:
            answer = self._call(request)
        finally:
            self._slots.release()
        return self._output(answer)

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        worker = self._acquire()
        answer = worker.call(request, time.monotonic() + self.wall_limit_ms / 1000)
        if answer is None:
            crashed = worker.process.poll() is not None
            worker.kill()
            if crashed:
                raise ScriptError("exception", "the script worker stopped unexpectedly")
            raise ScriptError("timeout", f"the script did not finish within {self.wall_limit_ms} ms")
        self._release(worker)
        return answer

    def warm(self) -> None:
        """Start a worker now, so the first registration does not wait for one."""
        with self._slots:
            self._release(self._acquire())

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()

    def _acquire(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.poll() is None:
                    return worker
        try:
            return _Worker()
        except ScriptError:  # a start can fail on a starved machine (logged): one more, then the refusal
            return _Worker()

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(worker)
                return
        worker.kill()

    def _output(self, answer: dict[str, Any]) -> ScriptOutput:
        logs = [str(line) for line in answer.get("logs") or []]
        if not answer.get("ok"):
            raise ScriptError(str(answer.get("reason", "exception")), str(answer.get("message", "")), logs=logs)
        attributes = _attributes(answer.get("attributes"))
        if len(json.dumps(attributes).encode()) > self.limits.max_output_bytes:
            raise ScriptError("invalid", f"the attributes exceed {self.limits.max_output_bytes} bytes", logs=logs)
        return ScriptOutput(stored=answer.get("stored") is True, attributes=attributes, logs=logs)


def _attributes(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ScriptError("invalid", "the attributes are not an object")
    for name, values in value.items():
        if not name or len(name) > 255:
            raise ScriptError("invalid", "an attribute name is empty or longer than 255 characters")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ScriptError("invalid", f"attribute {name[:64]!r} is not a list of strings")
    return {name: list(values) for name, values in value.items()}


def _snapshot(data: ScriptInput) -> dict[str, Any]:
    return {"operation": data.operation, "clientId": data.client_id, "isAIAgent": data.is_ai_agent,
            "attributes": {k: [str(v) for v in vs] for k, vs in data.attributes.items()},
            "metadata": json.loads(json.dumps(data.metadata, default=str)), "realm": data.realm}


def _close_ref(ref: weakref.ref[QuickJsRunner]) -> None:
    runner = ref()
    if runner is not None:
        runner.close()
