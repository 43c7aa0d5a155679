"""Cloud storage events → stored copies: AWS S3 (records, SNS and EventBridge envelopes), Google
Cloud Storage (Pub/Sub notifications) and Azure Blob Storage (Event Grid, CloudEvents).

Every event becomes a `StorageEvent` (parse_*: pure). Object keys map to the series (or study)
they hold by key patterns with named groups `study`, `series`, `instance` (DICOMweb-style paths
by default); the bucket or container is a System. Per object, the state (live or not, size,
storage class, the ordering token) is kept in a state file, so that:
- events out of order do not resurrect a deleted object or undo a newer state: the S3 sequencer
  (hex, compared after zero-padding, per key), the GCS generation, the Azure sequencer order the
  events of one object; events without a token are ordered by time;
- the copy of a series is recomputed from its objects after each file: instance count, bytes,
  storage tier, created_at, and disposed_at once its last object is gone.
Objects that map to nothing known become uncataloged copies (`uncataloged: true`), never dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, unquote_plus, urlsplit

import httpx
from pydantic import Field

from connectors.json_input import documents_of, read_documents
from connectors.state_file import open_state
from lineage.errors import UserError
from lineage.model import (
    Confidence,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Provenance,
    make_key,
    object_key,
)
from lineage.model import system_key as system_key_of
from lineage.pipeline import Bundle, Commit, Notice, Pending, Record, Rejected
from lineage.sources import FileInputs, Source, SourceContext
from lineage.timefmt import to_timestamp

DEFAULT_PATTERNS = (
    r"(?:^|/)studies/(?P<study>[0-9.]+)/series/(?P<series>[0-9.]+)"
    r"(?:/(?:instances/)?(?P<instance>[^/]+?)(?:\.dcm)?)?$",
    r"(?:^|/)studies/(?P<study>[0-9.]+)/(?:[^/]+)$",
)
CREATED, DELETED, TIER, RESTORED, REPLICATION, METADATA, HIDDEN = (
    "created", "deleted", "tier", "restored", "replication", "metadata", "hidden")


__all__ = ["PARSERS", "KeyPatterns", "ObjectState", "StorageEvent", "StorageSource", "copy_of",
           "event_records", "parse_azure", "parse_gcs", "parse_s3", "read_documents"]


class EventError(UserError):
    """An event that cannot be used (the run reports it and goes on)."""


@dataclass(frozen=True, slots=True)
class StorageEvent:
    provider: str
    container: str
    key: str
    action: str
    time: str
    location: str
    order: str | None = None
    size: int | None = None
    storage_class: str | None = None
    region: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _size(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def _token(value: Any) -> str | None:
    """An ordering token (sequencer, generation) as text; only text and whole numbers are."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EventError("the sequencer is neither text nor a number")
    return str(value)


@dataclass(frozen=True, slots=True)
class KeyRedaction:
    """Object keys with patient data in them (`scans/DOE^JANE/1.dcm`): each match of a pattern
    is replaced by a keyed hash of it (`redacted-<12 hex>`), stable for the same text under the
    same key, before the key is stored, logged or reported."""

    patterns: tuple[re.Pattern[str], ...]
    secret: bytes

    @classmethod
    def of(cls, texts: Iterable[str], secret: bytes) -> KeyRedaction | None:
        compiled = tuple(_regex(text, "redaction pattern") for text in texts)
        return cls(compiled, secret) if compiled else None

    def key(self, key: str) -> str:
        for pattern in self.patterns:
            key = pattern.sub(self._hashed, key)
        return key

    def _hashed(self, match: re.Match[str]) -> str:
        digest = hmac.new(self.secret, match.group(0).encode(), hashlib.sha256).hexdigest()
        return f"redacted-{digest[:12]}"


BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
PLACEHOLDER_KEYS = frozenset({"", "none", "null", "undefined", "nan"})


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def confirm_subscription(url: str) -> str:
    """GET an SNS SubscribeURL (HTTPS; plain HTTP only on loopback, for tests): the outcome."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return f"not confirmed: {parts.scheme or 'no'} scheme, HTTPS needed ({url!r})"
    try:
        answer = httpx.get(url, timeout=10, follow_redirects=False)
    except httpx.HTTPError as exc:
        return f"not confirmed: {type(exc).__name__} ({url!r})"
    if answer.status_code != 200:
        return f"not confirmed: HTTP {answer.status_code} ({url!r})"
    return "confirmed"


def implausible_key(key: str) -> str | None:
    """Why an object key is not taken as a path of stored data, or None. Keys holding
    bidirectional controls display as another name (a spoof); `None`, `null` or a bare number
    are a producer's bug, not a file."""
    if BIDI_CONTROLS.search(key):
        return "the object key holds bidirectional text controls (it displays as another name)"
    if key.strip().lower() in PLACEHOLDER_KEYS or key.strip().isdigit():
        return "the object key is a placeholder or a bare number, not a path of stored data"
    if any(ord(c) < 32 for c in key):
        return "the object key holds control characters"
    return None


def _padded(token: Any, width: int = 40) -> str | None:
    text = _token(token)
    return text.rjust(width, "0") if text else None


# -- AWS S3 -----------------------------------------------------------------------------------
S3_ACTIONS = {"ObjectCreated": CREATED, "ObjectRemoved": DELETED, "LifecycleExpiration": DELETED,
              "LifecycleTransition": TIER, "IntelligentTiering": TIER, "ObjectRestore": RESTORED,
              "Replication": REPLICATION}
EVENTBRIDGE_ACTIONS = {"Object Created": CREATED, "Object Deleted": DELETED,
                       "Object Storage Class Changed": TIER, "Object Restore Completed": RESTORED,
                       "Object Access Tier Changed": TIER}


@dataclass(frozen=True, slots=True)
class SnsConfirmation:
    """An SNS subscription (or unsubscription) handshake: confirmed by a GET of `url`."""

    location: str
    kind: str
    topic: str
    url: str


ParsedEvent = StorageEvent | Rejected | Notice | SnsConfirmation | None
MAX_ENVELOPES = 4  # SQS → SNS → S3 is three deep; more is not an AWS shape


def parse_s3(document: Any, location: str, depth: int = 0) -> Iterator[ParsedEvent]:
    """S3 notification records in every envelope AWS documents, recognised by shape: direct,
    SNS (HTTP delivery), SNS → Lambda (`Records[].Sns.Message`), SQS (`Body`), SQS → Lambda
    (`Records[].body`), each of those around an SNS envelope, and EventBridge (also through
    SQS). None for a test event; an SNS subscription confirmation is a Notice with its URL."""
    if depth > MAX_ENVELOPES:
        yield Rejected(location, "envelopes nested deeper than AWS sends them")
        return
    if not isinstance(document, dict):
        yield Rejected(location, "not an S3 event: not a JSON object")
        return
    kind = document.get("Type")
    if kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        yield SnsConfirmation(location, str(kind), str(document.get("TopicArn")),
                              str(document.get("SubscribeURL")))
        return
    inner = _envelope_content(document)
    if inner is not None:
        yield from _unwrapped(inner, location, depth)
        return
    if document.get("Event") == "s3:TestEvent":
        yield None
        return
    if document.get("source") == "aws.s3":
        yield _eventbridge(document, location)
        return
    records = document.get("Records")
    if not isinstance(records, list):
        yield Rejected(location, "not an S3 event: no Records, no SNS, SQS or EventBridge "
                       "envelope")
        return
    for index, record in enumerate(records):
        where = f"{location}/Records[{index}]"
        content = _envelope_content(record) if isinstance(record, dict) else None
        if content is not None:
            yield from _unwrapped(content, where, depth)
            continue
        try:
            yield _s3_record(record, where)
        except MALFORMED as exc:
            yield Rejected(where, _reason(exc))


def _envelope_content(item: dict[str, Any]) -> tuple[str, Any] | None:
    """(label, text) of what an SNS or SQS envelope carries, or None for no envelope."""
    if item.get("Type") == "Notification" and "Message" in item:
        return "Message", item["Message"]  # SNS over HTTP, or inside an SQS body
    if isinstance(item.get("Sns"), dict) and "Message" in item["Sns"]:
        return "Sns/Message", item["Sns"]["Message"]  # SNS → Lambda
    if item.get("eventSource") == "aws:sqs" and "body" in item:
        return "body", item["body"]  # SQS → Lambda
    if "MessageId" in item and "Body" in item:
        return "Body", item["Body"]  # SQS ReceiveMessage
    return None


