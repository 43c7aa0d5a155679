"""The connector contract and its registry.

A connector is a `Source`: a pydantic config model (unknown fields refused) and a function
`records(config, context)` that reads its input and yields records (`lineage.pipeline`:
`Pending` per source record, `Bundle`, `Rejected`, `Commit`, and `lineage.ingest.Sweep`). A
source never writes to a store (the ingest service does, and isolates its bad records), never
catches another layer's errors, and keeps its state (checkpoints, indexes) through `Commit`
hooks so that nothing runs ahead of the graph.

Sources are registered as entry points of the group `image_lineage.sources` (as DataHub and
the OpenLineage integrations register theirs), so a connector is added in one place, its
`pyproject.toml` entry:

    [project.entry-points."image_lineage.sources"]
    my-pacs = "my_package.my_pacs:SOURCE"

The CLI's `lineage ingest` commands and the API's `/ingest/*` routes find sources here by kind;
`available_sources()` lists them without importing any connector, and a source whose module
cannot be imported (a missing optional dependency) is reported as disabled with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from lineage.errors import UserError
from lineage.ingest import SourceRecord, ingest
from lineage.pipeline import Rejected, RunReport
from lineage.stores import GraphStore

SOURCES_GROUP = "image_lineage.sources"
LISTENERS_GROUP = "image_lineage.listeners"  # network listeners (`lineage listen KIND`)
RECONCILERS_GROUP = "image_lineage.reconcilers"  # `lineage reconcile KIND`
log = logging.getLogger("lineage.sources")


# A system code as keys take it (`system:<code>`).
SystemCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]


class SourceConfig(BaseModel):
    """Base of every connector's config: frozen, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Payload(BaseModel):
    """An input given in memory (an API request body) instead of a file."""

    model_config = ConfigDict(frozen=True)

    location: str
    data: bytes


class FileInputs(SourceConfig):
    """The inputs of a source that reads files (`files`) or request bodies (`payloads`)."""

    files: list[Path] = Field(default_factory=list)
    payloads: list[Payload] = Field(default_factory=list)

    def texts(self) -> Iterator[tuple[str, str] | Rejected]:
        """(location, text) of each input in order; an unreadable file is `Rejected`."""
        for path in self.files:
            try:
                yield str(path), path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                yield Rejected(str(path), f"cannot read ({exc.strerror})")
        for payload in self.payloads:
            yield payload.location, payload.data.decode("utf-8", "replace")


@dataclass(slots=True)
class SourceContext:
    """What a source may use besides its config: the store to *read* (instance index, current
    links), the pseudonym key, where to keep state files, a stop flag for followers, and a
    place for figures of its own that the run report carries (`extra`)."""

    store: GraphStore
    secret: bytes
    state_path: Callable[[str], Path]
    stop: Callable[[], bool] = lambda: False
    extra: dict[str, Any] = field(default_factory=dict)


Config = TypeVar("Config", bound=SourceConfig)


@dataclass(frozen=True, slots=True)
class Source(Generic[Config]):
    """A registered connector."""

    kind: str
    summary: str
    config_class: type[Config]
    records: Callable[[Config, SourceContext], Iterable[SourceRecord]]
    label: Callable[[Config], str]  # the run's source name in reports, e.g. "hl7:EHR"

    def configure(self, spell: Callable[[str], str] = str, **values: Any) -> Config:
        """The config from keyword values; a UserError names each wrong field (as `spell`
        writes a field name: the CLI writes its option)."""
        try:
            return self.config_class(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{spell(str(error['loc'][0])) if error['loc'] else 'config'}: {error['msg']}"
                for error in exc.errors())
            raise UserError(f"{self.kind} source: {problems}") from None


@dataclass(frozen=True, slots=True)
class Registered:
    kind: str
    target: str  # module:attribute


def _entry_points(group: str = SOURCES_GROUP) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def load_plugin(group: str, name: str) -> Any:
    """A listener or reconciler registered under `group`; a UserError when there is none."""
    found = _entry_points(group).get(name)
    if found is None:
        raise UserError(f"nothing named {name!r} is registered in {group} (is the package "
                        "installed? pip install -e .)")
    try:
        return found.load()
    except ImportError as exc:
        raise UserError(f"{group} {name!r} is disabled: {exc}") from None


def available_sources() -> list[Registered]:
    """Every registered source, by kind, without importing them."""
    return [Registered(name, ep.value) for name, ep in sorted(_entry_points().items())]


def describe_sources() -> list[dict[str, str]]:
    """Every registered source with its summary, or why it is disabled (`lineage sources`)."""
    described = []
    for registered in available_sources():
        try:
            text = load_source(registered.kind).summary
        except UserError as exc:
            text = str(exc)
        described.append({"kind": registered.kind, "target": registered.target,
                          "summary": text})
    return described


@cache
def load_source(kind: str) -> Source[Any]:
    """The source registered as `kind`; a UserError lists the known kinds."""
    found = _entry_points().get(kind)
    if found is None:
        known = ", ".join(sorted(_entry_points())) or "none (is the package installed?)"
        raise UserError(f"no source {kind!r} is registered; registered: {known}")
    try:
        source = found.load()
    except ImportError as exc:
        raise UserError(f"source {kind!r} is disabled: {exc}") from None
    if not isinstance(source, Source) or source.kind != kind:
        raise UserError(f"entry point {kind!r} ({found.value}) is not a Source of that kind")
    return source


def run_source(kind: str, values: dict[str, Any], context: SourceContext, *,
               batch_size: int = 1000, progress: Callable[[int], None] | None = None
               ) -> RunReport:
    """Configure the source `kind` with `values` and run it through the ingest service."""
    source = load_source(kind)
    return run_configured(source, source.configure(**values), context, batch_size=batch_size,
                          progress=progress)


def run_configured(source: Source[Config], config: Config, context: SourceContext, *,
                   batch_size: int = 1000, progress: Callable[[int], None] | None = None
                   ) -> RunReport:
    """Run a source already configured through the ingest service; the source's own figures
    (`context.extra`) join the report."""
    report = ingest(context.store, source.records(config, context), source.label(config),
                    batch_size=batch_size, progress=progress)
    report.extra.update(context.extra)
    return report
