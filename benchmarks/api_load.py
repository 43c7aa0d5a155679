"""API load on loopback: requests/s and p95 of the decommission endpoint beside a trivial one.

    python -m benchmarks.api_load [--copies 20000] [--seconds 10] [--connections 8]

Builds a local store (the retention benchmark's estate, retention applied), starts `lineage
serve` on a free loopback port (development token), and runs wrk (Debian package `wrk`) against
GET /systems/PACS-LON/decommission and GET /health of the same app, one after the other, with
the same connections and duration; then decommission again while a client posts HL7 ingests
(1 MB bodies, one after the other) for the whole run, so that read p95 with and without an
ingest in flight come from the same run. Bounded in time; loopback only. Writes
benchmarks/results/api_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.api_server import lineage_serve
from benchmarks.retention_apply import estate
from lineage.retention.apply import apply_retention
from lineage.retention.policy import load_policy
from lineage.stores import LocalStore

RESULTS = Path(__file__).parent / "results" / "api_load.json"
REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.3f %.3f %.3f\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""


def wrk(url: str, seconds: int, connections: int, script: Path) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s",
         "-H", "Authorization: Bearer dev-admin-token", "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    requests, duration, p50, p95 = (float(v) for v in line.split()[1:])
    return {"requests": requests, "requests_per_second": requests / duration,
            "p50_ms": p50, "p95_ms": p95}


def hl7_body(batch: int, size: int = 1_000_000) -> bytes:
    """About `size` bytes of ADT^A08 messages, each for a patient of its own."""
    template = ("MSH|^~\\&|EHR|GENHOSP|RIS|GENHOSP|20240301090000||ADT^A08^ADT_A01|{id}|P|2.5\n"
                "PID|1||{mrn}^^^GENHOSP^MR||DOE^JANE||19800515|F\nPV1|1|O|RAD^^^GENHOSP\n")
    count = size // len(template)
    return "".join(template.format(id=f"B{batch}M{n}", mrn=f"M{batch}-{n}")
                   for n in range(count)).encode()


def ingest_while(base: str, running: threading.Event, done: dict[str, float]) -> None:
    """Post HL7 bodies one after the other until `running` is cleared."""
    batch = 0
    started = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        while running.is_set():
            body = hl7_body(batch)
            answer = client.post(f"{base}/ingest/hl7", params={"system": "EHR"}, content=body,
                                 headers={"Authorization": "Bearer dev-admin-token"})
            answer.raise_for_status()
            batch += 1
            done["bytes"] = done.get("bytes", 0) + len(body)
            done["requests"] = batch
    done["seconds"] = time.perf_counter() - started


def measure(args: argparse.Namespace, folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """wrk runs against a server over the store in `folder`, before and during an ingest."""
    with lineage_serve(folder, env) as (_, base):
        script = folder / "report.lua"
        script.write_text(REPORT)
        decommission = f"{base}/systems/PACS-LON/decommission?limit=100"
        results = {
            "decommission": wrk(decommission, args.seconds, args.connections, script),
            "health": wrk(f"{base}/health", args.seconds, args.connections, script),
        }
        running, ingested = threading.Event(), dict[str, float]()
        running.set()
        ingest = threading.Thread(target=ingest_while, args=(base, running, ingested))
        ingest.start()
        try:
            results["decommission_during_ingest"] = wrk(decommission, args.seconds,
                                                        args.connections, script)
            results["health_during_ingest"] = wrk(f"{base}/health", args.seconds,
                                                  args.connections, script)
        finally:
            running.clear()
            ingest.join(600)
        results["ingest_in_flight"] = {
            "requests": ingested.get("requests", 0),
            "megabytes_per_second": ingested.get("bytes", 0) / 1e6 / max(
                ingested.get("seconds", 1), 1e-9)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=20000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    folder = Path(tempfile.mkdtemp(prefix="lineage-api-bench-"))
    with LocalStore(folder / "lineage.db") as store:
        for nodes, edges in estate(args.copies):
            store.upsert(nodes, edges)
        apply_retention(store, load_policy())
    env = {**os.environ, "LINEAGE_ENV": "development", "LINEAGE_STORE": "lineage.db"}
    env.pop("LINEAGE_API_TOKENS", None)
    try:
        results = measure(args, folder, env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.copies} copies; wrk -t2 -c{args.connections} -d{args.seconds}s on loopback; "
          f"{os.cpu_count()} cores")
    print(f"{'endpoint':28} {'requests/s':>11} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in results.items():
        if "p95_ms" in row:
            print(f"{name:28} {row['requests_per_second']:11.1f} {row['p50_ms']:8.1f} "
                  f"{row['p95_ms']:8.1f}")
    flight = results["ingest_in_flight"]
    ratio = results["decommission_during_ingest"]["p95_ms"] / results["decommission"]["p95_ms"]
    print(f"ingest in flight: {flight['requests']:.0f} HL7 requests of 1 MB, "
          f"{flight['megabytes_per_second']:.2f} MB/s; decommission p95 during / without: "
          f"{ratio:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"copies": args.copies, "seconds": args.seconds,
                                   "connections": args.connections, "results": results,
                                   "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                  indent=2) + "\n")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