def _unwrapped(content: tuple[str, Any], location: str, depth: int) -> Iterator[ParsedEvent]:
    label, text = content
    where = f"{location}/{label}"
    try:
        inner = json.loads(text) if isinstance(text, str) else text
    except (json.JSONDecodeError, RecursionError):
        yield Rejected(where, "the envelope's message is not JSON")
        return
    yield from parse_s3(inner, where, depth + 1)


# What a record of an unexpected shape raises while it is read (a number where an object was
# expected, a missing key): that record is rejected, the others of its document go on.
MALFORMED = (EventError, KeyError, TypeError, AttributeError, ValueError, IndexError)


def _reason(exc: Exception) -> str:
    if isinstance(exc, EventError):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return f"a field has an unexpected shape ({type(exc).__name__})"


def _s3_record(record: dict[str, Any], where: str) -> StorageEvent:
    name = str(record["eventName"])
    action = S3_ACTIONS.get(name.split(":")[0])
    if action is None:
        raise EventError(f"unknown S3 event type {name!r}")
    if name == "ObjectRemoved:DeleteMarkerCreated":
        action = HIDDEN  # a versioned bucket keeps the earlier versions: not a disposal
    s3 = record["s3"]
    obj = s3["object"]
    detail: dict[str, Any] = {"event": name}
    storage_class = None
    lifecycle = record.get("lifecycleEventData") or {}
    if action == TIER:
        storage_class = ((lifecycle.get("transitionEventData") or {}).get("destinationStorageClass")
                         or (record.get("intelligentTieringEventData") or {})
                         .get("destinationAccessTier"))
    if action == REPLICATION:
        detail["replication"] = name.split(":")[-1]
    return StorageEvent(
        "s3", str(s3["bucket"]["name"]), unquote_plus(str(obj["key"])), action,
        _time(record["eventTime"]), where, _padded(obj.get("sequencer")), _size(obj.get("size")),
        storage_class, record.get("awsRegion"), detail)


def _eventbridge(document: dict[str, Any], where: str) -> StorageEvent | Rejected:
    kind = document.get("detail-type", "")
    action = EVENTBRIDGE_ACTIONS.get(kind)
    if action is None:
        return Rejected(where, f"unknown S3 EventBridge event type {kind!r}")
    try:
        detail = document.get("detail") or {}
        obj = detail.get("object") or {}
        if action == DELETED and detail.get("deletion-type") == "Delete Marker Created":
            action = HIDDEN
        return StorageEvent(
            "s3", str(detail["bucket"]["name"]), str(obj["key"]), action,
            _time(document["time"]), where, _padded(obj.get("sequencer")), _size(obj.get("size")),
            detail.get("destination-storage-class"), document.get("region"),
            {"event": kind, "reason": detail.get("reason")})
    except MALFORMED as exc:
        return Rejected(where, _reason(exc))


# -- Google Cloud Storage ----------------------------------------------------------------------
GCS_ACTIONS = {"OBJECT_FINALIZE": CREATED, "OBJECT_DELETE": DELETED, "OBJECT_ARCHIVE": DELETED,
               "OBJECT_METADATA_UPDATE": METADATA}


def parse_gcs(document: Any, location: str) -> Iterator[ParsedEvent]:
    """Pub/Sub messages (push bodies, pulled messages, or lists of them)."""
    messages = document if isinstance(document, list) else [document]
    for index, message in enumerate(messages):
        where = f"{location}[{index}]" if isinstance(document, list) else location
        if isinstance(message, dict) and "message" in message:
            message = message["message"]  # a push body
        if not isinstance(message, dict) or not isinstance(message.get("attributes"), dict):
            yield Rejected(where, "not a Pub/Sub message: no attributes")
            continue
        attributes = message["attributes"]
        kind = attributes.get("eventType", "")
        if kind not in GCS_ACTIONS:
            yield Rejected(where, f"unknown GCS event type {kind!r}")
            continue
        if kind in ("OBJECT_DELETE", "OBJECT_ARCHIVE") and attributes.get(
                "overwrittenByGeneration"):
            yield None  # part of an overwrite: the FINALIZE of the new generation says it all
            continue
        payload = _gcs_payload(message.get("data"))
        try:
            yield StorageEvent(
                "gcs", str(attributes["bucketId"]), str(attributes["objectId"]),
                GCS_ACTIONS[kind], _time(attributes.get("eventTime") or payload["updated"]),
                where, _padded(str(attributes.get("objectGeneration") or "") or None, 20),
                _size(payload.get("size")), payload.get("storageClass"), None,
                {"event": kind, "temporary_hold": payload.get("temporaryHold"),
                 "event_based_hold": payload.get("eventBasedHold"),
                 "retention_expires": payload.get("retentionExpirationTime")})
        except MALFORMED as exc:
            yield Rejected(where, _reason(exc))


