"""retain_until for one stored copy: a pure function of its inputs and the policy.

Inputs come from the graph (`lineage.retention.inputs`): the copy's storage region, its study
(date, modality, patient's age at the study), the patient (birth year-month, death, last
encounter; the latest study date of the patient counts as an encounter). Dates are the
patient's local dates.

- Jurisdictions: every one governing the copy's storage place (country and subdivision).
- A rule applies when its conditions hold; if a condition or a trigger date depends on an input
  that is missing (age unknown where a minors rule exists, no study date), the result is
  `unknown` with the reason: never a guess. A death rule without a known death does not apply.
- Birth dates are kept as year-month only: the birthday is taken as the month's last day, and
  from an age alone as the study date minus that age, so that a minors rule errs on the long side.
- The latest date of all applying rules wins; of equal dates, the rule listed first.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from lineage.retention.policy import Policy, Rule, Trigger

COMPUTED, UNKNOWN = "computed", "unknown"


@dataclass(frozen=True, slots=True)
class RetentionInputs:
    key: str
    region: str | None = None
    study: str | None = None
    study_date: str | None = None
    modality: str | None = None
    institution: str | None = None
    patient: str | None = None
    birth_year_month: str | None = None
    age_at_study: int | None = None
    death_date: str | None = None
    last_encounter: str | None = None


@dataclass(frozen=True, slots=True)
class RetentionResult:
    key: str
    status: str
    retain_until: str | None = None
    rule_id: str | None = None
    reason: str | None = None
    jurisdictions: tuple[str, ...] = ()
    country: str | None = None


def add_years(day: date, years: int, months: int = 0) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + years + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def birth_date(inputs: RetentionInputs) -> date | None:
    if inputs.birth_year_month:
        year, month = (int(part) for part in inputs.birth_year_month.split("-")[:2])
        return date(year, month, calendar.monthrange(year, month)[1])
    study = _date(inputs.study_date)
    if study is not None and inputs.age_at_study is not None:
        return add_years(study, -inputs.age_at_study)
    return None


def age_at_study(inputs: RetentionInputs) -> int | None:
    if inputs.age_at_study is not None:
        return inputs.age_at_study
    study = _date(inputs.study_date)
    if inputs.birth_year_month and study:
        year, month = (int(part) for part in inputs.birth_year_month.split("-")[:2])
        return study.year - year - (1 if study.month < month else 0)
    return None


class _Unknown(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _rule_date(rule: Rule, inputs: RetentionInputs) -> date | None:
    """The date a rule gives, None when it does not apply; _Unknown when that depends on a
    missing input."""
    if rule.modalities is not None:
        if inputs.modality is None:
            raise _Unknown(f"modality unknown and rule {rule.id} depends on it")
        if inputs.modality not in rule.modalities:
            return None
    if rule.needs_age:
        age = age_at_study(inputs)
        if age is None:
            raise _Unknown(f"patient age unknown and rule {rule.id} depends on it")
        if rule.age_below is not None and age >= rule.age_below:
            return None
        if rule.age_at_least is not None and age < rule.age_at_least:
            return None
    start: date | None
    if rule.trigger is Trigger.STUDY_DATE:
        start = _date(inputs.study_date)
        if start is None:
            raise _Unknown(f"study date unknown and rule {rule.id} starts from it")
    elif rule.trigger is Trigger.LAST_ENCOUNTER:
        start = _date(inputs.last_encounter) or _date(inputs.study_date)
        if start is None:
            raise _Unknown(f"last encounter unknown and rule {rule.id} starts from it")
    elif rule.trigger is Trigger.BIRTH_DATE:
        start = birth_date(inputs)
        if start is None:
            raise _Unknown(f"birth date unknown and rule {rule.id} starts from it")
    else:
        start = _date(inputs.death_date)
        if start is None:
            return None  # no known death: the rule does not apply (yet)
    return add_years(start, rule.years, rule.months)


def compute(inputs: RetentionInputs, policy: Policy) -> RetentionResult:
    if not inputs.region:
        return RetentionResult(inputs.key, UNKNOWN, reason="no storage region")
    region = policy.regions.get(inputs.region)
    if region is None:
        return RetentionResult(inputs.key, UNKNOWN,
                               reason=f"storage region {inputs.region!r} is not in the policy")
    governing = tuple(policy.governing(region))
    if not governing:
        return RetentionResult(inputs.key, UNKNOWN, country=region.country,
                               reason=f"no jurisdiction of the policy governs {region.country}")
    best: tuple[date, str] | None = None
    try:
        for name in governing:
            for rule in policy.jurisdictions[name].rules:
                found = _rule_date(rule, inputs)
                if found is not None and (best is None or found > best[0]):
                    best = (found, rule.id)
    except _Unknown as missing:
        return RetentionResult(inputs.key, UNKNOWN, reason=missing.reason,
                               jurisdictions=governing, country=region.country)
    if best is None:
        return RetentionResult(inputs.key, UNKNOWN, reason="no retention rule applies",
                               jurisdictions=governing, country=region.country)
    return RetentionResult(inputs.key, COMPUTED, best[0].isoformat(), best[1],
                           jurisdictions=governing, country=region.country)


def origin_jurisdiction(
    policy: Policy, institution: str | None, first_regions: Iterable[str]
) -> str | None:
    """Where a study's data originates, for residency: its institution's jurisdiction when the
    policy names it, else the residency jurisdiction of the place of its earliest copy. When
    copies in several places are equally early, the strictest of their jurisdictions (fewest
    allowed countries) is taken: the origin is unknown to the graph, and the strict reading is
    the safe one."""
    if institution and institution in policy.institutions:
        return policy.institutions[institution]
    homes = {home for region in first_regions if (place := policy.regions.get(region))
             and (home := policy.residency_home(place))}
    allowed = policy.allowed_countries()
    strictness = {home: len(allowed[home]) if "*" not in allowed[home] else 10**6
                  for home in homes}
    return min(homes, key=lambda home: (strictness[home], home)) if homes else None
