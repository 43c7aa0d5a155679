"""Retention and residency policy as data: a YAML file, validated, errors naming the field.

    version: 1
    blocs: {EEA: [AT, BE, ...]}                       # names usable in residency lists
    regions: {eu-west-2: {country: GB}, us-west-1: {country: US, subdivision: US-CA}}
    institutions: {"North General": GB}               # optional: origin of a study by institution
    jurisdictions:
      GB:
        name: England
        applies_to: [GB]                              # countries or subdivisions it governs
        residency: {allowed: [GB, EEA, CH], source: ..., uncertain: false}
        rules:
          - {id: gb-adult, trigger: last_encounter, years: 8, source: ...}
          - {id: gb-child, trigger: birth_date, years: 25, age_below: 17, source: ...}
          - {id: gb-mammo, trigger: study_date, years: 10, modalities: [MG], uncertain: true}
    transfers: [{origin: GB, country: US, mechanism: "UK Extension to the EU-US DPF"}]

A rule applies when its conditions hold (modalities; the patient's age at the study: `age_below`,
`age_at_least`); its date is the trigger date plus the duration. Of all rules that apply to a
copy (every jurisdiction governing its storage place), the latest date wins.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    StringConstraints,
    model_validator,
)

from lineage.errors import UserError
from lineage.yaml_files import StrictModel, parse_yaml_model

RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Place = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]
DEFAULT_PACK = "default-pack.yaml"


class PolicyError(UserError):
    """An invalid policy file; the message names the file and the field."""


class Trigger(StrEnum):
    STUDY_DATE = "study_date"
    LAST_ENCOUNTER = "last_encounter"
    BIRTH_DATE = "birth_date"
    DEATH = "death"


class Rule(StrictModel):
    id: RuleId
    description: str = ""
    trigger: Trigger
    years: int = Field(ge=0, le=200)
    months: int = Field(default=0, ge=0, le=11)
    modalities: list[str] | None = None
    age_below: int | None = Field(default=None, ge=0, le=150)
    age_at_least: int | None = Field(default=None, ge=0, le=150)
    source: str = Field(min_length=1)
    uncertain: bool = False

    @property
    def needs_age(self) -> bool:
        return self.age_below is not None or self.age_at_least is not None


class Residency(StrictModel):
    allowed: list[str] = Field(min_length=1)  # countries, blocs, or "*" for anywhere
    source: str = Field(min_length=1)
    uncertain: bool = False


class Jurisdiction(StrictModel):
    name: str
    applies_to: list[Place] = Field(min_length=1)
    residency: Residency | None = None
    rules: list[Rule] = Field(default_factory=list)


class Region(StrictModel):
    country: Place
    subdivision: Place | None = None


class Transfer(StrictModel):
    origin: str
    country: Place
    mechanism: str = Field(min_length=1)


class Policy(StrictModel):
    version: Literal[1] = 1
    blocs: dict[str, list[Place]] = Field(default_factory=dict)
    regions: dict[str, Region]
    institutions: dict[str, str] = Field(default_factory=dict)
    jurisdictions: dict[str, Jurisdiction]
    transfers: list[Transfer] = Field(default_factory=list)
    # Monthly price per GB of each storage tier, for the cost of over-retention.
    tier_prices: dict[str, float] = Field(default_factory=dict)
    currency: str = "USD"

    @model_validator(mode="after")
    def _references(self) -> Policy:
        ids = [rule.id for j in self.jurisdictions.values() for rule in j.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        for name, jurisdiction in self.jurisdictions.items():
            for entry in jurisdiction.residency.allowed if jurisdiction.residency else []:
                if entry != "*" and entry not in self.blocs and not _is_place(entry):
                    raise ValueError(f"jurisdictions.{name}.residency.allowed: {entry!r} is "
                                     "neither a country code, a bloc, nor '*'")
        for institution, origin in self.institutions.items():
            if origin not in self.jurisdictions:
                raise ValueError(f"institutions.{institution}: unknown jurisdiction {origin!r}")
        for transfer in self.transfers:
            if transfer.origin not in self.jurisdictions:
                raise ValueError(f"transfers: unknown origin jurisdiction {transfer.origin!r}")
        return self

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the whole policy: stamps every computed retention."""
        text = self.model_dump_json()
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def rules_by_id(self) -> dict[str, tuple[str, Rule]]:
        return {rule.id: (name, rule) for name, j in self.jurisdictions.items() for rule in j.rules}

    def governing(self, region: Region) -> list[str]:
        """Jurisdictions governing a storage place: its country's and its subdivision's."""
        places = {region.country} | ({region.subdivision} if region.subdivision else set())
        return sorted(name for name, j in self.jurisdictions.items()
                      if places.intersection(j.applies_to))

    def residency_home(self, region: Region) -> str | None:
        """The jurisdiction whose residency rule binds data originating at a place."""
        for name in self.governing(region):
            if self.jurisdictions[name].residency is not None:
                return name
        return None

    def allowed_countries(self) -> dict[str, list[str]]:
        """Origin jurisdiction → countries that may hold its data ("*": anywhere)."""
        allowed: dict[str, list[str]] = {}
        for name, jurisdiction in self.jurisdictions.items():
            if jurisdiction.residency is None:
                continue
            countries: set[str] = set()
            for entry in jurisdiction.residency.allowed:
                countries.update(self.blocs.get(entry, [entry]))
            countries.update(t.country for t in self.transfers if t.origin == name)
            allowed[name] = sorted(countries)
        return allowed


def _is_place(text: str) -> bool:
    return len(text) == 2 and text.isalpha() and text.isupper()


def load_policy(path: Path | None = None) -> Policy:
    """A policy file, or the default pack shipped with the engine when `path` is None."""
    name = str(path) if path else f"default policy pack ({DEFAULT_PACK})"
    try:
        if path is None:
            text = resources.files("lineage.retention").joinpath(DEFAULT_PACK).read_text()
        else:
            text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{name}: cannot read the policy file ({exc.strerror})") from None
    return parse_yaml_model(text, Policy, name, PolicyError,
                            "a policy file is a mapping with 'regions' and 'jurisdictions'")


def rules_table(policy: Policy) -> str:
    """The policy's rules as a Markdown table: jurisdiction, rule, duration, trigger, condition,
    source (UNCERTAIN where the pack marks it)."""
    lines = ["| Jurisdiction | Rule | Duration | Trigger | Applies to | Source |",
             "|---|---|---|---|---|---|"]
    for name, jurisdiction in policy.jurisdictions.items():
        for rule in jurisdiction.rules:
            duration = f"{rule.years} y" + (f" {rule.months} m" if rule.months else "")
            conditions = []
            if rule.modalities:
                conditions.append("modality " + "/".join(rule.modalities))
            if rule.age_at_least is not None:
                conditions.append(f"age at study >= {rule.age_at_least}")
            if rule.age_below is not None:
                conditions.append(f"age at study < {rule.age_below}")
            source = rule.source + (" (UNCERTAIN)" if rule.uncertain else "")
            lines.append(f"| {name} | `{rule.id}` | {duration} | {rule.trigger} | "
                         f"{', '.join(conditions) or 'all'} | {source} |")
    lines += ["", "| Jurisdiction | Residency: may be held in | Source |", "|---|---|---|"]
    for name, jurisdiction in policy.jurisdictions.items():
        if jurisdiction.residency is not None:
            residency = jurisdiction.residency
            mark = " (UNCERTAIN)" if residency.uncertain else ""
            lines.append(f"| {name} | {', '.join(residency.allowed)} | {residency.source}{mark} |")
    return "\n".join(lines) + "\n"
