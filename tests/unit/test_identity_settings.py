"""Pseudonyms and the settings that guard their key."""

from __future__ import annotations

import pytest

from lineage.errors import InvalidRecordError, SettingsError
from lineage.identity import key_fingerprint, patient_key, pseudonym
from lineage.settings import PLACEHOLDER_PSEUDONYM_KEY, Settings

SECRET = b"k" * 32


def test_pseudonym_is_keyed_stable_and_issuer_scoped() -> None:
    first = pseudonym("NORTH-HOSP", "MRN1", SECRET)
    assert first == pseudonym(" NORTH-HOSP ", "MRN1 ", SECRET)
    assert first != pseudonym("SOUTH-HOSP", "MRN1", SECRET)
    assert first != pseudonym("NORTH-HOSP", "MRN1", b"other-secret" * 3)
    assert len(first) == 64 and "MRN1" not in first


def test_patient_key_is_a_valid_pseudonymous_key() -> None:
    key = patient_key("NORTH-HOSP", "MRN1", SECRET)
    assert key == "patient:" + pseudonym("NORTH-HOSP", "MRN1", SECRET)
    with pytest.raises(InvalidRecordError):
        patient_key("NORTH-HOSP", "  ", SECRET)


def test_key_fingerprint_tells_keys_apart() -> None:
    assert key_fingerprint(SECRET) == key_fingerprint(SECRET)
    assert key_fingerprint(SECRET) != key_fingerprint(b"x" * 32)


def test_placeholder_key_refused_outside_development() -> None:
    assert Settings(environment="development").pseudonym_secret() == (
        PLACEHOLDER_PSEUDONYM_KEY.encode())
    with pytest.raises(SettingsError, match="LINEAGE_PSEUDONYM_KEY"):
        Settings(environment="production").pseudonym_secret()
    with pytest.raises(SettingsError):
        Settings(environment="production", pseudonym_key="short").pseudonym_secret()  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="too regular"):
        Settings(environment="production", pseudonym_key="s" * 40).pseudonym_secret()  # type: ignore[arg-type]
    strong = "9f1c2b7e4d3a86f05e2c71b9a4d8e3f6c0b5a7192e8d4f63a1c7b0e59d2f8a34"
    assert Settings(environment="production", pseudonym_key=strong).pseudonym_secret() == (  # type: ignore[arg-type]
        strong.encode())


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_STORE", "bolt://127.0.0.1:7999")
    monkeypatch.setenv("LINEAGE_ENV", "production")
    monkeypatch.setenv("NEO4J_PASSWORD", "pw")
    settings = Settings()
    assert settings.store == "bolt://127.0.0.1:7999"
    assert settings.environment == "production"
    assert settings.neo4j_auth() == ("neo4j", "pw")