def _gcs_payload(data: Any) -> dict[str, Any]:
    if not data:
        return {}
    try:
        decoded = json.loads(base64.b64decode(data)) if isinstance(data, str) else data
    except (ValueError, json.JSONDecodeError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


# -- Azure Blob Storage ------------------------------------------------------------------------
AZURE_ACTIONS = {"Microsoft.Storage.BlobCreated": CREATED, "Microsoft.Storage.BlobDeleted": DELETED,
                 "Microsoft.Storage.BlobTierChanged": TIER}
_SUBJECT = re.compile(r"^/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<blob>.+)$")


def parse_azure(document: Any, location: str) -> Iterator[ParsedEvent]:
    """Event Grid events (a list, or one) in the Event Grid or the CloudEvents schema."""
    events = document if isinstance(document, list) else [document]
    for index, event in enumerate(events):
        where = f"{location}[{index}]"
        if not isinstance(event, dict):
            yield Rejected(where, "not an Event Grid event")
            continue
        kind = event.get("eventType") or event.get("type") or ""
        if kind == "Microsoft.EventGrid.SubscriptionValidationEvent":
            yield None
            continue
        if kind not in AZURE_ACTIONS:
            yield Rejected(where, f"unknown Azure event type {kind!r}")
            continue
        topic = str(event.get("topic") or event.get("source") or "")
        subject = _SUBJECT.match(str(event.get("subject", "")))
        data = event.get("data") or {}
        if subject is None or "/storageAccounts/" not in topic:
            yield Rejected(where, "subject or topic does not name a storage account blob")
            continue
        account = topic.rsplit("/storageAccounts/", 1)[1].split("/")[0]
        try:
            yield StorageEvent(
                "azure", f"{account}.{subject['container']}", unquote(subject["blob"]),
                AZURE_ACTIONS[kind], _time(event.get("eventTime") or event.get("time") or ""),
                where, _token(data.get("sequencer")), _size(data.get("contentLength")),
                data.get("accessTier"), None,
                {"event": kind, "previous_tier": data.get("previousTier")})
        except MALFORMED as exc:
            yield Rejected(where, _reason(exc))


def _time(value: Any) -> str:
    try:
        text = value.strip()
        if "." in text:  # Azure gives 7 fractional digits; Python takes 6
            head, _, tail = text.partition(".")
            digits = "".join(c for c in tail if c.isdigit())
            text = f"{head}.{digits[:6]}{tail[len(digits):]}"
        return to_timestamp(text)
    except (ValueError, AttributeError):
        raise EventError(f"event time {value!r} is not a time") from None


Parser = Callable[[Any, str], Iterator[ParsedEvent]]
PARSERS: dict[str, Parser] = {"s3": parse_s3, "gcs": parse_gcs, "azure": parse_azure}


# -- key patterns ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyPatterns:
    patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, texts: Iterable[str] | None = None) -> KeyPatterns:
        compiled = []
        for text in texts or DEFAULT_PATTERNS:
            pattern = _regex(text, "key pattern")
            if not {"study", "series"} & set(pattern.groupindex):
                raise UserError(
                    f"key pattern {text!r} names neither a study nor a series group")
            compiled.append(pattern)
        return cls(tuple(compiled))

    def content(self, key: str) -> tuple[str | None, str | None]:
        """(study UID, series UID) an object key holds, (None, None) when none matches."""
        for pattern in self.patterns:
            found = pattern.search(key)
            if found:
                groups = found.groupdict()
                return groups.get("study"), groups.get("series")
        return None, None


