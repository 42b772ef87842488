"""Run `credo` as a real subprocess (server and CLI) against a temporary data directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

import credo
from tests.support import MASTER_KEY, free_port

SRC = str(Path(credo.__file__).resolve().parent.parent)
ROOT = str(Path(SRC).parent)


def credo_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDO_")}
    env.update({"CREDO_DATA_DIR": str(data_dir), "CREDO_MASTER_KEY": MASTER_KEY,
                "PYTHONPATH": os.pathsep.join([SRC, ROOT]), **extra})
    return env


def run_cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a CLI command in `data_dir` (its data directory and working directory); whatever its outcome."""
    return subprocess.run([sys.executable, "-m", "credo.cli.main", *args], env=credo_env(data_dir, **env),
                          cwd=data_dir, capture_output=True, text=True, timeout=60, check=False)


def cli(data_dir: Path, *args: str, **env: str) -> str:
    """Run a CLI command; returns its stdout (raises with stderr on failure)."""
    done = run_cli(data_dir, *args, **env)
    if done.returncode != 0:
        raise RuntimeError(f"credo {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def cli_json(data_dir: Path, *args: str, **env: str) -> Any:
    return json.loads(cli(data_dir, *args, **env).strip().splitlines()[-1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    base_url: str
    stderr_path: Path

    def realm_url(self, realm: str = "alpha") -> str:
        return self.base_url + ("/am/oauth2" if realm == "root" else f"/am/oauth2/realms/root/realms/{realm}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base_url + "/am/oauth2/.well-known/openid-configuration", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


@contextmanager
def credo_server(data_dir: Path, *, port: int | None = None, log: Path | None = None,
                 **env: str) -> Iterator[ServerProcess]:
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    stderr_path = log or data_dir / f"server-{port}.log"
    err: IO[bytes] = stderr_path.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "credo.cli.main", "serve", "--port", str(port)],
                            env=credo_env(data_dir, **env), stdout=err, stderr=err)
    try:
        _wait_ready(proc, base_url)
        yield ServerProcess(proc, base_url, stderr_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        err.close()
