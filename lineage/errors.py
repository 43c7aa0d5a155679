"""The exception tree of the engine.

    LineageError                  every error the engine raises on purpose
    ├── UserError                 the user's input is wrong: the CLI exits 2 with the message
    │   ├── InvalidKeyError       a node key or edge endpoint that breaks the key grammar
    │   ├── InvalidRecordError    a node or edge that breaks the graph model (kind, property, value)
    │   ├── NotFoundError         no node, system or resource of that key (suggests near matches)
    │   ├── EstateError           an estate file that fails validation (names file and field)
    │   ├── TooLargeError         an input over a size limit (a request body, a frame)
    │   └── SettingsError         unusable settings (a placeholder secret in production)
    ├── StoreError                the store could not do what was asked
    │   ├── StoreUnavailableError the store cannot be reached or opened (names the URI or path)
    │   └── BatchRejectedError    the store refused a batch; nothing of it was written
    └── SourceUnavailableError    a source (Orthanc, a DICOMweb server) failed after retries

Messages say what was wrong, where, and what to do next; they never carry patient identifiers.
"""

from __future__ import annotations


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception's message on one line (at most `limit` characters), else its kind."""
    text = " ".join(str(exc).split())
    return (text[:limit] if limit else text) or type(exc).__name__


class LineageError(Exception):
    """Base of every error the engine raises on purpose."""


class UserError(LineageError):
    """The input or the command line is wrong; the user can fix it."""


class InvalidKeyError(UserError):
    """A key that does not follow `<kind>:<natural id>`."""


class InvalidRecordError(UserError):
    """A node or edge that breaks the graph model."""


class NotFoundError(UserError):
    """No node, system or resource with that key."""


class EstateError(UserError):
    """An estate declaration file that fails validation."""


class TooLargeError(UserError):
    """An input over a size limit."""


class SettingsError(UserError):
    """Settings that cannot be used."""


class StoreError(LineageError):
    """The store could not do what was asked."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or opened."""


class SourceUnavailableError(LineageError):
    """A source system did not answer, or kept failing, after retries with back-off."""


class BatchRejectedError(StoreError):
    """The store refused a batch: nothing of it was written.

    `record_index` is the position in the batch (nodes first, then edges) of the record that
    caused it, when the store could tell; `record` is that record's description.
    """

    def __init__(self, reason: str, record_index: int | None = None, record: str | None = None):
        self.reason = reason
        self.record_index = record_index
        self.record = record
        where = f" at record {record_index} ({record})" if record_index is not None else ""
        super().__init__(f"batch rejected by the store{where}: {reason}")
