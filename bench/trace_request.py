"""Which of Credo's modules one client-credentials request runs through, in process, and how often control
crosses between the packages (http, oauth, storage, keys, domain).

    python bench/trace_request.py

Builds the app on a temporary SQLite database with the demo realms, sends three warm-up requests, then
traces the fourth with a profile hook (Python calls only) and prints the modules entered, the number of
http<->oauth crossings and the sequence of packages as control moves between them.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from credo.app import build_app
from credo.management.demo import ensure_demo
from credo.settings import Settings

PATH = "/am/oauth2/realms/root/realms/alpha/access_token"


def _package(module: str) -> str:
    return module.split("/")[0] if "/" in module else module


async def trace() -> list[str]:
    data_dir = Path(tempfile.mkdtemp())
    app = build_app(Settings(data_dir=data_dir, master_key="trace-" + "x" * 40, _env_file=None),  # type: ignore[call-arg]
                    base_url="http://credo.test")
    creds = {c.client_id: c.client_secret for c in ensure_demo(app.state.services)}
    form = {"grant_type": "client_credentials", "client_id": "bench-client", "client_secret": creds["bench-client"],
            "scope": "data-read"}
    calls: list[str] = []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        name = frame.f_code.co_filename
        if event == "call" and "/credo/" in name and "site-packages" not in name:
            calls.append(name.split("/credo/")[-1])

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://credo.test") as http:
        for _ in range(3):
            assert (await http.post(PATH, data=form)).status_code == 200
        sys.setprofile(profile)
        threading.setprofile(profile)
        try:
            answer = await http.post(PATH, data=form)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
    assert answer.status_code == 200, answer.text
    return calls


def main() -> None:
    calls = asyncio.run(trace())
    runs = [m for i, m in enumerate(calls) if i == 0 or m != calls[i - 1]]
    packages = [p for i, p in enumerate(map(_package, runs)) if i == 0 or p != _package(runs[i - 1])]
    crossings = sum(1 for a, b in itertools.pairwise(packages) if {a, b} == {"http", "oauth"})
    modules = sorted(set(calls))
    print(f"{len(modules)} modules: {', '.join(modules)}")
    print(f"http<->oauth crossings: {crossings}")
    print("package sequence:", " > ".join(packages))


if __name__ == "__main__":
    main()
