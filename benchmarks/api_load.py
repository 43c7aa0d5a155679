"""API load on loopback: requests/s and p95 of the decommission endpoint beside a trivial one.

    python -m benchmarks.api_load [--copies 20000] [--seconds 10] [--connections 8]

Builds a local store (the retention benchmark's estate, retention applied), starts `lineage
serve` on a free loopback port (development token), and runs wrk (Debian package `wrk`) against
GET /systems/PACS-LON/decommission and GET /health of the same app, one after the other, with
the same connections and duration. Bounded in time; loopback only. Writes
benchmarks/results/api_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wrk(url: str, seconds: int, connections: int, script: Path) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s",
         "-H", "Authorization: Bearer dev-admin-token", "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    requests, duration, p50, p95 = (float(v) for v in line.split()[1:])
    return {"requests": requests, "requests_per_second": requests / duration,
            "p50_ms": p50, "p95_ms": p95}


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
    port = free_port()
    env = {**os.environ, "LINEAGE_ENV": "development", "LINEAGE_STORE": "lineage.db"}
    env.pop("LINEAGE_API_TOKENS", None)
    server = subprocess.Popen([sys.executable, "-m", "lineage", "serve", "--port", str(port)],
                              cwd=folder, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        script = folder / "report.lua"
        script.write_text(REPORT)
        results = {
            "decommission": wrk(f"{base}/systems/PACS-LON/decommission?limit=100",
                                args.seconds, args.connections, script),
            "health": wrk(f"{base}/health", args.seconds, args.connections, script),
        }
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.copies} copies; wrk -t2 -c{args.connections} -d{args.seconds}s on loopback; "
          f"{os.cpu_count()} cores")
    print(f"{'endpoint':14} {'requests/s':>11} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in results.items():
        print(f"{name:14} {row['requests_per_second']:11.1f} {row['p50_ms']:8.1f} "
              f"{row['p95_ms']:8.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"copies": args.copies, "seconds": args.seconds,
                                   "connections": args.connections, "results": results,
                                   "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                  indent=2) + "\n")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
