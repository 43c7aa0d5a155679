"""IHE ATNA audit messages → lineage: copies made, exported, imported and deleted, as the
archives, modalities and viewers of the estate report them.

Messages are DICOM audit messages (PS3.15 A.5, `csd-code` attributes) or the older RFC 3881 form
(`code` attributes) that many products still send, each an `<AuditMessage>` (namespaces
ignored). Parsed with defusedxml (no DTD, no entities, no external references), at most
`MAX_MESSAGE_BYTES`. What they become:

- **110104 DICOM Instances Transferred** (success): for each study (ParticipantObjectIDTypeCode
  110180), a copy in the destination system (RoleIDCode 110152) `object:<system>:<StudyUID>`,
  COPY_OF the study, STORED_IN the system, created at the event time, with the instance count
  the message gives; COPIED_FROM the source system's (110153) live copies of that study, or a
  placeholder `object:<source>:<StudyUID>` when the graph knows none yet.
- **110106 Export**: the same, to the destination when it maps to a system, else to
  `system:OUTSIDE-ESTATE` (media, a system nobody declared), with a lineage-gap notice.
- **110107 Import**: a copy in the importing system (the destination, else the audit source).
- **110105 DICOM Study Deleted**: the live copies of the study in the deleting system (the audit
  source, else a participant that maps) are disposed (`disposal_reason`), never deleted.
- **110102 Begin Transferring**, failed events (EventOutcomeIndicator not 0) and events that
  are not copies (queries, logins...) are notices, not lineage.

AE titles (`AlternativeUserID` `AETITLES=A;B`, else `UserID`) and hosts
(`NetworkAccessPointID`) map to systems through a system map (`--system-map FILE`: a YAML
mapping `PACS_A: PACS-A`) and the estate's `ae_titles` / `hosts` of each system. A participant
that maps to nothing is a lineage gap, reported as a notice. Provenance: `atna:<AuditSourceID>`,
confidence observed. Patient participants are never read: no patient data enters the graph.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import yaml
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from lineage.errors import UserError
from lineage.model import (
    DICOM_UID_SYSTEM,
    STUDY_UID_CODE,
    Confidence,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Provenance,
    is_dicom_uid,
    make_key,
    object_key,
    system_key,
)
from lineage.pipeline import Bundle, Notice, Pending, Record, Rejected
from lineage.sources import FileInputs, Source, SourceContext
from lineage.stores import GraphStore
from lineage.timefmt import to_timestamp
from queries.holdings import STUDY_COPIES
from queries.library import run_query

MAX_MESSAGE_BYTES = 256 * 1024
TRANSFERRED, BEGIN, DELETED, EXPORT, IMPORT = "110104", "110102", "110105", "110106", "110107"
SOURCE_ROLE, DESTINATION_ROLE = "110153", "110152"
OUTSIDE = "OUTSIDE-ESTATE"
EVENT_NAMES = {TRANSFERRED: "DICOM Instances Transferred", BEGIN: "Begin Transferring DICOM "
               "Instances", DELETED: "DICOM Study Deleted", EXPORT: "Export", IMPORT: "Import"}


class AuditError(UserError):
    """An audit message that cannot be used; says what is wrong, never quotes the message."""


@dataclass(frozen=True, slots=True)
class Participant:
    user_id: str
    ae_titles: tuple[str, ...]
    host: str | None
    requestor: bool
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event_id: str
    action: str
    at: str
    succeeded: bool
    source_id: str
    participants: tuple[Participant, ...]
    studies: tuple[tuple[str, int | None], ...]  # (Study Instance UID, instances or None)

    def with_role(self, role: str) -> Participant | None:
        return next((p for p in self.participants if role in p.roles), None)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name]


def _code(element: Element | None) -> str | None:
    """A coded value's code: `csd-code` (DICOM) or `code` (RFC 3881)."""
    if element is None:
        return None
    return element.get("csd-code") or element.get("code")


