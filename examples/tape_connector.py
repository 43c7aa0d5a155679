"""A connector for a tape library's CSV export: one row per series written to a tape."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from functools import partial

from lineage.model import Confidence, Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.pipeline import Pending, Record, Rejected
from lineage.sources import FileInputs, Source, SourceContext, SystemCode


class TapeConfig(FileInputs):  # files (CLI) or payloads (API); unknown fields refused
    system: SystemCode


def row_facts(row: dict[str, str], system: str) -> list[Node | Edge]:
    """Pure: one CSV row to facts. Anything it raises rejects this row only."""
    prov = Provenance(f"tape:{system}", row["written_at"], Confidence.OBSERVED)
    copy = object_key(system, f"{row['tape']}/{row['series_uid']}")
    series = f"series:{row['series_uid']}"
    return [Node(copy, prov, {"storage_tier": "tape", "uri": f"tape://{row['tape']}"}),
            Edge(copy, EdgeType.COPY_OF, series, prov),
            Edge(copy, EdgeType.STORED_IN, system_key(system), prov)]


def tape_records(config: TapeConfig, context: SourceContext) -> Iterator[Record]:
    for item in config.texts():
        if isinstance(item, Rejected):  # an unreadable file
            yield item
            continue
        location, text = item
        for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            yield Pending(f"{location}:{number}", partial(row_facts, row, config.system))


SOURCE = Source(kind="tape", summary="Tape library CSV exports", config_class=TapeConfig,
                records=tape_records, label=lambda config: f"tape:{config.system}")