# -- per-object state --------------------------------------------------------------------------
STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    container TEXT NOT NULL, key TEXT NOT NULL, copy TEXT NOT NULL, token TEXT, time TEXT NOT NULL,
    live INTEGER NOT NULL, size INTEGER, storage_class TEXT, created TEXT, deleted TEXT,
    PRIMARY KEY (container, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_copy ON objects (copy);
"""


class ObjectState:
    """What each object's latest event said; copies are recomputed from it."""

    def __init__(self, path: Path):
        self.db = open_state(path, STATE_SCHEMA, "storage-event state")

    def apply(self, event: StorageEvent, copy: str) -> bool:
        """Apply an event unless a newer one was applied already; True when applied."""
        row = self.db.execute(
            "SELECT token, time, live, size, storage_class, created FROM objects "
            "WHERE container = ? AND key = ?", (event.container, event.key)).fetchone()
        if row is not None and _older(event, row[0], row[1]):
            return False
        live, size, storage_class, created = (bool(row[2]), row[3], row[4], row[5]) if row else (
            False, None, None, None)
        deleted = None
        if event.action == CREATED:
            live, size = True, event.size if event.size is not None else size
            storage_class = event.storage_class or storage_class or "STANDARD"
            created = min(filter(None, [created, event.time]))
        elif event.action == DELETED:
            live, deleted = False, event.time
        elif event.storage_class:
            storage_class = event.storage_class
        self.db.execute(
            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event.container, event.key, copy, event.order, event.time, int(live), size,
             storage_class, created, deleted))
        return True

    def copy_state(self, copy: str) -> dict[str, Any]:
        rows = self.db.execute("SELECT live, size, storage_class, created, deleted FROM objects "
                               "WHERE copy = ?", (copy,)).fetchall()
        live = [r for r in rows if r[0]]
        classes = {r[2] for r in live if r[2]}
        return {
            "instance_count": len(live),
            "bytes": sum(r[1] or 0 for r in live),
            "storage_tier": classes.pop().lower() if len(classes) == 1 else None,
            "created_at": min((r[3] for r in rows if r[3]), default=None),
            "disposed_at": None if live else max((r[4] for r in rows if r[4]), default=None),
        }

    def begin(self) -> None:
        self.db.execute("BEGIN")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def _older(event: StorageEvent, token: str | None, time: str) -> bool:
    """Whether `event` is older than the stored state (equal: applied again, harmlessly)."""
    if event.order is not None and token is not None:
        width = max(len(event.order), len(token))
        return event.order.rjust(width, "0") < token.rjust(width, "0")
    return event.time < time


# -- events → records ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StorageSource:
    provider: str
    patterns: KeyPatterns
    regions: Mapping[str, str] = field(default_factory=dict)  # container or account → region
    redaction: KeyRedaction | None = None
    # SNS hosts whose subscription handshakes are confirmed (a GET of the SubscribeURL); None:
    # reported with the URL for a person to open
    sns_hosts: re.Pattern[str] | None = None

    def handshake(self, found: SnsConfirmation) -> Notice:
        what = f"SNS {found.kind} for topic {found.topic!r}"
        host = urlsplit(found.url).hostname or ""
        if self.sns_hosts is None or not self.sns_hosts.fullmatch(host):
            return Notice(found.location, f"{what}: confirm it by opening {found.url!r}")
        return Notice(found.location, f"{what}: {confirm_subscription(found.url)}")

    def region(self, event: StorageEvent) -> str | None:
        return (event.region or self.regions.get(event.container)
                or self.regions.get(event.container.split(".")[0]))


def copy_of(event: StorageEvent, patterns: KeyPatterns) -> tuple[str, str | None, str | None]:
    """(copy key, study key, series key) of an event's object."""
    system = system_key_of(event.container).split(":", 1)[1]
    study, series = patterns.content(event.key)
    if series:
        return object_key(system, series), (
            make_key(NodeKind.STUDY, study) if study else None), make_key(NodeKind.SERIES, series)
    if study:
        return object_key(system, study), make_key(
            NodeKind.STUDY, study), None
    return object_key(system, event.key), None, None


