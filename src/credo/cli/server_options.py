"""uvicorn options for `credo serve`: the C event loop and HTTP parser when installed, nothing per request
that the server does not need (uvicorn's access log, the server header), the lifespan protocol (the app's
shutdown steps: `CredoApp.on_shutdown`), and proxy headers ignored unless the operator names the proxies
to trust.

The client address is what the failure throttles and the registration rate limit count by. uvicorn's own
default trusts `X-Forwarded-For` from 127.0.0.1, so anything on the same host could choose its address and
escape every limit; here the address is the socket's peer unless `--proxy-headers` is given, and then only
`X-Forwarded-For` / `X-Forwarded-Proto` sent by one of `--forwarded-allow-ips` are believed."""

from __future__ import annotations

import importlib.util
from typing import Any


def server_options(*, proxy_headers: bool = False, forwarded_allow_ips: str | None = None) -> dict[str, Any]:
    if proxy_headers and not forwarded_allow_ips:
        raise ValueError("--proxy-headers needs --forwarded-allow-ips: the addresses of the proxies to trust")
    options: dict[str, Any] = {"access_log": False, "log_level": "warning", "lifespan": "on",
                               "server_header": False, "proxy_headers": proxy_headers}
    if proxy_headers:
        options["forwarded_allow_ips"] = forwarded_allow_ips
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        options["http"] = "credo.http.server_protocol:CoalescingHttpToolsProtocol"  # httptools, one write per response
    return options
