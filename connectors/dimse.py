"""DICOM query/retrieve (DIMSE C-FIND, PS3.4 Annex C) → reconciliation of what an archive holds
with what the graph believes it holds, for archives that speak neither Orthanc's API nor
DICOMweb.

A C-ECHO first, with a clear error for a refused association (the reason the archive gives: a
called AE title it does not know, a calling AE title it refuses) or an unreachable host. Then
C-FIND at STUDY level, page by page over study-date windows (`window_days`), then at SERIES
level for each study (Study Root). Archives cap their answers, in two ways: some answer
`max_results` matches and say success, others stop the list with a status (Orthanc's
`LimitFindResults` ends it with 0xFE00, Cancel; others refuse with 0xA700, out of resources). A
window cut either way is halved; one that cannot be halved (a single day, the unpaged query, a
study's series) makes the listing incomplete: the report names it under `incomplete`, and a sweep
is refused (it would dispose of the copies the archive left out). Associations time out
(`timeout`) and are retried with back-off (`retries`) when the network fails; a refusal is not
retried. A C-FIND whose matches did not all reach the listing is asked again (`Dimse.find`): the
client library can lose one to a race of its own threads, and a listing short of a match would
report its copies lost. The report has the same keys as `reconcile dicomweb` (lost, uncataloged,
instance-count mismatch); `ingest` records what was found as observed copies (source
`dimse:<called AE>`).

Studies without a StudyDate do not match a date range: give `window_days=0` for one unpaged
query when an archive holds such studies.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydicom.dataset import Dataset

from connectors.dicomweb import PacsSeries, compare
from connectors.listing import (
    Answers,
    Window,
    date_range,
    note_cut,
    refuse_sweep_if_incomplete,
    study_uids,
)
from lineage.errors import SourceUnavailableError, UserError
from lineage.ingest import Sweep, ingest
from lineage.model import (
    Confidence,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Provenance,
    make_key,
    object_key,
    system_key,
)
from lineage.pipeline import Record
from lineage.stores import GraphStore
from lineage.timefmt import utc_now
from lineage.wording import plural

log = logging.getLogger("lineage.connectors.dimse")
SUCCESS, PENDING = 0x0000, (0xFF00, 0xFF01)
C_FIND_RSP = 0x8020  # the Command Field of a C-FIND response (PS3.7 E.1)
# Final statuses with which archives cut a list of matches they will not send in full.
CUT = {0xFE00: "stopped the list (status 0xFE00, Cancel: a cap on its answers)",
       0xA700: "refused it (status 0xA700, out of resources: too many matches)"}
# the A-ASSOCIATE-RJ reasons an operator can act on (PS3.8 9.3.4)
REJECTIONS = {
    "Called AE title not recognised": "the archive does not know the called AE title {called!r} "
                                      "(check --called-ae)",
    "Calling AE title not recognised": "the archive refuses the calling AE title {calling!r} "
                                       "(it must be configured on the archive)",
}


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    calling_ae: str
    called_ae: str
    timeout: float = 30.0
    retries: int = 2

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port} ({self.called_ae})"


def parse_target(address: str, calling_ae: str, called_ae: str, timeout: float = 30.0,
                 retries: int = 2) -> Target:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{address!r} is not HOST:PORT")
    for name, title in (("--calling-ae", calling_ae), ("--called-ae", called_ae)):
        if not 0 < len(title.strip()) <= 16 or "\\" in title:
            raise UserError(f"{name} {title!r} is not an AE title (1 to 16 characters)")
    return Target(host, int(port), calling_ae.strip(), called_ae.strip(), timeout, retries)


class Dimse:
    """One association with the archive, opened again when the network drops it."""

    def __init__(self, target: Target):
        from pynetdicom import AE
        from pynetdicom.sop_class import (  # type: ignore[attr-defined]
            StudyRootQueryRetrieveInformationModelFind,
            Verification,
        )

        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # our errors say it once
        self.target = target
        self.ae = AE(ae_title=target.calling_ae)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = target.timeout
        self.ae.add_requested_context(Verification)
        self.ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        self.model = StudyRootQueryRetrieveInformationModelFind
        self.assoc: Any = None
        self.matches_sent = 0  # the C-FIND matches the archive sent (counted by `_arrived`)

    def _arrived(self, event: Any) -> None:
        """Every DIMSE message as it arrives, before anything in pynetdicom can take it: the
        C-FIND matches the archive sent, counted apart from what `send_c_find` yields."""
        command = event.message.command_set
        if command.get("CommandField") == C_FIND_RSP and command.get("Status") in PENDING:
            self.matches_sent += 1  # only pynetdicom's network thread writes it

    def _associate(self) -> Any:
        from pynetdicom import evt

        target = self.target
        delay = 0.5
        for attempt in range(target.retries + 1):
            answers: list[Any] = []
            assoc = self.ae.associate(target.host, target.port, ae_title=target.called_ae,
                                      evt_handlers=[(evt.EVT_ACSE_RECV, answers.append),
                                                    (evt.EVT_DIMSE_RECV, self._arrived)])
            if assoc.is_established:
                _no_delay(assoc)
                return assoc
            if assoc.is_rejected:
                reason = next((str(getattr(e.primitive, "reason_str", "")) for e in answers
                               if getattr(e.primitive, "reason_str", None)), "")
                explained = REJECTIONS.get(reason, "{reason}").format(
                    called=target.called_ae, calling=target.calling_ae, reason=reason or
                    "no reason given")
                raise SourceUnavailableError(f"the DICOM service at {target.where} refused the "
                                             f"association: {explained}")
            if attempt < target.retries:
                time.sleep(delay)
                delay *= 2
        raise SourceUnavailableError(f"could not reach the DICOM service at {target.where} "
                                     f"({target.retries + 1} attempts)")

    def echo(self) -> None:
        """C-ECHO: the archive answers, and accepts us. No answer within the timeout is asked
        again on a new association (pynetdicom's own threads can lose the answer, as in
        `find`)."""
        for _ in range(self.target.retries + 1):
            self.assoc = self._associate()
            status = self.assoc.send_c_echo()
            if status:
                break
            self.close()
        if not status or status.Status != SUCCESS:
            raise SourceUnavailableError(f"the DICOM service at {self.target.where} did not "
                                         "answer C-ECHO with success")

    def find(self, query: Dataset) -> Answers:
        """The answers of one C-FIND, asked again on a new association if the network fails or
        if fewer matches reached us than the archive sent.

        The second happens: pynetdicom's association thread (its "reactor", which serves requests
        from the peer) can take a C-FIND response off the queue `send_c_find` reads from, when
        the thread is preempted between waking and saying it is awake (its pause check reads a
        stale flag); it logs "Received unexpected C-FIND service message" and drops it. With the
        CPU busy, two to five listings in a hundred (of ~45 C-FINDs each) lost a study that way
        against a real Orthanc. The matches are counted as they arrive (`_arrived`), so a loss
        is seen and asked again, never listed short."""
        short = ""  # how the last attempt's answer fell short, if it did
        for _ in range(self.target.retries + 1):
            if self.assoc is None or not self.assoc.is_established:
                self.assoc = self._associate()
            found: list[Dataset] = []
            failed, cut, short = False, None, ""
            self.matches_sent = 0
            for status, identifier in self.assoc.send_c_find(query, self.model):
                if not status:  # no answer: the association dropped or timed out
                    failed = True
                    break
                code = int(status.Status)
                if code in PENDING and identifier is not None:
                    found.append(identifier)
                elif code in CUT:
                    cut = CUT[code]
                elif code != SUCCESS:
                    raise SourceUnavailableError(
                        f"the DICOM service at {self.target.where} failed a C-FIND "
                        f"(status 0x{code:04X})")
            sent = self.matches_sent
            if not failed and sent == len(found):
                return Answers(found, cut)
            if not failed:
                short = (f"sent {plural(sent, 'match', 'matches')} to a C-FIND and "
                         f"{len(found)} reached the listing")
                # recovered here, as a network retry is: not for the operator's screen
                log.info("the DICOM service at %s %s; asking again", self.target.where, short)
            self.close()
        raise SourceUnavailableError(f"the DICOM service at {self.target.where} " + (
            short or "stopped answering C-FIND") + f" ({self.target.retries + 1} attempts)")

    def close(self) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()
        self.assoc = None


def _no_delay(assoc: Any) -> None:
    """TCP_NODELAY on the association's socket: a C-FIND is many small PDUs, and Nagle's
    algorithm with the peer's delayed ACK held each query ~90 ms (measured against Orthanc)."""
    raw = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if raw is not None:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _study_query(window: Window) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    query.StudyDate = "" if window is None else date_range(window)
    return query


