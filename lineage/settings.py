"""Settings, from the environment (prefix LINEAGE_) or a `.env` file.

| setting                     | env                      | default                  |
|-----------------------------|--------------------------|--------------------------|
| store                       | LINEAGE_STORE            | lineage.db (local store) |
| environment                 | LINEAGE_ENV              | development              |
| pseudonym_key               | LINEAGE_PSEUDONYM_KEY    | a development placeholder|
| batch_size                  | LINEAGE_BATCH_SIZE       | 1000                     |
| neo4j_user / neo4j_password | NEO4J_USER / NEO4J_PASSWORD | neo4j / none (no auth) |
| neo4j_database              | LINEAGE_NEO4J_DATABASE   | neo4j                    |
| audit_log                   | LINEAGE_AUDIT_LOG        | lineage-api-audit.jsonl  |
| audit_max_bytes / _backups  | LINEAGE_AUDIT_MAX_BYTES / LINEAGE_AUDIT_BACKUPS | 50 MB / 10 |
| redact_key_patterns         | LINEAGE_REDACT_KEY_PATTERNS (JSON list) | none      |
| sns_confirm_hosts           | LINEAGE_SNS_CONFIRM_HOSTS | sns.<region>.amazonaws.com |

Values are read case-insensitively (`LINEAGE_ENV=Production` is production). Outside development
(`LINEAGE_ENV=production`), the placeholder pseudonym key, a key shorter than 32 characters, and a
key with too little entropy (`aaaa…`, `abcdabcd…`) are refused: pseudonyms made with a known or
guessable key protect nobody.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lineage.errors import SettingsError

PLACEHOLDER_PSEUDONYM_KEY = "development-only-pseudonym-key-change-me"
MIN_KEY_LENGTH = 32
MIN_KEY_BITS = 128  # by the key's own character frequencies: `openssl rand -hex 32` gives 256
DEFAULT_STORE = "lineage.db"
# The credentials docker-compose.yml gives its Neo4j; tests check that the two agree.
COMPOSE_NEO4J_USER = "neo4j"
COMPOSE_NEO4J_PASSWORD = "lineage-dev-password"
NEO4J_BOLT_PORT = 7687


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINEAGE_", env_file=".env", extra="ignore")

    store: str = DEFAULT_STORE
    environment: Literal["development", "production"] = Field(
        default="development", validation_alias=AliasChoices("LINEAGE_ENV", "environment")
    )
    pseudonym_key: SecretStr = SecretStr(PLACEHOLDER_PSEUDONYM_KEY)
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    neo4j_user: str = Field(
        default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "neo4j_user")
    )
    neo4j_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NEO4J_PASSWORD", "neo4j_password")
    )
    neo4j_database: str = "neo4j"
    audit_log: Path = Path("lineage-api-audit.jsonl")
    audit_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    audit_backups: int = Field(default=10, ge=1, le=1000)
    # regular expressions of object-key parts holding patient data (JSON list in the env)
    redact_key_patterns: list[str] = Field(default_factory=list)
    # SNS subscription handshakes confirmed by the API for these hosts (a regular expression)
    sns_confirm_hosts: str | None = r"sns\.[a-z0-9-]+\.amazonaws\.com"

    @field_validator("environment", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def pseudonym_secret(self) -> bytes:
        """The pseudonym key, refused when it is a placeholder outside development mode."""
        secret = self.pseudonym_key.get_secret_value()
        if self.environment != "development" and (
            secret == PLACEHOLDER_PSEUDONYM_KEY or len(secret) < MIN_KEY_LENGTH
            or key_bits(secret) < MIN_KEY_BITS
        ):
            raise SettingsError(
                "LINEAGE_PSEUDONYM_KEY is the placeholder, shorter than "
                f"{MIN_KEY_LENGTH} characters or too regular to be random; set a random secret "
                "(e.g. `openssl rand -hex 32`) or run with LINEAGE_ENV=development"
            )
        return secret.encode()

    def neo4j_auth(self) -> tuple[str, str] | None:
        if self.neo4j_password is None:
            return None
        return (self.neo4j_user, self.neo4j_password.get_secret_value())


def key_bits(secret: str) -> float:
    """An estimate of a key's entropy from its own character frequencies (Shannon, in bits):
    a repeated character has none, a repeated short pattern little."""
    counts = Counter(secret)
    return -sum(n * math.log2(n / len(secret)) for n in counts.values())


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. the CLI's --store)."""
    values = {name: value for name, value in overrides.items() if value is not None}
    return Settings(**values)  # type: ignore[arg-type]