def parse_audit(text: str | bytes) -> AuditEvent:
    """One audit message; AuditError says what is wrong with it."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > MAX_MESSAGE_BYTES:
        raise AuditError(f"the audit message is {size} bytes, over the {MAX_MESSAGE_BYTES} "
                         "allowed")
    try:
        root = ElementTree.fromstring(text)
    except DefusedXmlException:
        raise AuditError("the audit message uses a DTD, an entity or an external reference, "
                         "which are refused") from None
    except ElementTree.ParseError as exc:
        raise AuditError(f"the audit message is not well-formed XML (line {exc.position[0]}, "
                         f"column {exc.position[1]})") from None
    if _local(root.tag) != "AuditMessage":
        raise AuditError(f"the root element is <{_local(root.tag)[:40]}>, not <AuditMessage>")
    found = _children(root, "EventIdentification")
    if not found:
        raise AuditError("no EventIdentification")
    identification = found[0]
    event_id = _code(next(iter(_children(identification, "EventID")), None))
    if not event_id:
        raise AuditError("EventIdentification has no EventID code")
    when = identification.get("EventDateTime")
    if not when:
        raise AuditError("EventIdentification has no EventDateTime")
    try:
        at = to_timestamp(when)
    except ValueError:
        raise AuditError("EventDateTime is not an ISO-8601 time") from None
    sources = _children(root, "AuditSourceIdentification")
    source_id = (sources[0].get("AuditSourceID") or "").strip() if sources else ""
    return AuditEvent(
        event_id=event_id, action=identification.get("EventActionCode") or "",
        at=at, succeeded=(identification.get("EventOutcomeIndicator") or "0").strip() == "0",
        source_id=source_id or "unknown",
        participants=tuple(_participant(p) for p in _children(root, "ActiveParticipant")),
        studies=tuple(_studies(root)))


def _participant(element: Element) -> Participant:
    alternative = element.get("AlternativeUserID") or ""
    titles = [t.strip() for t in alternative.partition("AETITLES=")[2].split(";") if t.strip()]
    user = (element.get("UserID") or "").strip()
    if not titles and user and len(user) <= 16 and " " not in user:
        titles = [user]  # many products put the AE title in UserID
    return Participant(
        user_id=user, ae_titles=tuple(titles),
        host=(element.get("NetworkAccessPointID") or "").strip() or None,
        requestor=(element.get("UserIsRequestor") or "").lower() == "true",
        roles=frozenset(c for r in _children(element, "RoleIDCode") if (c := _code(r))))


def _studies(root: Element) -> Iterator[tuple[str, int | None]]:
    for item in _children(root, "ParticipantObjectIdentification"):
        kind = _code(next(iter(_children(item, "ParticipantObjectIDTypeCode")), None))
        if kind != STUDY_UID_CODE:
            continue  # patients and other objects are not read
        uid = (item.get("ParticipantObjectID") or "").strip()
        if not is_dicom_uid(uid):
            raise AuditError("a Study Instance UID (ParticipantObjectID of type 110180) is not "
                             "a DICOM UID")
        counts = [sop.get("NumberOfInstances") for description in
                  _children(item, "ParticipantObjectDescription")
                  for sop in _children(description, "SOPClass")]
        numbers = [int(c) for c in counts if c and c.isdigit()]
        yield uid, (sum(numbers) if numbers else None)


def balp_event(body: Mapping[str, Any]) -> AuditEvent | None:
    """A FHIR R4 AuditEvent (IHE BALP) as the same event, when its type is a DCM copy or
    deletion event (110104, 110105, 110106, 110107); else None."""
    kind = body.get("type") or {}
    code = str(kind.get("code") or "") if isinstance(kind, dict) else ""
    if code not in (TRANSFERRED, DELETED, EXPORT, IMPORT):
        return None
    recorded = body.get("recorded")
    try:
        at = to_timestamp(str(recorded))
    except ValueError:
        raise AuditError("AuditEvent.recorded is not an ISO-8601 time") from None
    observer = ((body.get("source") or {}).get("observer") or {})
    source_id = str(observer.get("display") or (observer.get("identifier") or {}).get("value")
                    or "unknown")
    studies = []
    for entity in body.get("entity") or []:
        identifier = (entity.get("what") or {}).get("identifier") or {}
        types = {c.get("code") for c in ((identifier.get("type") or {}).get("coding") or [])}
        if identifier.get("system") == DICOM_UID_SYSTEM or STUDY_UID_CODE in types:
            uid = str(identifier.get("value") or "").removeprefix("urn:oid:")
            if not is_dicom_uid(uid):
                raise AuditError("an AuditEvent entity's Study Instance UID is not a DICOM UID")
            studies.append((uid, None))
    return AuditEvent(event_id=code, action=str(body.get("action") or ""), at=at,
                      succeeded=str(body.get("outcome") or "0") == "0", source_id=source_id,
                      participants=tuple(_agent(a) for a in body.get("agent") or []),
                      studies=tuple(studies))


def _agent(agent: Mapping[str, Any]) -> Participant:
    who = agent.get("who") or {}
    titles = [str(v) for v in ((who.get("identifier") or {}).get("value"), agent.get("altId"))
              if v]
    codings = [*((agent.get("type") or {}).get("coding") or []),
               *(c for role in agent.get("role") or [] for c in role.get("coding") or [])]
    return Participant(
        user_id=str(who.get("display") or ""), ae_titles=tuple(titles),
        host=str((agent.get("network") or {}).get("address") or "") or None,
        requestor=bool(agent.get("requestor")),
        roles=frozenset(str(c.get("code")) for c in codings if c.get("code")))


class SystemMap:
    """AE titles and host names → system codes: a map file, then the estate's systems."""

    def __init__(self, entries: Mapping[str, str]):
        self.entries = {name.strip().upper(): code for name, code in entries.items()}

    @classmethod
    def load(cls, path: Path | None, store: GraphStore | None) -> SystemMap:
        entries: dict[str, str] = {}
        if store is not None:
            for node in store.iter_nodes(NodeKind.SYSTEM):
                names = [*_listed(node.properties.get("ae_titles")),
                         *_listed(node.properties.get("hosts"))]
                for name in names:
                    entries[name] = node.key.partition(":")[2]
        if path is not None:
            entries.update(read_system_map(path))
        return cls(entries)

    def system_of(self, participant: Participant | None) -> str | None:
        if participant is None:
            return None
        for name in [*participant.ae_titles, participant.host or ""]:
            code = self.entries.get(name.strip().upper())
            if code:
                return code
        return None

    def describe(self, participant: Participant) -> str:
        """How a participant is named in a gap notice: its AE titles and host."""
        named = [*(f"AE {t}" for t in participant.ae_titles)]
        if participant.host:
            named.append(f"host {participant.host}")
        return ", ".join(named) or "an unnamed participant"


