"""A loopback HTTP server that records the paths of the GETs it receives: for tests that must
see whether the engine (or Neo4j on its behalf) fetched a URL."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Recorded:
    url: str
    hits: list[str] = field(default_factory=list)


@contextmanager
def recording_server(body: bytes = b"") -> Iterator[Recorded]:
    """Serve on a free loopback port until the block ends; `recorded.hits` lists GET paths."""
    recorded = Recorded("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorded.hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    recorded.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
