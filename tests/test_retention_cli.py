"""The retention commands as a user runs them, and recomputation when inputs change."""

from __future__ import annotations

import json
from pathlib import Path

from lineage.model import Edge, EdgeType, Node
from lineage.retention.apply import affected_copies
from lineage.stores import GraphStore, LocalStore
from tests import dicom_factory as make
from tests.retention_estate import PROV, fixed_estate, patient
from tests.test_cli import EXAMPLE, assert_one_line_error, lineage


def run_json(*args: str, cwd: Path) -> dict[str, object]:
    result = lineage(*args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_apply_then_reports_through_the_cli(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "lineage.db") as store:
        fixed_estate().load(store)
    applied = run_json("retention", "apply", cwd=tmp_path)
    assert (applied["objects"], applied["computed"], applied["unknown"]) == (10, 9, 1)

    drift = run_json("retention", "drift", "--as-of", "2024-06-01", cwd=tmp_path)
    assert set(drift) >= {"over_retained", "premature_disposal", "policy_drift", "unknown"}
    assert len(drift["over_retained"]) == 2  # type: ignore[arg-type]
    cross = run_json("retention", "cross-region", "--as-of", "2024-06-01", cwd=tmp_path)
    assert set(cross) >= {"conflicts", "residency_violations"}
    holds = run_json("holds", "--as-of", "2024-06-01", cwd=tmp_path)
    assert set(holds) >= {"holds", "conflicts"}
    human = lineage("retention", "drift", "--as-of", "2024-06-01", cwd=tmp_path)
    assert "over-retained: 2" in human.stdout and "de-strlschg-exam-10y" in human.stdout
    page = run_json("retention", "drift", "--as-of", "2024-06-01", "--limit", "1", "--offset",
                    "1", cwd=tmp_path)
    assert page["over_retained"] == drift["over_retained"][1:]  # type: ignore[index]
    assert page["over_retained_count"] == 2 and page["cost"] == drift["cost"]
    assert page["policy_drift"] == drift["policy_drift"][1:2]  # type: ignore[index]
    assert page["policy_drift_count"] == drift["policy_drift_count"] == len(
        drift["policy_drift"]) > 1  # type: ignore[arg-type]
    shown = lineage("retention", "drift", "--as-of", "2024-06-01", "--limit", "1", cwd=tmp_path)
    assert "1 of the 2 over-retained copies shown, from offset 0" in shown.stdout
    cross_page = run_json("retention", "cross-region", "--as-of", "2024-06-01", "--limit", "1",
                          "--offset", "1", cwd=tmp_path)
    for section in ("conflicts", "residency_violations"):
        assert cross_page[section] == cross[section][1:2]  # type: ignore[index]
        assert cross_page[f"{section}_count"] == len(cross[section]) > 1  # type: ignore[arg-type]


def test_bad_policy_and_bad_date_are_one_line_errors(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("regions: {r: {country: XYZ}}\njurisdictions: {}\n")
    assert_one_line_error(lineage("retention", "apply", "--policy", str(policy), cwd=tmp_path),
                          "policy.yaml", "regions.r.country")
    assert_one_line_error(lineage("retention", "drift", "--as-of", "2024-02-30", cwd=tmp_path),
                          "2024-02-30")


def test_a_new_encounter_recomputes_the_patients_other_copies(tmp_path: Path) -> None:
    chain = make.write_chain(tmp_path / "dicom")
    assert lineage("ingest", "estate", str(EXAMPLE), cwd=tmp_path).returncode == 0
    assert lineage("ingest", "dicom", str(tmp_path / "dicom" / "ct"), "--system", "PACS-NORTH",
                   cwd=tmp_path).returncode == 0
    run_json("retention", "apply", cwd=tmp_path)
    copy = f"object:PACS-NORTH:{chain.ct_series}"
    with LocalStore(tmp_path / "lineage.db") as store:
        assert store.get_node(copy).properties["retain_until"] == "2032-01-05"  # type: ignore[union-attr]

    later = make.instance(make.CT, "1.2.3.4.5", "1.2.3.4.5.1", "CT", study_date="20300101")
    make.save(later, tmp_path / "later", "later.dcm")
    report = run_json("ingest", "dicom", str(tmp_path / "later"), "--system", "PACS-NORTH",
                      cwd=tmp_path)

    retention = report["retention"]
    assert isinstance(retention, dict)
    assert (retention["recomputed"], retention["unknown"]) == (2, 0)
    with LocalStore(tmp_path / "lineage.db") as store:
        assert store.get_node(copy).properties["retain_until"] == "2038-01-01"  # type: ignore[union-attr]


def test_affected_copies_follow_patients_studies_series_and_systems(
    any_store: GraphStore,
) -> None:
    fixed_estate().load(any_store)
    p1_copies = {"object:PACS-LON:1.1.1", "object:S3-US:1.1.1", "object:PACS-LON:1.4.1",
                 "object:S3-US:1.4.1"}
    assert affected_copies(any_store, [patient("P1")]) == p1_copies
    assert affected_copies(any_store, ["series:1.4.1"]) == p1_copies  # same patient's encounter
    assert affected_copies(any_store, ["system:GCS-DE"]) == {"object:GCS-DE:1.5.1"}
    assert affected_copies(any_store, ["object:S3-FR:1.2.1", "system:NOWHERE"]) == {
        "object:S3-FR:1.2.1", "object:PACS-LON:1.2.1", "object:ARCHIVE-GB:1.2.1"}


def test_reports_without_an_applied_policy_say_so_and_exit_3(tmp_path: Path) -> None:
    assert lineage("ingest", "estate", str(EXAMPLE), cwd=tmp_path).returncode == 0
    for command in (["retention", "drift"], ["retention", "cross-region"], ["holds"]):
        human = lineage(*command, cwd=tmp_path)
        assert human.returncode == 3, human.stderr
        assert human.stdout.splitlines()[0].startswith("warning: no retention policy was ever")
        machine = lineage(*command, "--json", cwd=tmp_path)
        assert machine.returncode == 3
        report = json.loads(machine.stdout)
        assert report["policy_applied"] is False
        assert "lineage retention apply" in report["warnings"][0]
    run_json("retention", "apply", cwd=tmp_path)
    applied = json.loads(lineage("retention", "drift", "--json", cwd=tmp_path).stdout)
    assert (applied["policy_applied"], applied["warnings"]) == (True, [])


def test_copies_written_after_the_policy_and_never_recomputed_are_reported(
        tmp_path: Path) -> None:
    """An ingest killed between its store write and its retention recompute leaves copies with
    no retention under the applied policy: the reports say how many and exit 3."""
    with LocalStore(tmp_path / "lineage.db") as store:
        fixed_estate().load(store)
    run_json("retention", "apply", cwd=tmp_path)
    with LocalStore(tmp_path / "lineage.db") as store:  # written as the killed ingest did
        late = "object:PACS-LON:1.1.late"
        store.upsert([Node(late, PROV, {"created_at": "2024-02-01T00:00:00Z"})],
                     [Edge(late, EdgeType.COPY_OF, "series:1.1.1", PROV),
                      Edge(late, EdgeType.STORED_IN, "system:PACS-LON", PROV)])
    for command in (["retention", "drift"], ["retention", "cross-region"], ["holds"]):
        machine = lineage(*command, "--as-of", "2041-01-01", "--json", cwd=tmp_path)
        assert machine.returncode == 3, machine.stderr
        report = json.loads(machine.stdout)
        assert (report["policy_applied"], report["uncomputed_copies"]) == (True, 1)
        assert "1 live copy has no retention" in report["warnings"][0]
        human = lineage(*command, "--as-of", "2041-01-01", cwd=tmp_path)
        assert human.stdout.splitlines()[0].startswith("warning: 1 live copy has no retention")
    run_json("retention", "apply", cwd=tmp_path)
    current = json.loads(lineage("holds", "--json", cwd=tmp_path).stdout)
    assert (current["uncomputed_copies"], current["warnings"]) == (0, [])