def _listed(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def read_system_map(path: Path) -> dict[str, str]:
    """A YAML mapping of AE titles or host names to system codes."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the system map ({exc.strerror})") from None
    except yaml.YAMLError:
        raise UserError(f"{path}: the system map is not YAML") from None
    if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()):
        raise UserError(f"{path}: the system map must map AE titles or hosts to system codes "
                        "(PACS_A: PACS-A)")
    for code in loaded.values():
        system_key(code)  # a wrong code is a UserError naming it
    return dict(loaded)


class AtnaSource:
    """Turns audit events into lineage, reading the store for the copies a deletion disposes
    and a transfer copied from."""

    def __init__(self, systems: SystemMap, store: GraphStore):
        self.systems = systems
        self.store = store

    def facts(self, event: AuditEvent) -> Bundle:
        prov = Provenance(f"atna:{event.source_id}", event.at, Confidence.OBSERVED)
        name = EVENT_NAMES.get(event.event_id, f"event {event.event_id}")
        if event.event_id not in (TRANSFERRED, DELETED, EXPORT, IMPORT):
            return Bundle((), notices=(Notice("", f"{name}: not a copy or a deletion, no "
                                                  "lineage"),))
        if not event.succeeded:
            return Bundle((), notices=(Notice("", f"{name} failed (EventOutcomeIndicator): no "
                                                  "lineage"),))
        if not event.studies:
            raise AuditError(f"{name} names no study (ParticipantObjectIDTypeCode 110180)")
        if event.event_id == DELETED:
            return self._deleted(event, prov)
        return self._copied(event, prov, name)

    def _copied(self, event: AuditEvent, prov: Provenance, name: str) -> Bundle:
        source = event.with_role(SOURCE_ROLE)
        destination = event.with_role(DESTINATION_ROLE)
        notices: list[Notice] = []
        target = self.systems.system_of(destination)
        if target is None and event.event_id == IMPORT:
            target = self.systems.entries.get(event.source_id.upper())
        if target is None and event.event_id == EXPORT:
            target = OUTSIDE
            notices.append(Notice("", "lineage gap: the export's destination ("
                                  f"{self._named(destination)}) maps to no system; recorded "
                                  f"as {system_key(OUTSIDE)}"))
        if target is None:
            raise AuditError(f"{name}: the destination ({self._named(destination)}) maps to no "
                             "system (add it to the system map or the estate's ae_titles)")
        origin = self.systems.system_of(source)
        if origin is None and event.event_id != IMPORT:
            notices.append(Notice("", f"lineage gap: the source ({self._named(source)}) maps "
                                      "to no system; the copy has no recorded origin"))
        items: list[Node | Edge] = []
        if target == OUTSIDE:
            items.append(Node(system_key(OUTSIDE), prov, {"kind": "external",
                                                          "status": "outside the estate"}))
        for uid, instances in event.studies:
            study = make_key(NodeKind.STUDY, uid)
            copy = object_key(target, uid)
            props: dict[str, Any] = {"created_at": event.at, "instance_count": instances,
                                     "copied_by": name}
            items += [Node(study, prov), Node(copy, prov, props),
                      Edge(copy, EdgeType.COPY_OF, study, prov),
                      Edge(copy, EdgeType.STORED_IN, system_key(target), prov)]
            if origin is not None and origin != target:
                for original in self._copies(origin, study) or [object_key(origin, uid)]:
                    items.append(Edge(copy, EdgeType.COPIED_FROM, original, prov))
        return Bundle(tuple(items), notices=tuple(notices))

    def _deleted(self, event: AuditEvent, prov: Provenance) -> Bundle:
        system = self.systems.entries.get(event.source_id.upper())
        if system is None:
            system = next((s for p in event.participants if (s := self.systems.system_of(p))),
                          None)
        if system is None:
            raise AuditError("DICOM Study Deleted: neither the audit source nor a participant "
                             "maps to a system")
        items: list[Node | Edge] = []
        notices: list[Notice] = []
        for uid, _ in event.studies:
            copies = self._copies(system, make_key(NodeKind.STUDY, uid))
            if not copies:
                notices.append(Notice("", f"DICOM Study Deleted: system:{system} holds no live "
                                          f"copy of study:{uid} in the graph"))
            items += [Node(copy, prov, {"disposed_at": event.at,
                                        "disposal_reason": "DICOM Study Deleted (audit message)"})
                      for copy in copies]
        return Bundle(tuple(items), notices=tuple(notices))

    def _copies(self, system: str, study: str) -> list[str]:
        rows = run_query(self.store, STUDY_COPIES, {"system": system_key(system),
                                                    "study": study})
        return [str(row["key"]) for row in rows]

    def _named(self, participant: Participant | None) -> str:
        return self.systems.describe(participant) if participant else "not named"


def message_record(text: str, location: str, atna: AtnaSource) -> Pending:
    return Pending(location, lambda: atna.facts(parse_audit(text)))


def split_messages(text: str) -> Iterator[str]:
    """The audit messages of a file: one `<AuditMessage>` after another (a syslog header or
    anything else between them is passed over)."""
    for match in re.finditer(r"<(?:\w+:)?AuditMessage\b.*?</(?:\w+:)?AuditMessage>", text,
                             re.DOTALL):
        yield match.group(0)


class AtnaConfig(FileInputs):
    system_map: Path | None = None


def _source_records(config: AtnaConfig, context: SourceContext) -> Iterable[Record]:
    atna = AtnaSource(SystemMap.load(config.system_map, context.store), context.store)
    for item in config.texts():
        if isinstance(item, Rejected):
            yield item
            continue
        location, text = item
        found = False
        for index, message in enumerate(split_messages(text)):
            found = True
            yield message_record(message, f"{location}#{index + 1}", atna)
        if not found:
            yield Rejected(location, "no <AuditMessage> in the input")


SOURCE = Source(
    kind="atna", summary="IHE ATNA / DICOM audit messages (XML, PS3.15 A.5 or RFC 3881)",
    config_class=AtnaConfig, records=_source_records, label=lambda c: "atna")
