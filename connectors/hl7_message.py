"""HL7 v2 messages: a small strict parser (segments, fields, repetitions, components,
subcomponents, with MSH's own numbering) and MLLP framing. Pure: no I/O.

`parse(text)` normalises line ends (`\\r`, `\\n`, `\\r\\n`), reads the encoding characters from
MSH-2 and raises `HL7Error` naming what is wrong (no MSH, bad encoding characters, no message
type). Field access is 1-based as in the standard: `message.field("PID", 3)`; MSH-1 is the field
separator, so MSH-9 is the message type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from lineage.errors import UserError

START_BLOCK, END_BLOCK, CARRIAGE_RETURN = b"\x0b", b"\x1c", b"\x0d"


class HL7Error(UserError):
    """A message that is not valid HL7 v2 (the listener answers AR)."""


@dataclass(frozen=True, slots=True)
class Encoding:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


@dataclass(frozen=True, slots=True)
class Message:
    segments: tuple[tuple[str, ...], ...]
    encoding: Encoding

    def all(self, name: str) -> list[tuple[str, ...]]:
        return [segment for segment in self.segments if segment[0] == name]

    def segment(self, name: str) -> tuple[str, ...] | None:
        found = self.all(name)
        return found[0] if found else None

    def field(self, name: str, number: int, segment: tuple[str, ...] | None = None) -> str:
        """Field `number` (1-based) of the first `name` segment (or of `segment`), '' if absent."""
        seg = segment if segment is not None else self.segment(name)
        if seg is None:
            return ""
        index = number - 1 if name == "MSH" else number
        return seg[index] if 0 <= index < len(seg) else ""

    def repetitions(self, value: str) -> list[str]:
        return [item for item in value.split(self.encoding.repetition) if item]

    def component(self, value: str, number: int) -> str:
        parts = value.split(self.encoding.component)
        return parts[number - 1] if len(parts) >= number else ""

    def subcomponent(self, value: str, number: int) -> str:
        parts = value.split(self.encoding.subcomponent)
        return parts[number - 1] if len(parts) >= number else ""

    def text(self, value: str) -> str:
        """A component's or field's text with HL7 escape sequences decoded: \\F\\ \\S\\ \\T\\
        \\R\\ \\E\\ (the separators and the escape character), \\Xhh...\\ (bytes, as UTF-8
        when they decode, else Latin-1), \\.br\\ (a line break); others are dropped."""
        escape = self.encoding.escape
        if escape not in value:
            return value
        named = {"F": self.encoding.field, "S": self.encoding.component,
                 "T": self.encoding.subcomponent, "R": self.encoding.repetition,
                 "E": escape, ".br": "\n"}
        parts = value.split(escape)
        decoded = [parts[0]]
        for index in range(1, len(parts), 2):
            sequence = parts[index]
            if sequence in named:
                decoded.append(named[sequence])
            elif sequence.startswith("X") and _is_hex(sequence[1:]):
                raw = bytes.fromhex(sequence[1:])
                try:
                    decoded.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    decoded.append(raw.decode("latin-1"))
            if index + 1 < len(parts):
                decoded.append(parts[index + 1])
        return "".join(decoded)

    @property
    def type(self) -> str:
        """`ORM^O01`, `ADT^A40` (the message structure, MSH-9.3, left out)."""
        value = self.field("MSH", 9)
        return "^".join(part for part in value.split(self.encoding.component)[:2] if part)

    @property
    def control_id(self) -> str:
        return self.field("MSH", 10)

    @property
    def version(self) -> str:
        return self.field("MSH", 12)


def _is_hex(text: str) -> bool:
    return bool(text) and len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text)


def parse(text: str) -> Message:
    lines = [line for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
             if line.strip()]
    if not lines or not lines[0].startswith("MSH"):
        raise HL7Error("no MSH segment at the start of the message")
    header = lines[0]
    if len(header) < 8:
        raise HL7Error("MSH is too short to hold the encoding characters")
    separator, characters = header[3], header[4:8]
    if separator.isalnum() or len(set(characters + separator)) != 5 or any(
            c.isalnum() for c in characters):
        raise HL7Error(f"bad encoding characters {header[3:8]!r} in MSH-1/MSH-2")
    encoding = Encoding(separator, characters[0], characters[1], characters[2], characters[3])
    segments = []
    for number, line in enumerate(lines, start=1):
        fields = line.split(separator)
        if len(fields[0]) != 3 or not fields[0].isalnum():
            raise HL7Error(f"segment {number} has no 3-character segment name: {line[:20]!r}")
        segments.append(tuple(fields))
    message = Message(tuple(segments), encoding)
    if not message.type:
        raise HL7Error("MSH-9 (message type) is empty")
    return message


def frame(message: str) -> bytes:
    """An HL7 message framed for MLLP."""
    return START_BLOCK + message.encode("utf-8") + END_BLOCK + CARRIAGE_RETURN


def unframe(buffer: bytearray) -> list[bytes]:
    """Complete MLLP frames taken from the front of `buffer` (consumed); bytes before a start
    block are dropped, an incomplete frame stays."""
    found: list[bytes] = []
    while True:
        start = buffer.find(START_BLOCK)
        if start < 0:
            buffer.clear()
            return found
        end = buffer.find(END_BLOCK + CARRIAGE_RETURN, start)
        if end < 0:
            del buffer[:start]
            return found
        found.append(bytes(buffer[start + 1:end]))
        del buffer[:end + 2]


def hl7_time(value: str) -> str | None:
    """An HL7 TS/DTM (`YYYYMMDD[HH[MM[SS[.S...]]]][+/-ZZZZ]`) as ISO text: a date when the value
    has no time, else a UTC time (an offset is applied; a time without one is taken as UTC).
    None when it is not a date or time."""
    match = _TS.match(value.strip())
    if match is None:
        return None
    date, clock, fraction, offset = match.group("date", "clock", "fraction", "offset")
    day = f"{date[:4]}-{date[4:6]}-{date[6:8]}"
    if not clock:
        return day
    clock = clock.ljust(6, "0")
    moment = f"{day}T{clock[:2]}:{clock[2:4]}:{clock[4:6]}"
    if fraction:
        moment += "." + fraction[:6]
    moment += f"{offset[:3]}:{offset[3:]}" if offset else "Z"
    try:
        stamp = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if not fraction else \
        stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_TS = re.compile(r"^(?P<date>\d{8})(?P<clock>\d{2}(?:\d{2}(?:\d{2})?)?)?"
                 r"(?:\.(?P<fraction>\d{1,6}))?(?P<offset>[+-]\d{4})?$")


def ack(message: Message | None, code: str, text: str = "", now: str = "") -> str:
    """An ACK for `message` (AA, AE or AR); MSA-3 carries the reason of an AE or AR. MSH-7 is
    the time as an HL7 DTM (`YYYYMMDDHHMMSS+0000`); echoed fields lose framing bytes and line
    ends, so the ACK is always one valid frame."""
    sep, cmp = (message.encoding.field, message.encoding.component) if message else ("|", "^")
    now = now or datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")

    def msh(number: int) -> str:
        return _clean(message.field("MSH", number)) if message else ""

    trigger = message.type.split("^")[1] if message and "^" in message.type else ""
    clean = _clean(text).replace(sep, " ")[:200]
    header = sep.join(["MSH", "^~\\&", msh(5), msh(6), msh(3), msh(4), now, "",
                       f"ACK{cmp}{trigger}", f"ACK{msh(10)}", "P", msh(12) or "2.5"])
    return header + "\r" + sep.join(["MSA", code, msh(10), clean]) + "\r"


_FRAMING = re.compile("[\x00-\x1f\x7f]")


def _clean(value: str) -> str:
    """Text safe to echo into an ACK: control characters (MLLP framing, line ends) as spaces."""
    return _FRAMING.sub(" ", value)