def event_records(
    documents: Iterable[tuple[str, Any] | Rejected], source: StorageSource, state: ObjectState
) -> Iterator[Record]:
    """Records of event documents (location, parsed JSON), a bundle per affected copy after each
    document."""
    parse = PARSERS[source.provider]
    for item in documents:
        if isinstance(item, Rejected):
            yield item
            continue
        location, document = item
        touched: dict[str, tuple[StorageEvent, str | None, str | None]] = {}
        notices: list[Notice] = []
        state.begin()  # one state transaction per document, committed after the store's
        for event in parse(document, location):
            if isinstance(event, Notice):
                notices.append(event)
                continue
            if isinstance(event, SnsConfirmation):
                notices.append(source.handshake(event))
                continue
            if event is None or isinstance(event, Rejected):
                if event is not None:
                    yield event
                continue
            doubt = implausible_key(event.key)
            if doubt is not None:
                yield Rejected(event.location, doubt)
                continue
            if event.action == HIDDEN:
                notices.append(Notice(event.location, "a delete marker hides the current "
                                      "version; earlier versions still hold the data: the copy "
                                      "is not disposed"))
            if source.redaction is not None:
                event = replace(event, key=source.redaction.key(event.key))
            try:
                copy, study, series = copy_of(event, source.patterns)
            except UserError as exc:
                yield Rejected(event.location, str(exc))
                continue
            if study is None and series is None:
                notices.append(Notice(event.location, f"key {event.key!r} matches no key "
                                      "pattern: recorded as an uncataloged copy"))
            if state.apply(event, copy):
                touched[copy] = (event, study, series)
            else:
                notices.append(Notice(event.location, f"older than the state of {event.key!r}: "
                                      "ignored"))
        for copy, (event, study, series) in touched.items():
            yield Pending(event.location, _copy_builder(copy, event, study, series, source,
                                                        state.copy_state(copy)))
        if notices:
            yield Bundle((), location, tuple(notices))
        yield Commit(state.commit)


def _copy_builder(copy: str, event: StorageEvent, study: str | None, series: str | None,
                  source: StorageSource, state: dict[str, Any]) -> Callable[[], Bundle]:
    return lambda: _copy_bundle(copy, event, study, series, source, state)


def _copy_bundle(copy: str, event: StorageEvent, study: str | None, series: str | None,
                 source: StorageSource, state: dict[str, Any]) -> Bundle:
    prov = Provenance(f"{event.provider}:{event.container}", event.time, Confidence.OBSERVED)
    system = system_key_of(event.container)
    region = source.region(event)
    props: dict[str, Any] = {**state, "region_code": region}
    if study is None and series is None:
        props |= {"uncataloged": True, "uri": f"{event.provider}://{event.container}/{event.key}"}
    removed = {"disposed_at"} if props["disposed_at"] is None else set()
    items: list[Node | Edge] = [
        Node(system, prov, {"region_code": region}),
        Node(copy, prov, props, removed=removed),
        Edge(copy, EdgeType.STORED_IN, system, prov),
    ]
    target = series or study
    if target:
        items.append(Edge(copy, EdgeType.COPY_OF, target, prov))
    if series and study:
        items.append(Edge(series, EdgeType.PART_OF, study, prov))
    return Bundle(tuple(items), event.location)


class StorageEventsConfig(FileInputs):
    provider: Literal["s3", "gcs", "azure"]
    # parts of object keys that hold patient data: replaced by a keyed hash before storing
    redact_key_patterns: list[str] = Field(default_factory=list)
    # hosts (a regular expression) whose SNS subscription handshakes are confirmed; None: report
    sns_confirm_hosts: str | None = None
    # regular expressions with named groups study, series, instance
    key_patterns: list[str] = Field(default_factory=list)
    regions: dict[str, str] = Field(default_factory=dict)  # container -> region (GCS, Azure)
    state: Path | None = None  # per-object state file; default: the context's


def _host_pattern(text: str | None) -> re.Pattern[str] | None:
    return None if text is None else _regex(text, "SNS host pattern")


def _regex(text: str, what: str) -> re.Pattern[str]:
    """A configured regular expression; a UserError naming what it was for when it is not one."""
    try:
        return re.compile(text)
    except re.error as exc:
        raise UserError(f"{what} {text!r} is not a regular expression: {exc}") from None


def _source_records(config: StorageEventsConfig, context: SourceContext) -> Iterator[Record]:
    source = StorageSource(config.provider, KeyPatterns.of(config.key_patterns), config.regions,
                           KeyRedaction.of(config.redact_key_patterns, context.secret),
                           _host_pattern(config.sns_confirm_hosts))
    state = ObjectState(config.state or context.state_path(f"{config.provider}-events.state"))

    def records() -> Iterator[Record]:
        try:
            yield from event_records(documents_of(config.texts()), source, state)
        finally:
            state.close()
    return records()


SOURCE = Source(
    kind="storage-events", summary="S3, GCS and Azure object events as copies",
    config_class=StorageEventsConfig, records=_source_records,
    label=lambda c: f"{c.provider} events")
