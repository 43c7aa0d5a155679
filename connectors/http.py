"""HTTP for connectors: JSON GETs with retries and exponential back-off.

Transport errors and 5xx answers are retried (`attempts` times, waiting `backoff` seconds,
then twice and four times as long, at most `max_wait`); then `SourceUnavailableError` names
the URL and the last failure.
A 4xx answer is not retried: 404 returns None (the resource is gone), others raise at once.
Tests swap the transport (`httpx.MockTransport`) instead of patching.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from lineage.errors import SourceUnavailableError

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class JsonSource:
    def __init__(
        self, base_url: str, *, name: str, attempts: int = 5, backoff: float = 0.5,
        max_wait: float = 10.0, timeout: float = 30.0, transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_wait = max_wait
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                   headers=headers)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON at `path`, None on 404; retries, then SourceUnavailableError."""
        failure = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), self.max_wait))
            try:
                response = self.client.get(path, params=params)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in RETRYABLE_STATUS:
                failure = f"HTTP {response.status_code}"
                continue
            if response.status_code == 404:
                return None
            if response.status_code >= 400:
                raise SourceUnavailableError(
                    f"{self.name} at {self.base_url} answered HTTP {response.status_code} "
                    f"to GET {path}: {response.text[:200]}")
            if not response.content:
                return None
            return response.json()
        raise SourceUnavailableError(
            f"{self.name} at {self.base_url} failed {self.attempts} times on GET {path} "
            f"(last: {failure}); is it running and reachable?")

    def close(self) -> None:
        self.client.close()
