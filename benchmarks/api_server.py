"""`lineage serve` for the benchmarks: a real API server on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tools.local_process import free_port, wait_until_answers


@contextmanager
def lineage_serve(folder: Path, env: Mapping[str, str], log: IO[bytes] | None = None,
                  start_seconds: float = 60) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The server (in `folder`, with `env`; its output to `log`, else discarded) and its base
    URL, once `/health` answers; stopped on leaving."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "lineage", "serve", "--port", str(port)],
                              cwd=folder, env=dict(env), stdout=log or subprocess.DEVNULL,
                              stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        outcome = wait_until_answers(f"{url}/health", server, start_seconds)
        if outcome != "answered":
            raise RuntimeError(f"lineage serve {outcome} before answering at {url}")
        yield server, url
    finally:
        server.terminate()
        server.wait(60)
