"""Patient pseudonyms: keyed HMAC-SHA256 of issuer and patient ID.

The same (issuer, ID) pair always gives the same pseudonym under one key, so the EHR and the PACS
land on one Patient node; without the key, nobody can go back from a pseudonym to the patient.
Names, IDs and birth dates in clear never enter the graph.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from lineage.errors import InvalidRecordError, SettingsError
from lineage.model import NodeKind, make_key

_SEPARATOR = "\x1f"  # unit separator: cannot occur in an HL7 or DICOM identifier


def pseudonym(issuer: str, patient_id: str, secret: bytes) -> str:
    """The 64-hex-digit pseudonym of one patient identifier under `secret`."""
    issuer, patient_id = issuer.strip(), patient_id.strip()
    if not patient_id:
        raise InvalidRecordError("a patient identifier is empty: nothing to pseudonymize")
    message = f"{issuer}{_SEPARATOR}{patient_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def patient_key(issuer: str, patient_id: str, secret: bytes) -> str:
    """The key of the Patient node for one identifier: `patient:<pseudonym>`."""
    return make_key(NodeKind.PATIENT, pseudonym(issuer, patient_id, secret))


class _MetaStore(Protocol):
    location: str

    def get_meta(self, name: str) -> str | None: ...

    def set_meta(self, name: str, value: str) -> None: ...


FINGERPRINT_META = "pseudonym_key_fingerprint"


def bind_pseudonym_key(store: _MetaStore, secret: bytes) -> None:
    """Tie a store to one pseudonym key: the first write records the key's fingerprint, and a
    different key is refused afterwards, since it would split every patient in two."""
    fingerprint = key_fingerprint(secret)
    bound = store.get_meta(FINGERPRINT_META)
    if bound is None:
        store.set_meta(FINGERPRINT_META, fingerprint)
    elif bound != fingerprint:
        raise SettingsError(
            f"store {store.location} was built with pseudonym key fingerprint {bound}, but "
            f"LINEAGE_PSEUDONYM_KEY has fingerprint {fingerprint}: use the store's key"
        )


def key_fingerprint(secret: bytes) -> str:
    """A short public fingerprint of the pseudonym key, to tell two keys apart without either."""
    return hmac.new(secret, b"lineage-key-fingerprint", hashlib.sha256).hexdigest()[:16]
