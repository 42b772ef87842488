"""The script worker process: reads framed JSON requests on stdin, runs each in a fresh QuickJS
context, writes framed JSON results on stdout. Exits when stdin closes (its parent went away).

Frames are a 4-byte big-endian length followed by UTF-8 JSON. The first frame out says it is ready.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import IO, Any

from credo.scripting.sandbox import Limits, execute

HEADER = struct.Struct(">I")
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def read_frame(stream: IO[bytes], max_bytes: int) -> bytes | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    if size > max_bytes:
        raise ValueError(f"frame of {size} bytes exceeds {max_bytes}")
    body = stream.read(size)
    return body if len(body) == size else None


def write_frame(stream: IO[bytes], payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def handle(request: dict[str, Any]) -> dict[str, Any]:
    try:
        return execute(request["source"], request["input"], Limits(**request["limits"]))
    except Exception as exc:  # a broken request must not take the worker down
        return {"ok": False, "reason": "invalid", "message": f"the script could not be run: {type(exc).__name__}",
                "logs": []}


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    write_frame(stdout, {"ready": True})
    while (frame := read_frame(stdin, MAX_REQUEST_BYTES)) is not None:
        write_frame(stdout, handle(json.loads(frame)))


if __name__ == "__main__":
    main()
