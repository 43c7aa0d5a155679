"""DICOM JSON (PS3.18 JSON Model) → lineage: the headers a DICOMweb client or a PACS's
notification sends, one dataset or a list of datasets per request, held by one system.

Each dataset is one instance; a dataset that is not usable DICOM JSON is rejected with its index,
the others go on. Copies, series and derivations are built as for DICOM files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset

from connectors.dicom_files import instance_records
from connectors.dicom_header import DicomHeader, HeaderError, parse_header, parsed_with_warnings
from connectors.dicom_records import DicomSource, SeenInstance
from connectors.json_input import documents_of, items_of
from lineage.pipeline import Record, Rejected
from lineage.sources import FileInputs, Source, SourceContext, SystemCode

TRANSFER_SYNTAX = (0x0002, 0x0010)


def seen_instance(item: Any, location: str) -> SeenInstance | Rejected:
    """One dataset of a request, or why it cannot be used (never raises)."""
    try:
        def build() -> DicomHeader:
            ds = Dataset.from_json(item)
            syntax = str(ds[TRANSFER_SYNTAX].value) if TRANSFER_SYNTAX in ds else ""
            return parse_header(ds, syntax)

        return SeenInstance(parsed_with_warnings(build), location)
    except HeaderError as exc:
        return Rejected(location, f"not a usable DICOM JSON dataset: {exc}")
    except RecursionError:
        return Rejected(location, "not a usable DICOM JSON dataset: nested too deeply")
    except Exception as exc:  # pydicom raises many kinds on malformed JSON
        return Rejected(location, f"not a usable DICOM JSON dataset ({type(exc).__name__})")


class DicomJsonConfig(FileInputs):
    system: SystemCode
    region: str | None = None


def _source_records(config: DicomJsonConfig, context: SourceContext) -> Iterator[Record]:
    source = DicomSource(config.system, context.secret, region=config.region)
    seen: list[SeenInstance] = []
    for item in items_of(documents_of(config.texts())):
        found = item if isinstance(item, Rejected) else seen_instance(item[1], item[0])
        if isinstance(found, Rejected):
            yield found
        else:
            seen.append(found)
    yield from instance_records(seen, source, context.store, "dicomweb")


SOURCE = Source(
    kind="dicom-json", summary="DICOM JSON datasets (PS3.18) held by one system",
    config_class=DicomJsonConfig, records=_source_records, label=lambda c: f"dicom-json:{c.system}")
