"""`lineage demo`: a realistic estate built from real inputs, through the commands users run.

It writes, in a folder of its own: DICOM files (pydicom) for seven patients across CT, MR and
mammography — original series, a lossy derivative, a segmentation, a de-identified research copy
with its UID map; HL7 v2 messages (an order, a report, a death, a discharge); FHIR resources (the
research copy's ImagingStudy, its Provenance, an access AuditEvent); S3 event notifications of a
disaster-recovery bucket in London and an AI bucket in Virginia; and an estate file (systems,
feeds, a research dataset, access profiles, a legal hold). Then it runs, in this process and
through the same command-line code users run, every ingest path on a fresh local store in that
folder, `retention apply`, and prints the decommission report of the PACS, the retention drift,
cross-region and holds reports and a trace, and writes an auditor export. Each command is echoed
as a line that can be pasted to run it again.
"""

from __future__ import annotations

import csv
import json
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.uid import JPEG2000, generate_uid

from lineage.errors import UserError
from lineage.synthetic import CT, MG, MR, SEG, code, instance, reference, save

DEMO_ORTHANC = "http://127.0.0.1:8042"  # docker-compose.yml's Orthanc
ESTATE = """\
# The demo estate: written by `lineage demo`.
version: 1
systems:
  - {code: CT-NORTH, kind: modality, region_code: onprem-london, vendor: Siemens}
  - {code: PACS-NORTH, kind: pacs, region_code: onprem-london, vendor: Sectra,
     status: decommissioning}
  - {code: VNA-CENTRAL, kind: vna, region_code: onprem-leeds, vendor: Hyland,
     ae_titles: [VNA_CENTRAL], hosts: [vna-central.leeds.example]}
  - {code: dr-vault-london, kind: backup, region_code: eu-west-2, vendor: AWS S3}
  - {code: RESEARCH-EU, kind: research_archive, region_code: eu-west-1, vendor: AWS}
  - {code: ai-us-virginia, kind: ai_pipeline, region_code: us-east-1, vendor: AWS S3}
feeds:
  - {from: CT-NORTH, to: PACS-NORTH, since: 2010-01-01, via: DICOM C-STORE}
  - {from: PACS-NORTH, to: VNA-CENTRAL, since: 2012-01-01, via: DICOM C-STORE}
  - {from: VNA-CENTRAL, to: dr-vault-london, since: 2015-01-01, via: nightly replication}
  - {from: VNA-CENTRAL, to: RESEARCH-EU, since: 2022-01-01, via: de-identification}
  - {from: RESEARCH-EU, to: ai-us-virginia, since: 2023-06-01, via: training export}
datasets:
  - id: lung-cohort-2023
    name: Lung nodule research cohort
    purpose: research
    includes: [{deid_studies}]
access_profiles:
  - id: radiologists
    role: radiologist
    grants:
      - {{system: PACS-NORTH, actions: [view]}}
      - {{system: VNA-CENTRAL, actions: [view]}}
  - id: ai-team
    role: data-scientist
    grants:
      - {{dataset: lung-cohort-2023, actions: [view, export]}}
      - {{system: ai-us-virginia, actions: [view, change]}}
compliance_events:
  - id: hold-claim-117
    type: legal_hold
    started_at: 2025-09-01
    reference: Claim 117 (clinical negligence)
    scope:
      patients: [{{issuer: NORTH-HOSP, id: "P-0002"}}]
"""


@dataclass
class DemoStudy:
    patient: str
    birth: str
    day: str
    sop_class: str
    modality: str
    study: str = ""
    series: str = ""
    sops: tuple[str, ...] = ()


STUDIES = [
    DemoStudy("P-0001", "19520311", "20090415", CT, "CT"),
    DemoStudy("P-0001", "19520311", "20170620", CT, "CT"),
    DemoStudy("P-0002", "19680902", "20190212", MR, "MR"),
    DemoStudy("P-0003", "19750130", "20200507", MG, "MG"),
    DemoStudy("P-0004", "20140622", "20210301", MR, "MR"),   # a child
    DemoStudy("P-0005", "19890410", "20230918", CT, "CT"),
    DemoStudy("P-0006", "", "20240102", CT, "CT"),           # no birth date: retention unknown
]


