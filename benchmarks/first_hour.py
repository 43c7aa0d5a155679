"""A newcomer's first minute, whole processes: `lineage --help` beside `python -c pass`, and
`lineage demo` from start to end, each the median of several runs.

    python -m benchmarks.first_hour [--runs 15] [--demo-runs 3] [--baseline SRC]

`--baseline SRC` runs the same commands with another checkout's sources first on PYTHONPATH
(e.g. `git worktree add /tmp/before <commit>`), side by side in the same run, and prints the
ratios: these machines are shared and noisy, so only ratios measured together mean much.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def seconds(command: list[str], runs: int, source: Path | None, cwd: Path) -> float:
    """Median wall time of `command` over `runs` runs (output discarded; a failure raises)."""
    environment = dict(os.environ)
    if source is not None:
        environment["PYTHONPATH"] = str(source)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=environment, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each short command")
    parser.add_argument("--demo-runs", type=int, default=3, help="runs of the demo")
    parser.add_argument("--baseline", type=Path, help="sources of the version to compare with")
    args = parser.parse_args()
    python = sys.executable
    versions: list[tuple[str, Path | None]] = [("now", None)]
    if args.baseline:
        versions.insert(0, ("baseline", args.baseline.resolve()))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        bare = seconds([python, "-c", "pass"], args.runs, None, work)
        print(f"python -c pass: {bare:.3f} s (median of {args.runs})")
        found: dict[str, dict[str, float]] = {}
        for name, source in versions:
            found[name] = {
                "--help": seconds([python, "-m", "lineage", "--help"], args.runs, source, work),
                "demo": seconds([python, "-m", "lineage", "demo", "--folder", f"demo-{name}"],
                                args.demo_runs, source, work),
            }
            print(f"{name}: lineage --help {found[name]['--help']:.3f} s (median of "
                  f"{args.runs}), lineage demo {found[name]['demo']:.2f} s (median of "
                  f"{args.demo_runs})")
        if "baseline" in found:
            for command in ("--help", "demo"):
                ratio = found["now"][command] / found["baseline"][command]
                print(f"{command}: now / baseline = {ratio:.2f}x")


if __name__ == "__main__":
    main()
