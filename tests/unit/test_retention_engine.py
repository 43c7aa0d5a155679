"""The retention engine's pure logic, and the policy file's validation."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lineage.retention.engine import (
    RetentionInputs,
    add_years,
    birth_date,
    compute,
    origin_jurisdiction,
)
from lineage.retention.policy import PolicyError, load_policy

PACK = load_policy()


def inputs(**fields: object) -> RetentionInputs:
    base: dict[str, object] = {"key": "object:X:1", "region": "onprem-london",
                               "study_date": "2020-06-01", "modality": "CT",
                               "birth_year_month": "1970-01"}
    base.update(fields)
    return RetentionInputs(**base)  # type: ignore[arg-type]


def test_add_years_keeps_the_day_or_the_month_end() -> None:
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2020, 1, 31), 0, 1) == date(2020, 2, 29)
    assert add_years(date(2020, 11, 15), 1, 3) == date(2022, 2, 15)


def test_adult_in_england_keeps_8_years_after_last_encounter() -> None:
    result = compute(inputs(last_encounter="2021-03-04"), PACK)
    assert (result.status, result.retain_until, result.rule_id) == (
        "computed", "2029-03-04", "gb-adult-8y")
    assert result.jurisdictions == ("GB",) and result.country == "GB"


@pytest.mark.parametrize(("birth", "rule", "until"), [
    ("2010-04", "gb-child-25th-birthday", "2035-04-30"),   # 10 at the study
    ("2003-03", "gb-child-26th-birthday", "2029-03-31"),   # 17 at the study
])
def test_children_in_england_keep_until_a_birthday(birth: str, rule: str, until: str) -> None:
    result = compute(inputs(birth_year_month=birth), PACK)
    assert (result.retain_until, result.rule_id) == (until, rule)


def test_age_alone_gives_the_latest_possible_birthday() -> None:
    assert birth_date(inputs(birth_year_month=None, age_at_study=10)) == date(2010, 6, 1)
    result = compute(inputs(birth_year_month=None, age_at_study=10), PACK)
    assert (result.retain_until, result.rule_id) == ("2035-06-01", "gb-child-25th-birthday")


@pytest.mark.parametrize(("fields", "reason"), [
    ({"birth_year_month": None}, "patient age unknown and rule gb-child-25th-birthday"),
    ({"modality": None}, "modality unknown and rule gb-screening-mammography-10y"),
    ({"region": None}, "no storage region"),
    ({"region": "eu-north-1"}, "no jurisdiction of the policy governs SE"),
    ({"region": "atlantis-1"}, "storage region 'atlantis-1' is not in the policy"),
])
def test_missing_inputs_give_unknown_with_the_reason(
    fields: dict[str, object], reason: str
) -> None:
    result = compute(inputs(**fields), PACK)
    assert result.status == "unknown" and result.retain_until is None
    assert reason in str(result.reason)


def test_study_date_missing_is_unknown_for_a_study_date_rule() -> None:
    result = compute(inputs(study_date=None, region="us-east-1", modality="CT"), PACK)
    assert result.reason == "study date unknown and rule us-cms-radiology-5y starts from it"


def test_california_adds_state_rules_to_federal_ones_and_the_latest_wins() -> None:
    result = compute(inputs(region="us-west-1", last_encounter="2022-01-01"), PACK)
    assert result.jurisdictions == ("US", "US-CA")
    assert (result.retain_until, result.rule_id) == ("2029-01-01", "us-ca-hospital-7y")
    mammo = compute(inputs(region="us-east-1", modality="MG"), PACK)
    assert (mammo.retain_until, mammo.rule_id) == ("2030-06-01", "us-mqsa-mammography-10y")


def test_origin_jurisdiction_by_institution_then_place() -> None:
    assert origin_jurisdiction(PACK, None, ["us-west-1"]) == "US"
    assert origin_jurisdiction(PACK, None, ["onprem-berlin"]) == "DE"
    assert origin_jurisdiction(PACK, None, ["nowhere"]) is None
    assert origin_jurisdiction(PACK, None, ["us-east-1", "onprem-london"]) == "GB"  # strictest
    institutions = PACK.model_copy(update={"institutions": {"North General": "DE"}})
    assert origin_jurisdiction(institutions, "North General", ["us-east-1"]) == "DE"


def test_default_pack_cites_every_rule_and_keeps_uncertain_marks() -> None:
    rules = PACK.rules_by_id()
    assert {name for name, _ in rules.values()} >= {"GB", "US", "US-CA", "DE", "FR", "CA-ON", "AU"}
    assert all(rule.source for _, rule in rules.values())
    assert rules["gb-screening-mammography-10y"][1].uncertain
    assert PACK.jurisdictions["FR"].residency.uncertain  # type: ignore[union-attr]
    assert "NO" in PACK.blocs["EEA"]  # YAML 1.1 would have read Norway as false
    assert "US" not in PACK.allowed_countries()["GB"] and "*" in PACK.allowed_countries()["US"]


@pytest.mark.parametrize(("text", "message"), [
    ("regions: {}\njurisdictions: {X: {name: x, applies_to: [GB], rules: [{id: a, trigger: "
     "sunrise, years: 1, source: s}]}}\n", "jurisdictions.X.rules[0].trigger"),
    ("regions: {r: {country: gb}}\njurisdictions: {}\n", "regions.r.country"),
    ("regions: {}\njurisdictions: {X: {name: x, applies_to: [GB], rules: [{id: a, trigger: "
     "study_date, years: 1, source: s}, {id: a, trigger: study_date, years: 2, source: s}]}}\n",
     "rule ids must be unique: a"),
    ("regions: {}\njurisdictions: {X: {name: x, applies_to: [GB], residency: {allowed: "
     "[MARS_BLOC], source: s}}}\n", "'MARS_BLOC' is neither a country code"),
    ("regions: {}\njurisdictions: {}\ncolour: red\n", "colour: Extra inputs"),
    ("regions: {}\njurisdictions: {X: {name: x, applies_to: [GB], rules: [{id: a, trigger: "
     "study_date, years: -3, source: s}]}}\n", "jurisdictions.X.rules[0].years"),
])
def test_invalid_policy_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


def test_the_documented_pack_is_the_shipped_pack() -> None:
    from lineage.retention.policy import rules_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "retention-pack.md").read_text()
    assert rules_table(PACK) in doc, "regenerate docs/retention-pack.md: lineage retention rules"


def test_changes_turn_the_stored_properties_into_the_merged_ones() -> None:
    from lineage.model import Properties
    from lineage.retention.neo4j_writes import changes

    before: Properties = {"bytes": 1000, "retain_until": "2030-01-01", "country": "GB",
                          "tier": "online"}
    after: Properties = {"bytes": 1000, "retain_until": "2035-01-01", "tier": "online",
                         "reason": "x"}
    delta = changes(before, after)
    assert delta == {"retain_until": "2035-01-01", "reason": "x", "country": None}
    patched = {**before, **delta}  # what SET n += delta leaves: a null removes the property
    assert {k: v for k, v in patched.items() if v is not None} == after
