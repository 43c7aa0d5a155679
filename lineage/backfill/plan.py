"""A backfill plan: the sources to load, in order, as a YAML file.

    sources:
      - kind: estate
        file: estate.yaml
      - kind: dicom
        paths: [pacs-north/]
        system: PACS-NORTH
      - kind: hl7
        files: [adt.hl7]
        system: EHR

Each entry is a registered source (`lineage sources`) and the fields of its config, as
`lineage ingest KIND` takes them; relative paths are relative to the plan file.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from lineage.backfill import StagedSource
from lineage.backfill.staging import StagingStore
from lineage.errors import UserError
from lineage.identity import bind_pseudonym_key
from lineage.pipeline import RunReport
from lineage.sources import Source, SourceConfig, SourceContext, load_source, run_configured
from lineage.yaml_files import parse_yaml_model

MAX_PLAN_BYTES = 1024 * 1024


class PlanFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[dict[str, Any]]


def _relative_to(folder: Path, value: Any) -> Any:
    if isinstance(value, Path) and not value.is_absolute():
        return folder / value
    if isinstance(value, list) and value and all(isinstance(item, Path) for item in value):
        return [_relative_to(folder, item) for item in value]
    return value


def load_plan(path: Path) -> list[tuple[Source[Any], SourceConfig]]:
    """The plan's sources, configured; a UserError names the file, the entry and the field."""
    try:
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise UserError(f"{path}: a plan is at most {MAX_PLAN_BYTES:,} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read plan {path}: {exc.strerror}") from None
    plan = parse_yaml_model(text, PlanFile, str(path), UserError,
                            "a plan is a mapping with a `sources` list")
    if not plan.sources:
        raise UserError(f"{path}: sources: the plan lists no source")
    configured: list[tuple[Source[Any], SourceConfig]] = []
    for number, entry in enumerate(plan.sources, start=1):
        values = dict(entry)
        kind = values.pop("kind", None)
        if not isinstance(kind, str):
            raise UserError(f"{path}: sources[{number}]: each source needs a `kind`")
        try:
            source = load_source(kind)
            config = source.configure(**values)
        except UserError as exc:
            raise UserError(f"{path}: sources[{number}]: {exc}") from None
        resolved = {name: _relative_to(path.parent, getattr(config, name))
                    for name in type(config).model_fields}
        configured.append((source, config.model_copy(update=resolved)))
    return configured


# A counter of the records a source has staged, shown while it runs: given the source's label,
# a context yielding the callback to advance (or None), as `lineage.cli.output.progress`.
Progress = Callable[[str], AbstractContextManager[Callable[[int], None] | None]]


def plan_sources(configured: list[tuple[Source[Any], SourceConfig]], secret: bytes,
                 state_folder: Path, batch_size: int,
                 progress: Progress = lambda label: nullcontext()) -> list[StagedSource]:
    """The configured sources as staged runs; the first binds the pseudonym key, as the first
    write to any store does."""
    def staged(source: Source[Any], config: SourceConfig) -> StagedSource:
        def run(staging: StagingStore) -> RunReport:
            bind_pseudonym_key(staging, secret)
            context = SourceContext(staging, secret,
                                    state_path=lambda name: state_folder / f"{name}.json")
            with progress(f"staging {source.label(config)}") as advance:
                return run_configured(source, config, context, batch_size=batch_size,
                                      progress=advance)
        return run

    state_folder.mkdir(parents=True, exist_ok=True)
    return [staged(source, config) for source, config in configured]