def write_inputs(folder: Path) -> dict[str, list[Path]]:
    """The demo's DICOM files per system, its UID map and its estate file."""
    files: dict[str, list[Path]] = {name: [] for name in (
        "PACS-NORTH", "VNA-CENTRAL", "dr-vault-london", "RESEARCH-EU", "ai-us-virginia")}
    objects: dict[str, list[tuple[DemoStudy, str, str, str]]] = {
        "dr-vault-london": [], "ai-us-virginia": []}
    for number, study in enumerate(STUDIES):
        study.study, study.series = generate_uid(), generate_uid()
        study.sops = tuple(generate_uid() for _ in range(4))
        originals = [instance(study.sop_class, study.study, study.series, study.modality, sop=sop,
                              patient_id=study.patient, birth=study.birth, study_date=study.day,
                              accession=f"ACC{number:04d}", ImageType=["ORIGINAL", "PRIMARY"])
                     for sop in study.sops]
        held_by = ["VNA-CENTRAL"] + (["PACS-NORTH"] if study.day >= "20170101" else [])
        for system in held_by:
            files[system] += [save(ds, folder / system / f"s{number}", f"i{i}.dcm")
                              for i, ds in enumerate(originals)]
        objects["dr-vault-london"] += [(study, study.study, study.series, sop)
                                       for sop in study.sops]
    files["PACS-NORTH"] += _derivatives(folder / "PACS-NORTH")
    deid_studies = _research_copies(folder, files, objects)
    _write_s3_events(folder, objects)
    _write_hl7(folder)
    _write_fhir(folder, deid_studies)
    _write_audit(folder)
    (folder / "estate.yaml").write_text(
        ESTATE.replace("{deid_studies}", ", ".join(f"study:{uid}" for uid in deid_studies))
        .replace("{{", "{").replace("}}", "}"), encoding="utf-8")
    return files


def _derivatives(folder: Path) -> list[Path]:
    """A lossy JPEG 2000 derivative and a SEG of the 2023 CT, only in the PACS."""
    source = STUDIES[5]
    same: dict[str, Any] = {"patient_id": source.patient, "birth": source.birth,
                            "study_date": source.day, "accession": "ACC0005"}
    lossy_series = generate_uid()
    paths = [save(instance(CT, source.study, lossy_series, "CT", **same, transfer_syntax=JPEG2000,
                           ImageType=["DERIVED", "PRIMARY"], LossyImageCompression="01",
                           SourceImageSequence=[reference(CT, sop)],
                           DerivationCodeSequence=[code("113040", "Lossy Compression")]),
                  folder / "lossy", f"l{i}.dcm") for i, sop in enumerate(source.sops)]
    segmented = instance(SEG, source.study, generate_uid(), "SEG", **same)
    referenced = instance(CT, source.study, source.series, "CT")
    segmented.ReferencedSeriesSequence = [referenced]
    del referenced.StudyInstanceUID  # only the series reference matters in the item
    paths.append(save(segmented, folder / "seg", "seg.dcm"))
    return paths


