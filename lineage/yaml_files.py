"""Declaration files (estates, policies): YAML read into strict pydantic models, with errors that
name the file, the line for YAML syntax, and the field for everything else."""

from __future__ import annotations

from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from lineage.errors import UserError

Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """Unknown fields are errors; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def field_path(loc: tuple[int | str, ...]) -> str:
    """`systems[2].status` for pydantic's ('systems', 2, 'status')."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_yaml_model(
    text: str, model: type[Model], name: str, error: type[UserError], what: str
) -> Model:
    """`text` (from the file called `name`) as a `model`; `error` naming the line or field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise error(f"{name}:{where} is not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise error(f"{name}: {what}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise error(f"{name}: {field_path(first['loc'])}: {first['msg']}{more}") from None
