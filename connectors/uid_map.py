"""UID map of a de-identification run: which new UID replaced which original UID.

A CSV file with a header row naming an `original` column and a `deidentified` (or `new`)
column, one UID pair per row (study, series or instance UIDs alike). De-identifiers keep such a
table; without it, a de-identified copy with new UIDs has no link to its original.
"""

from __future__ import annotations

import csv
from pathlib import Path

from lineage.errors import UserError

_NEW_COLUMNS = ("deidentified", "new")


def load_uid_map(path: Path) -> dict[str, str]:
    """new UID → original UID; UserError naming the file and line on a bad row."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            new_column = next((c for c in _NEW_COLUMNS if c in columns), None)
            if "original" not in columns or new_column is None:
                raise UserError(f"{path}: the UID map needs columns 'original' and 'deidentified'")
            mapping: dict[str, str] = {}
            for line, row in enumerate(reader, start=2):
                cells = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                original, new = cells.get("original", ""), cells.get(new_column, "")
                if not original or not new:
                    raise UserError(f"{path}:{line}: a row needs both an original and a new UID")
                mapping[new] = original
            return mapping
    except OSError as exc:
        raise UserError(f"{path}: cannot read the UID map ({exc.strerror})") from None