def _research_copies(folder: Path, files: dict[str, list[Path]],
                     objects: dict[str, list[tuple[DemoStudy, str, str, str]]]) -> list[str]:
    """De-identified copies (new UIDs) of two studies, with the de-identifier's UID map."""
    rows: list[tuple[str, str]] = []
    deid_studies: list[str] = []
    for number in (0, 2):
        study = STUDIES[number]
        new_study, new_series = str(generate_uid()), str(generate_uid())
        rows += [(study.study, new_study), (study.series, new_series)]
        deid_studies.append(new_study)
        for i in range(len(study.sops)):
            ds = instance(study.sop_class, new_study, new_series, study.modality,
                          patient_id=f"ANON-{number:03d}", patient_name="ANONYMOUS", birth="",
                          study_date=study.day, accession="", institution="",
                          PatientIdentityRemoved="YES",
                          DeidentificationMethodCodeSequence=[code("113100", "Basic Profile")])
            path = save(ds, folder / "RESEARCH-EU" / f"d{number}", f"i{i}.dcm")
            files["RESEARCH-EU"].append(path)
            if number == 2:  # the MR cohort also went to the US AI bucket
                objects["ai-us-virginia"].append((study, new_study, new_series, ds.SOPInstanceUID))
    with (folder / "uid-map.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["original", "deidentified"])
        writer.writerows(rows)
    return deid_studies


REGIONS = {"PACS-NORTH": "onprem-london", "VNA-CENTRAL": "onprem-leeds",
           "RESEARCH-EU": "eu-west-1"}
BUCKET_REGIONS = {"dr-vault-london": "eu-west-2", "ai-us-virginia": "us-east-1"}


def _write_s3_events(folder: Path,
                     objects: dict[str, list[tuple[DemoStudy, str, str, str]]]) -> None:
    """S3 ObjectCreated notifications: the DR bucket replicates the VNA, the AI bucket holds the
    research MR copy; the oldest CT's DR copy later expires by lifecycle."""
    records = []
    for bucket, held in objects.items():
        for number, (study, study_uid, series_uid, sop) in enumerate(held):
            records.append(_s3_record(bucket, "ObjectCreated:Put", study.day, study_uid,
                                      series_uid, sop, f"{number + 1:016X}"))
    first = STUDIES[0]
    records += [_s3_record("dr-vault-london", "LifecycleExpiration:Delete", "20240601",
                           first.study, first.series, sop, None) for sop in first.sops]
    (folder / "s3-events.json").write_text(json.dumps({"Records": records}, indent=1))


def _s3_record(bucket: str, name: str, day: str, study: str, series: str, sop: str,
               sequencer: str | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": f"studies/{study}/series/{series}/instances/{sop}.dcm"}
    if name.startswith("ObjectCreated"):
        obj |= {"size": 524288, "sequencer": sequencer}
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": BUCKET_REGIONS[bucket],
            "eventTime": f"{day[:4]}-{day[4:6]}-{day[6:]}T23:00:00Z", "eventName": name,
            "s3": {"bucket": {"name": bucket}, "object": obj}}


def _write_hl7(folder: Path) -> None:
    """The order and report of the 2023 CT, a death and a discharge, from the EHR."""
    ct, first, mammo = STUDIES[5], STUDIES[0], STUDIES[3]
    msh = "MSH|^~\\&|{app}|NORTH-HOSP|PACS|NORTH-HOSP|{time}||{kind}|{id}|P|2.5\r"
    pid = "PID|1||{mrn}^^^NORTH-HOSP^MR||DOE^J||{birth}|F" + "|" * 21 + "{death}|{flag}\r"
    messages = [
        msh.format(app="RIS", time="20230918090000", kind="ORM^O01", id="D1")
        + pid.format(mrn=ct.patient, birth=ct.birth, death="", flag="")
        + "ORC|NW|P5^EHR|F5^RIS||SC||||20230918090000\r"
        + "OBR|1|P5^EHR|F5^RIS|CTCHEST^CT CHEST" + "|" * 14 + "ACC0005" + "|" * 6 + "CT\r"
        + f"ZDS|{ct.study}^RIS^Application^DICOM",
        msh.format(app="RIS", time="20230918150000", kind="ORU^R01", id="D2")
        + pid.format(mrn=ct.patient, birth=ct.birth, death="", flag="")
        + "OBR|1|P5^EHR|F5^RIS|CTCHEST^CT CHEST" + "|" * 14 + "ACC0005" + "|" * 6
        + "CT|F\r" + f"OBX|1|HD|110180^Study Instance UID^DCM||{ct.study}||||||F",
        msh.format(app="EHR", time="20250110080000", kind="ADT^A08^ADT_A01", id="D3")
        + pid.format(mrn=first.patient, birth=first.birth, death="20250105", flag="Y"),
        msh.format(app="EHR", time="20240215170000", kind="ADT^A03^ADT_A03", id="D4")
        + pid.format(mrn=mammo.patient, birth=mammo.birth, death="", flag="")
        + "PV1|1|I" + "|" * 43 + "20240215170000",
    ]
    (folder / "ehr.hl7").write_text("\n".join(m.replace("\r", "\n") for m in messages) + "\n")


AUDIT_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<AuditMessage>
  <EventIdentification EventActionCode="R" EventDateTime="2024-09-12T10:05:00Z"
                       EventOutcomeIndicator="0">
    <EventID csd-code="110106" codeSystemName="DCM" originalText="Export"/>
  </EventIdentification>
  <ActiveParticipant UserID="VNA_CENTRAL" UserIsRequestor="false"
                     NetworkAccessPointID="vna-central.leeds.example"
                     NetworkAccessPointTypeCode="1">
    <RoleIDCode csd-code="110153" codeSystemName="DCM" originalText="Source Role ID"/>
  </ActiveParticipant>
  <ActiveParticipant UserID="CD-BURNER-2" UserIsRequestor="false">
    <RoleIDCode csd-code="110152" codeSystemName="DCM" originalText="Destination Role ID"/>
  </ActiveParticipant>
  <AuditSourceIdentification AuditSourceID="VNA_CENTRAL"/>
  <ParticipantObjectIdentification ParticipantObjectID="{study}" ParticipantObjectTypeCode="2"
                                   ParticipantObjectTypeCodeRole="3">
    <ParticipantObjectIDTypeCode csd-code="110180" codeSystemName="DCM"
                                 originalText="Study Instance UID"/>
    <ParticipantObjectDescription>
      <SOPClass UID="{sop_class}" NumberOfInstances="4"/>
    </ParticipantObjectDescription>
  </ParticipantObjectIdentification>
</AuditMessage>
"""


def _write_audit(folder: Path) -> None:
    """An IHE ATNA audit message of the VNA: a study burned to CD for a patient (a copy that
    leaves the estate)."""
    study = STUDIES[2]
    (folder / "audit-messages.xml").write_text(
        AUDIT_EXPORT.format(study=study.study, sop_class=study.sop_class), encoding="utf-8")


def _write_fhir(folder: Path, deid_studies: list[str]) -> None:
    """The research MR copy as the research PACS publishes it, its Provenance, and an access."""
    source = STUDIES[2]
    copy_uid = deid_studies[1]
    resources: list[dict[str, Any]] = [
        {"resourceType": "ImagingStudy", "id": "mr-original", "status": "available",
         "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{source.study}"}]},
        {"resourceType": "ImagingStudy", "id": "mr-research", "status": "available",
         "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{copy_uid}"}],
         "modality": [{"code": "MR"}], "started": "2019-02-12T10:15:00Z"},
        {"resourceType": "Provenance", "recorded": "2022-03-01T12:00:00Z",
         "target": [{"reference": "ImagingStudy/mr-research"}],
         "agent": [{"who": {"display": "deid-pipeline v2"}}],
         "entity": [{"role": "derivation", "what": {"reference": "ImagingStudy/mr-original"}}]},
        {"resourceType": "AuditEvent", "recorded": "2024-02-01T09:30:00Z", "action": "R",
         "agent": [{"who": {"display": "ai-team"}}],
         "entity": [{"what": {"identifier": {"system": "urn:dicom:uid",
                                             "value": f"urn:oid:{copy_uid}"}}}]},
    ]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in resources]}
    (folder / "research.fhir.json").write_text(json.dumps(bundle, indent=1))


DEMO_MARKER = ".lineage-demo"


def prepare_folder(folder: Path) -> None:
    """Empty a folder the demo made before (it carries the demo's marker file); refuse any other
    folder that holds anything (`--folder .` must never wipe a working directory)."""
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / DEMO_MARKER).is_file():
            raise UserError(f"{folder} is not empty and was not made by `lineage demo` (no "
                            f"{DEMO_MARKER} file): give an empty or new folder")
        shutil.rmtree(folder)
    elif folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEMO_MARKER).write_text("made by `lineage demo`; the next demo empties this "
                                      "folder\n")


def run_demo(folder: Path, echo: Callable[[str], None],
             run: Callable[[list[str]], int], store: str | None = None,
             orthanc: str | None = DEMO_ORTHANC) -> int:
    """Build the demo in `folder` (emptied first when the demo made it), running each command
    with `run` (the CLI, in this process) and echoing it as a line that can be pasted as it is;
    returns the exit status of the first command that failed unexpectedly, else 0. `store`: an
    empty store to build it in instead of FOLDER/lineage.db (the tests' Neo4j). `orthanc`: the
    REST URL of a demo Orthanc; when one answers there, the PACS's files are stored in it and
    the demo reconciles the graph with its C-FIND listing."""
    prepare_folder(folder)
    files = write_inputs(folder / "inputs")
    place = _shown(folder)
    inputs = f"{place}/inputs"
    study = STUDIES[5]
    steps: list[tuple[list[str], set[int]]] = [
        (["ingest", "estate", f"{inputs}/estate.yaml"], {0}),
        *[(["ingest", "dicom", f"{inputs}/{system}", "--system", system, "--region", region]
           + (["--uid-map", f"{inputs}/uid-map.csv"] if system == "RESEARCH-EU" else []),
           {0, 1})
          for system, region in REGIONS.items()],
        (["ingest", "storage-events", f"{inputs}/s3-events.json", "--provider", "s3"], {0}),
        (["ingest", "hl7", f"{inputs}/ehr.hl7", "--system", "EHR"], {0}),
        (["ingest", "fhir", f"{inputs}/research.fhir.json", "--system", "RESEARCH-EU"], {0}),
        (["ingest", "atna", f"{inputs}/audit-messages.xml"], {0}),
        (["retention", "apply"], {0}),
        (["decommission", "PACS-NORTH"], {0, 1}),
        (["retention", "drift"], {0}),
        (["retention", "cross-region"], {0}),
        (["holds"], {0}),
        *_dimse_step(orthanc, files["PACS-NORTH"], echo),
        (["trace", f"series:{study.series}", "--direction", "both", "--depth", "2"], {0}),
        (["export", "--format", "graphml", "-o", f"{place}/estate.graphml"], {0}),
    ]
    store_args = ["--store", store or f"{place}/lineage.db"]
    for args, accepted in steps:
        echo(f"\n$ {shlex.join(['lineage', *store_args, *args])}")
        status = run([*store_args, *args])
        if status not in accepted:
            return status
    echo(f"\nThe demo store is {store_args[1]}; its auditor export {place}/estate.graphml."
         "\nTry, from here:")
    echo(f"  {shlex.join(['lineage', *store_args, 'trace', f'series:{STUDIES[0].series}'])} "
         "--direction down")
    return 0


def _dimse_step(orthanc: str | None, files: list[Path], echo: Callable[[str], None]
                ) -> list[tuple[list[str], set[int]]]:
    """A C-FIND reconciliation of PACS-NORTH against the demo Orthanc, when one answers at
    `orthanc` (its DICOM port and AE title read from its /system): the PACS's files are stored
    in it first. Nothing when none answers."""
    import httpx

    if orthanc is None:
        return []
    try:
        system = httpx.get(f"{orthanc}/system", timeout=1.0).json()
        for path in files:
            httpx.post(f"{orthanc}/instances", content=path.read_bytes(),
                       timeout=30).raise_for_status()
    except (httpx.HTTPError, ValueError):
        echo(f"(no demo Orthanc at {orthanc}: the DIMSE C-FIND reconciliation is left out; "
             "`docker compose up -d orthanc` starts one)")
        return []
    host = httpx.URL(orthanc).host
    return [(["reconcile", "dimse", f"{host}:{system['DicomPort']}", "--system", "PACS-NORTH",
              "--called-ae", str(system["DicomAet"]), "--since", "2000-01-01"], {0, 1})]


def _shown(folder: Path) -> str:
    """The folder as the user can type it from where they are: relative when it is below the
    working directory, else absolute."""
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return str(folder)
