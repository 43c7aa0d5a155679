"""What the CLI prints follows where it goes: in a terminal (COLUMNS) keys are cut in the middle,
never wrapped; piped, plain text with whole keys; empty sections one line; right plurals."""

from __future__ import annotations

import json
from pathlib import Path

from lineage.model import Edge, EdgeType, Node, object_key, system_key
from lineage.stores import LocalStore
from lineage.wording import middle_cut, plural
from tests.retention_estate import PROV, impact_estate
from tests.test_cli import lineage

BOX = set("─━│┃┏┓┗┛┡┩╇╋┳┻")


def folder_with_estate(tmp_path: Path) -> Path:
    with LocalStore(tmp_path / "lineage.db") as store:
        impact_estate().load(store)
    assert lineage("retention", "apply", cwd=tmp_path).returncode == 0
    return tmp_path


def test_middle_cut_and_plural() -> None:
    key = "object:PACS-NORTH:1.2.826.0.1.3680043.8.498.40534661813509138066883215581813764102"
    cut = middle_cut(key, 30)
    assert len(cut) == 30 and cut.startswith("object:PACS-NO") and cut.endswith("813764102")
    assert "…" in cut and middle_cut("short", 30) == "short"
    assert (plural(1, "metadata conflict"), plural(2, "metadata conflict"),
            plural(1, "sole copy", "sole copies"), plural(1200, "row")) == (
        "1 metadata conflict", "2 metadata conflicts", "1 sole copy", "1,200 rows")


def folder_with_long_keys(tmp_path: Path) -> Path:
    """A PACS holding the only copies of three series with real-length UIDs."""
    uid = "1.2.826.0.1.3680043.8.498.4053466181350913806688321558181376410"
    nodes = [Node(system_key("PACS-NORTH"), PROV, {"kind": "pacs"})]
    edges = []
    for i in range(3):
        copy = object_key("PACS-NORTH", f"{uid}{i}")
        nodes += [Node(f"series:{uid}{i}", PROV), Node(copy, PROV, {"created_at": "2020-01-01"})]
        edges += [Edge(copy, EdgeType.COPY_OF, f"series:{uid}{i}", PROV),
                  Edge(copy, EdgeType.STORED_IN, system_key("PACS-NORTH"), PROV)]
    with LocalStore(tmp_path / "lineage.db") as store:
        store.upsert(nodes, edges)
    return tmp_path


def test_a_narrow_terminal_cuts_keys_in_the_middle_and_never_wraps_them(tmp_path: Path) -> None:
    folder = folder_with_long_keys(tmp_path)
    narrow = lineage("decommission", "PACS-NORTH", cwd=folder, env={"COLUMNS": "60"}).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 60, narrow
    keys = [line.split()[0] for line in narrow.splitlines() if line.startswith("series:")]
    assert len(keys) == 3 and all("…" in key for key in keys), narrow
    whole = json.loads(lineage("decommission", "PACS-NORTH", "--json", cwd=folder).stdout)
    full_keys = [row["key"] for row in whole["must_migrate"]]
    for key in keys:  # each cut key is the start and end of a whole one, on one line
        head, _, tail = key.partition("…")
        assert len([k for k in full_keys if k.startswith(head) and k.endswith(tail)]) == 1, key


def test_piped_output_is_plain_whole_and_empty_sections_are_one_line(tmp_path: Path) -> None:
    folder = folder_with_estate(tmp_path)
    piped = lineage("retention", "drift", "--as-of", "2041-01-01", cwd=folder).stdout
    assert not BOX & set(piped) and "…" not in piped
    assert "object:S3-US:1.1.1" in piped
    ready = lineage("decommission", "S3-US", "--as-of", "2024-06-01", cwd=folder).stdout
    assert "Must migrate: none" in ready.splitlines()
    assert not any(line.rstrip() in {"key", "key  why"} for line in ready.splitlines())


def test_ingest_tables_count_what_changed_not_what_was_seen(tmp_path: Path) -> None:
    estate = Path(__file__).parent.parent / "examples" / "estate.yaml"
    first = lineage("ingest", "estate", str(estate), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Nodes created or changed" in first.stdout
    again = lineage("ingest", "estate", str(estate), "--json", cwd=tmp_path)
    report = json.loads(again.stdout)
    assert report["nodes_changed_by_kind"] == {} and report["nodes_by_kind"]  # seen, unchanged
    human = lineage("ingest", "estate", str(estate), cwd=tmp_path).stdout
    assert "Nodes created or changed: none" in human.splitlines()


def test_command_listings_never_break_a_summary_mid_sentence(tmp_path: Path) -> None:
    """In a wide terminal each command's summary is one line (the docstrings' own line breaks
    used to split "what may be / disposed" over two rows)."""
    for group in ([], ["retention"], ["ingest"], ["listen"], ["reconcile"]):
        listing = lineage(*group, "--help", cwd=tmp_path, env={"COLUMNS": "250"}).stdout
        panel = listing[listing.index("Commands"):]
        rows = [line for line in panel.splitlines()[1:] if line.startswith("│")]
        assert len(rows) >= 2 and all(row[2] != " " for row in rows), rows  # no continuation
