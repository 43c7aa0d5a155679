"""The worked example of README's "Adding a connector": the file runs, on each store, and the
README shows it as it is."""

from __future__ import annotations

from pathlib import Path

from examples.tape_connector import SOURCE
from lineage.ingest import ingest
from lineage.sources import SourceContext
from lineage.stores import GraphStore

ROOT = Path(__file__).resolve().parents[1]


def test_the_example_connector_ingests_and_rejects_row_by_row(any_store: GraphStore,
                                                              tmp_path: Path) -> None:
    export = tmp_path / "tapes.csv"
    export.write_text("tape,series_uid,written_at\n"
                      "T001,1.2.3.4,2024-05-01T10:00:00Z\n"
                      "T001,1.2.3.5,2024-13-01T10:00:00Z\n"  # month 13: this row only
                      "T002,1.2.3.6,2024-05-02T10:00:00Z\n")
    config = SOURCE.configure(files=[export], system="TAPE-LIB")
    context = SourceContext(any_store, b"k" * 32, state_path=lambda name: tmp_path / name)

    report = ingest(any_store, SOURCE.records(config, context), SOURCE.label(config))

    assert [r.location for r in report.rejected] == [f"{export}:3"]
    copy = any_store.get_node("object:TAPE-LIB:T001/1.2.3.4")
    assert copy is not None and copy.properties["storage_tier"] == "tape"
    assert any_store.neighbours("object:TAPE-LIB:T002/1.2.3.6") == [
        "series:1.2.3.6", "system:TAPE-LIB"]


def test_the_readme_shows_the_example_as_it_is() -> None:
    code = (ROOT / "examples" / "tape_connector.py").read_text()
    body = code.split('"""', 2)[2].strip()  # without the module docstring
    assert body in (ROOT / "README.md").read_text()
