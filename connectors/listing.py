"""Listing an archive's studies over study-date windows, for archives that cap the answers to one
query (DIMSE C-FIND, DICOMweb QIDO-RS): shared by `reconcile dimse` and `reconcile dicomweb`.

An archive cuts a list in one of two ways: it sends as many matches as its cap and says nothing
(`max_results`, the cap it is taken to have), or it ends the list with a status that says so
(`Answers.cut`). A window cut either way is halved; one that cannot be (a single day, the
unpaged query, a study's series) is noted as incomplete, and a sweep is refused: it would
dispose of the copies the archive left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from lineage.errors import UserError

Window = tuple[date, date] | None  # first and last study date asked; None: every date


def date_range(window: tuple[date, date]) -> str:
    """A window as DICOM range matching on a DA attribute (PS3.4 C.2.2.2.5): YYYYMMDD-YYYYMMDD."""
    return f"{window[0].strftime('%Y%m%d')}-{window[1].strftime('%Y%m%d')}"


@dataclass(frozen=True, slots=True)
class Answers:
    """The matches of one query, and how the archive cut the list, if it said so."""
    matches: list[Any]
    cut: str | None = None

    def in_full(self, max_results: int | None) -> str | None:
        """Why these may not be all the matches: the archive cut them, or sent as many as the
        cap it is taken to have (`max_results`; None: no cap)."""
        if self.cut is not None:
            return f"the archive {self.cut} after {len(self.matches)} answers"
        if max_results is not None and len(self.matches) >= max_results:
            return f"{len(self.matches)} answers, as many as --max-results"
        return None


def note_cut(incomplete: list[dict[str, str]], answers: Answers, max_results: int | None,
             query: str) -> None:
    why = answers.in_full(max_results)
    if why is not None:
        incomplete.append({"query": query, "why": why})


def study_uids(find: Callable[[Window], Answers], uid_of: Callable[[Any], str], *,
               since: date, until: date, window_days: int, max_results: int | None,
               incomplete: list[dict[str, str]]) -> Iterator[str]:
    """Study Instance UIDs, window by window (`window_days` <= 0: one query for every date);
    a window answered in full is halved, and one that cannot be is added to `incomplete`."""
    if window_days <= 0:
        answers = find(None)
        note_cut(incomplete, answers, max_results, "studies, every date")
        yield from _named(answers, uid_of)
        return
    windows = [(since + timedelta(days=d), min(until, since + timedelta(days=d + window_days - 1)))
               for d in range(0, (until - since).days + 1, window_days)]
    seen: set[str] = set()
    while windows:
        start, end = windows.pop(0)
        answers = find((start, end))
        if answers.in_full(max_results) and end > start:
            middle = start + (end - start) // 2
            windows[:0] = [(start, middle), (middle + timedelta(days=1), end)]
            continue
        note_cut(incomplete, answers, max_results, f"studies dated {start.isoformat()}"
                 + ("" if end == start else f" to {end.isoformat()}"))
        for uid in _named(answers, uid_of):
            if uid not in seen:
                seen.add(uid)
                yield uid


def _named(answers: Answers, uid_of: Callable[[Any], str]) -> Iterator[str]:
    for answer in answers.matches:
        uid = uid_of(answer)
        if uid:
            yield uid


def refuse_sweep_if_incomplete(incomplete: list[dict[str, str]], where: str,
                               system: str) -> None:
    """Before anything is written: a sweep of a listing the archive may have cut would dispose
    of what it left out."""
    if incomplete:
        first = incomplete[0]
        raise UserError(
            f"not swept: {where} may not have listed everything {system} holds "
            f"({len(incomplete)} queries cut, the first: {first['query']}: {first['why']}), and a "
            "sweep would dispose of what it left out; nothing was written. Raise the archive's "
            "cap (and --max-results with it), or reconcile without --sweep")
