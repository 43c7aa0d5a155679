"""HL7 v2 parsing: the engine's own parser beside python-hl7 (`hl7.parse`) on the same messages,
same run, to weigh adopting python-hl7 against the MLLP listener's rate.

    python -m benchmarks.hl7_parsers [--messages 20000] [--rounds 5]

Prints messages/s of each parser (median of the rounds). Parsing is one step of what the
listener does per message (check, build the records, an fsync'd inbox write, the ACK), whose
whole rate BENCHMARKS.md gives.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import hl7

from connectors.hl7_message import parse

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "hl7"


def messages(count: int) -> list[str]:
    texts = [p.read_text().replace("\n", "\r").strip("\r") for p in sorted(SAMPLES.glob("*.hl7"))]
    return [texts[n % len(texts)].replace("MSG0000", f"M{n}-") for n in range(count)]


def rate(parse_one: Callable[[str], object], batch: list[str], rounds: int) -> float:
    speeds = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in batch:
            parse_one(text)
        speeds.append(len(batch) / (time.perf_counter() - started))
    return statistics.median(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    batch = messages(args.messages)
    own = rate(parse, batch, args.rounds)
    official = rate(hl7.parse, batch, args.rounds)
    print(f"{args.messages} messages (the six samples of tests/fixtures/hl7), "
          f"median of {args.rounds} rounds")
    print(f"own parser     {own:12,.0f} messages/s")
    print(f"python-hl7     {official:12,.0f} messages/s   ({official / own:.2f} of own)")


if __name__ == "__main__":
    main()
