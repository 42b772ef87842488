"""uvicorn options for `credo serve`: the C event loop and HTTP parser when installed, nothing per request
that the server does not need (access log, lifespan, server header)."""

from __future__ import annotations

import importlib.util
from typing import Any


def server_options() -> dict[str, Any]:
    options: dict[str, Any] = {"access_log": False, "log_level": "warning", "lifespan": "off",
                               "server_header": False}
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        options["http"] = "credo.http.server_protocol:CoalescingHttpToolsProtocol"  # httptools, one write per response
    return options