def _series_query(study: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study
    query.SeriesInstanceUID = ""
    query.Modality = ""
    query.NumberOfSeriesRelatedInstances = ""
    return query


@dataclass(slots=True)
class Listing:
    """What the archive listed, and each query whose answers may be cut (`Answers.in_full`)
    where it could not be split further."""
    series: list[PacsSeries] = field(default_factory=list)
    incomplete: list[dict[str, str]] = field(default_factory=list)


def _study_uid(answer: Dataset) -> str:
    return str(answer.get("StudyInstanceUID", "") or "")


def listing(dimse: Dimse, since: date, until: date, window_days: int = 365,
            max_results: int = 1000) -> Listing:
    found = Listing()
    for study in study_uids(lambda window: dimse.find(_study_query(window)), _study_uid,
                            since=since, until=until, window_days=window_days,
                            max_results=max_results, incomplete=found.incomplete):
        answers = dimse.find(_series_query(study))
        note_cut(found.incomplete, answers, max_results, f"series of study {study}")
        for answer in answers.matches:
            uid = str(answer.get("SeriesInstanceUID", "") or "")
            if not uid:
                continue
            count = answer.get("NumberOfSeriesRelatedInstances")
            found.series.append(PacsSeries(study, uid, str(answer.get("Modality", "") or "")
                                           or None, int(count) if count not in (None, "")
                                           else None))
    return found


def observed(found: list[PacsSeries], system: str, target: Target) -> Iterator[Record]:
    """What the archive answered, as observed copies of the system."""
    prov = Provenance(f"dimse:{target.called_ae}", utc_now(), Confidence.OBSERVED)
    for item in found:
        study = make_key(NodeKind.STUDY, item.study_uid)
        series_key = make_key(NodeKind.SERIES, item.series_uid)
        copy = object_key(system, item.series_uid)
        yield Node(study, prov)
        yield Node(series_key, prov, {"modality": item.modality})
        yield Edge(series_key, EdgeType.PART_OF, study, prov)
        yield Node(copy, prov, {"instance_count": item.instances})
        yield Edge(copy, EdgeType.COPY_OF, series_key, prov)
        yield Edge(copy, EdgeType.STORED_IN, system_key(system), prov)


def reconcile_target(store: GraphStore, target: Target, system: str, *, since: date,
                     until: date | None = None, window_days: int = 365,
                     max_results: int = 1000, record: bool = False,
                     sweep: bool = False) -> dict[str, Any]:
    """`lineage reconcile dimse`: the archive's C-FIND listing against the graph; `record`:
    write what was found as observed copies; `sweep`: the listing is everything the system
    holds, so the lost copies are disposed (refused, before anything is written, when the
    archive cut a query the listing could not split: `incomplete`)."""
    system_key(system)
    dimse = Dimse(target)
    started = time.perf_counter()
    try:
        dimse.echo()
        found = listing(dimse, since, until or date.today() + timedelta(days=1), window_days,
                        max_results)
    finally:
        dimse.close()
    seconds = time.perf_counter() - started
    if sweep:
        refuse_sweep_if_incomplete(found.incomplete, f"the DICOM service at {target.where}",
                                   system)
    result = compare(found.series, store, system, target.where)
    report = result.as_dict() | {"studies": len({s.study_uid for s in found.series}),
                                 "incomplete": found.incomplete, "seconds": round(seconds, 3)}
    if record:
        written = ingest(store, observed(found.series, system, target), f"dimse:{system}")
        report["ingest"] = {"records": written.records, "rejected": len(written.rejected)}
    if sweep:
        swept = ingest(store, [Sweep(system, result.pacs_copies, target.where)],
                       f"dimse:{system}")
        report["sweep"] = swept.extra["sweeps"][0]
    return report
