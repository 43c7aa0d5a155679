"""Times and dates as the graph stores them.

Both stores keep times as ISO-8601 UTC strings of one fixed shape, `2026-11-28T08:05:00.000000Z`,
and dates as `YYYY-MM-DD`, so that string order is time order in Cypher, in SQLite and in NetworkX
alike (compare with `$as_of` strings, or wrap in Cypher's `datetime()` / `date()`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_STORED_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def utc_now() -> str:
    """The current time, as a stored timestamp."""
    return format_timestamp(datetime.now(UTC))


def format_timestamp(moment: datetime) -> str:
    """A timezone-aware or naive-UTC datetime as a stored timestamp."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if moment.year < 1000:  # strftime does not pad the year; isoformat would
        return moment.strftime(TIMESTAMP_FORMAT)
    return f"{moment.isoformat(timespec='microseconds')}Z"  # the same text, 5x faster


def to_timestamp(value: datetime | date | str) -> str:
    """Normalise a datetime, a date (midnight UTC) or an ISO-8601 string to a stored timestamp.

    Raises ValueError naming the value when it is not a time.
    """
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        if value.year < 1000:  # as strftime writes it (not zero-padded, as isoformat would)
            return format_timestamp(datetime(value.year, value.month, value.day))
        return f"{value.isoformat()}T00:00:00.000000Z"
    text = value.strip()
    try:
        if len(text) == 10:
            return to_timestamp(date.fromisoformat(text))
        if _STORED_SHAPE.fullmatch(text) and text[0] != "0":  # stored as such (years from 1000)
            datetime.fromisoformat(text[:-1])
            return text
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date or time") from None
    return format_timestamp(parsed)


def to_date(value: date | str) -> str:
    """Normalise a date or a `YYYY-MM-DD` / `YYYYMMDD` string to a stored date."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def as_of_moment(value: date | str | None) -> tuple[str, str]:
    """(stored timestamp, date) of an "as of" a user gave: nothing means now, a date
    (`2026-11-30`) the end of that day, a time (`2026-11-30T10:00:00Z`, any UTC offset) that
    moment. Raises ValueError naming the value when it is neither."""
    if value is None:
        moment = utc_now()
        return moment, moment[:10]
    if isinstance(value, datetime):
        moment = format_timestamp(value)
        return moment, moment[:10]
    if isinstance(value, date):
        return f"{value.isoformat()}T23:59:59.999999Z", value.isoformat()
    text = value.strip()
    if len(text) == 10:
        try:
            return as_of_moment(date.fromisoformat(text))
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or a time "
                         "(YYYY-MM-DDTHH:MM:SSZ)") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone: end it with Z or an offset (+01:00)")
    return as_of_moment(parsed)
