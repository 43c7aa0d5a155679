"""What the scripts that run a local server share: a free loopback port, and waiting until the
server answers over HTTP."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Literal

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_answers(url: str, process: subprocess.Popen[bytes], seconds: float
                       ) -> Literal["answered", "exited", "timed out"]:
    """Poll `url` until it answers 200, `process` exits, or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return "exited"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return "answered"
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return "timed out"
