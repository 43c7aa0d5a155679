"""Who may call what: bearer tokens mapped to roles, kept hashed; and the audit log.

Tokens come from `LINEAGE_API_TOKENS` (JSON) or a file named by `LINEAGE_API_TOKENS_FILE`:
`{"name": {"sha256": "<hex of the token>", "role": "ingest|architect|auditor|admin",
"expires": "2027-06-30T00:00:00Z"}}` (`expires` optional: after it the token is refused). Only
hashes are kept. In development mode, with no tokens configured, the placeholder token
`dev-admin-token` is an admin; outside development the placeholder, and an empty token list,
refuse to start.

The audit log appends one JSON line per request, whatever its status (401, 403, 413, 422 and
500 included): when, who (token name), role, method, path, parameters, status, result size, and
the Cypher text of `/cypher`. Auditors export it with GET /audit.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from lineage.errors import SettingsError
from lineage.timefmt import to_timestamp, utc_now

PLACEHOLDER_TOKEN = "dev-admin-token"


class Role(StrEnum):
    INGEST = "ingest"
    ARCHITECT = "architect"
    AUDITOR = "auditor"
    ADMIN = "admin"


READERS = frozenset({Role.ARCHITECT, Role.AUDITOR, Role.ADMIN})
INGESTERS = frozenset({Role.INGEST, Role.ADMIN})
CYPHER = frozenset({Role.ARCHITECT, Role.ADMIN})
AUDITORS = frozenset({Role.AUDITOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    expires: str | None = None  # a stored timestamp; None: never

    def expired(self, now: str) -> bool:
        return self.expires is not None and now >= self.expires


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenBook:
    def __init__(self, by_hash: dict[str, Principal]):
        self.by_hash = by_hash

    @classmethod
    def from_environment(cls, development: bool) -> TokenBook:
        raw = os.environ.get("LINEAGE_API_TOKENS")
        path = os.environ.get("LINEAGE_API_TOKENS_FILE")
        if path:
            try:
                raw = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise SettingsError(f"LINEAGE_API_TOKENS_FILE {path}: {exc.strerror}") from None
        entries: dict[str, Any] = {}
        if raw:
            try:
                entries = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise SettingsError(f"API tokens are not JSON: {exc.msg}") from None
        return cls.from_entries(entries, development)

    @classmethod
    def from_entries(cls, entries: dict[str, Any], development: bool) -> TokenBook:
        book: dict[str, Principal] = {}
        for name, entry in entries.items():
            try:
                expires = entry.get("expires")
                book[str(entry["sha256"]).lower()] = Principal(
                    name, Role(entry["role"]), to_timestamp(str(expires)) if expires else None)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise SettingsError(f"API token {name!r}: give sha256, a role of "
                                    f"{', '.join(r.value for r in Role)} and optionally "
                                    "expires (an ISO-8601 date or time)") from None
        placeholder = token_hash(PLACEHOLDER_TOKEN)
        if not development and (not book or placeholder in book):
            raise SettingsError("the API needs real tokens outside development mode "
                                "(LINEAGE_API_TOKENS; the placeholder token is refused)")
        if development and not book:
            book[placeholder] = Principal("development", Role.ADMIN)
        return cls(book)

    def principal(self, token: str) -> Principal | None:
        return self.by_hash.get(token_hash(token))


class AuditLog:
    """Append-only JSON lines, readable by the service's user alone (mode 0600). When the file
    passes `max_bytes` it is rotated: `audit.jsonl` → `audit.jsonl.1` … up to `backups` files."""

    def __init__(self, path: Path, max_bytes: int = 50 * 1024 * 1024, backups: int = 10):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps({"at": utc_now(), **entry}, sort_keys=True, default=str) + "\n")
        with self.lock:
            self._rotate_if_full()
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
                handle.write(line)

    def _rotate_if_full(self) -> None:
        try:
            if self.path.stat().st_size < self.max_bytes:
                return
        except FileNotFoundError:
            return
        for number in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{number + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def entries(self, offset: int = 0, limit: int = 1000) -> tuple[list[dict[str, Any]], int]:
        if not self.path.exists():
            return [], 0
        with self.lock:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines[offset:offset + limit]], len(lines)
