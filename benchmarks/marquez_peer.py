"""Peer benchmark: this engine beside Marquez 0.50 (the OpenLineage reference server) on one
OpenLineage workload, in one run.

    tools/marquez/marquez-local install          # built from its 0.50.0 tag, on PostgreSQL
    python -m benchmarks.marquez_peer [--pipelines 100] [--steps 10] [--queries 20]
        [--neo4j bolt://127.0.0.1:7687]          # also this engine on Neo4j (emptied first!)

The workload: `pipelines` chains of `steps` jobs (de-identification, conversion, training...);
job s of pipeline p reads its own pipeline's dataset s and the next pipeline's, and writes its
dataset s + 1, so lineage spreads across pipelines as it does between shared research copies.
Each job runs once: a START and a COMPLETE RunEvent with a run id of its own (OpenLineage
requires unique run ids), sent by openlineage-python's own client and HTTP transport.

Every contender starts empty (Marquez's database is dropped and created again by
`marquez-local reset`, the local store is new, the Neo4j database emptied). Measured, contender
after contender in the same run (Marquez, this engine's API over a local store, and over Neo4j
when given): ingest events/s with 1 sender and with 4 senders (processes,
each with its own client; each round in a namespace of its own), then lineage queries from the
same random datasets, alternating contenders: Marquez `GET /api/v1/lineage?nodeId=...&depth=N`,
this engine `GET /lineage/{key}?direction=both&depth=2N+2`. Marquez counts job hops (N + 1
upstream of a dataset, N downstream); this engine counts edges, and a job hop is two of them
(dataset - run - dataset), hence 2N + 2 to cover Marquez's upstream ring. The node sets of both
answers are compared (datasets and jobs; runs are this engine's own nodes), and the memory
(RSS) of each server's processes is read after the ingest. Writes
benchmarks/results/marquez_peer.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from benchmarks.api_server import lineage_serve

RESULTS = Path(__file__).parent / "results" / "marquez_peer.json"
REPO = Path(__file__).resolve().parent.parent
MARQUEZ_LOCAL = REPO / "tools" / "marquez" / "marquez-local"
TOKEN = "dev-admin-token"  # `lineage serve` in development mode
NAMESPACE = "s3://imaging-research"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.x/client/python"
DEPTHS = (1, 2, 5)


# -- the workload -----------------------------------------------------------------------------
def dataset_name(round_name: str, pipeline: int, step: int) -> str:
    return f"{round_name}/p{pipeline}/d{step}"


def job_runs(round_name: str, pipelines: int, steps: int) -> list[dict[str, Any]]:
    """One run per job: its job name, inputs and output (names in NAMESPACE)."""
    runs = []
    for step in range(steps):
        for pipeline in range(pipelines):
            inputs = sorted({dataset_name(round_name, pipeline, step),
                             dataset_name(round_name, (pipeline + 1) % pipelines, step)})
            runs.append({"job": f"{round_name}-p{pipeline}-step{step}", "inputs": inputs,
                         "output": dataset_name(round_name, pipeline, step + 1)})
    return runs


def _send(arguments: tuple[str, dict[str, str], list[dict[str, Any]]]) -> int:
    """In a sender process: each run's START then COMPLETE through openlineage-python."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    url, headers, runs = arguments
    config = HttpConfig(url=url, timeout=120, custom_headers=headers, retry={"total": 0})
    client = OpenLineageClient(transport=HttpTransport(config))
    sent = 0
    for run in runs:
        run_id = str(uuid.uuid4())
        for state, time_of in ((RunState.START, "2025-01-10T08:00:00Z"),
                               (RunState.COMPLETE, "2025-01-10T08:05:00Z")):
            client.emit(RunEvent(
                eventType=state, eventTime=time_of, producer=PRODUCER, run=Run(runId=run_id),
                job=Job(namespace="imaging-ai", name=run["job"]),
                inputs=[InputDataset(namespace=NAMESPACE, name=name) for name in run["inputs"]],
                outputs=[OutputDataset(namespace=NAMESPACE, name=run["output"])]))
            sent += 1
    return sent


def ingest(url: str, headers: dict[str, str], runs: list[dict[str, Any]], senders: int
           ) -> dict[str, Any]:
    """Events/s of `runs` sent by `senders` processes (runs dealt round-robin, a job's two
    events from one sender, in order); the processes start before the clock does."""
    shares = [(url, headers, runs[start::senders]) for start in range(senders)]
    with multiprocessing.get_context("spawn").Pool(senders) as pool:
        pool.map(_noop, range(senders))  # processes up and openlineage imported before timing
        started = time.perf_counter()
        events = sum(pool.map(_send, shares))
        seconds = time.perf_counter() - started
    return {"senders": senders, "events": events, "seconds": seconds,
            "events_per_second": events / seconds}


def _noop(_: int) -> None:
    import openlineage.client  # noqa: F401


# -- the contenders ---------------------------------------------------------------------------
class Contender:
    name: str
    url: str
    headers: dict[str, str]

    def lineage(self, client: httpx.Client, dataset: str, depth: int) -> set[str]:
        raise NotImplementedError

    def pids(self) -> list[int]:
        raise NotImplementedError


class Marquez(Contender):
    name = "marquez"

    def __init__(self, url: str):
        self.url, self.headers = url, {}

    def lineage(self, client: httpx.Client, dataset: str, depth: int) -> set[str]:
        answer = client.get(f"{self.url}/api/v1/lineage",
                            params={"nodeId": f"dataset:{NAMESPACE}:{dataset}", "depth": depth})
        answer.raise_for_status()
        found = set()
        for node in answer.json()["graph"]:
            ident = node["data"]["id"]
            found.add(f"{node['type'].lower()}:{ident['namespace']}/{ident['name']}")
        return found

    def pids(self) -> list[int]:
        listed = subprocess.run([str(MARQUEZ_LOCAL), "pids"], capture_output=True, text=True,
                                check=True).stdout.split()
        marquez, postmaster = (int(pid) for pid in listed)
        return [marquez, postmaster, *children(postmaster)]


class Engine(Contender):
    def __init__(self, name: str, url: str, server: subprocess.Popen[bytes],
                 extra_pids: list[int]):
        self.name, self.url, self.server, self.extra_pids = name, url, server, extra_pids
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def lineage(self, client: httpx.Client, dataset: str, depth: int) -> set[str]:
        key = f"dataset:{NAMESPACE}/{dataset}"
        answer = client.get(f"{self.url}/lineage/{quote(key, safe='')}", headers=self.headers,
                            params={"direction": "both", "depth": 2 * depth + 2,
                                    "fanout": 10_000, "limit": 10_000})
        answer.raise_for_status()
        body = answer.json()
        if body["truncated"]:
            raise RuntimeError(f"{self.name}: the trace of {key} was truncated")
        return {node["key"] for node in body["nodes"] if not node["key"].startswith("run:")}

    def pids(self) -> list[int]:
        return [self.server.pid, *self.extra_pids]


@contextmanager
def engine(name: str, store: str, folder: Path, extra_pids: list[int]) -> Iterator[Engine]:
    """`lineage serve` over `store` on a free loopback port, in development mode; the end of
    its log is shown when the run fails."""
    env = {**os.environ, "LINEAGE_ENV": "development", "LINEAGE_STORE": store}
    env.pop("LINEAGE_API_TOKENS", None)
    path = folder / f"{name}.log"
    with path.open("wb") as log:
        try:
            with lineage_serve(folder, env, log, start_seconds=120) as (server, url):
                yield Engine(name, url, server, extra_pids)
        except BaseException:
            print(f"{name}: the last lines of its server's log:", file=sys.stderr)
            print(*path.read_text(errors="replace").splitlines()[-30:], sep="\n",
                  file=sys.stderr)
            raise


def children(parent: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(status.parent.name))
    return found


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of processes, shared pages counted once per process (as `ps` does)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


# -- the run ----------------------------------------------------------------------------------
def latency(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"runs": len(ordered), "p50_ms": statistics.median(ordered),
            "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]}


def compare_answers(marquez: set[str], ours: set[str]) -> dict[str, Any]:
    return {"marquez_nodes": len(marquez), "engine_nodes": len(ours),
            "marquez_within_engine": marquez <= ours, "only_marquez": len(marquez - ours),
            "only_engine": len(ours - marquez)}


def queries(contenders: list[Contender], datasets: list[str]) -> dict[str, Any]:
    """Each query from each contender in turn; latencies per contender and depth, and the node
    sets of each engine's answers against Marquez's."""
    results: dict[str, Any] = {}
    with httpx.Client(timeout=120) as client:
        for depth in DEPTHS:
            times: dict[str, list[float]] = {c.name: [] for c in contenders}
            comparisons: dict[str, list[dict[str, Any]]] = {c.name: [] for c in contenders[1:]}
            for dataset in datasets:
                answers: dict[str, set[str]] = {}
                for contender in contenders:
                    started = time.perf_counter()
                    answers[contender.name] = contender.lineage(client, dataset, depth)
                    times[contender.name].append((time.perf_counter() - started) * 1000)
                for contender in contenders[1:]:
                    comparisons[contender.name].append(
                        compare_answers(answers["marquez"], answers[contender.name]))
            results[f"depth_{depth}"] = {
                "latency": {name: latency(found) for name, found in times.items()},
                "answers": {name: summarize(found) for name, found in comparisons.items()},
            }
    return results


def summarize(comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    return {"queries": len(comparisons),
            "marquez_within_engine": sum(c["marquez_within_engine"] for c in comparisons),
            "mean_marquez_nodes": statistics.mean(c["marquez_nodes"] for c in comparisons),
            "mean_engine_nodes": statistics.mean(c["engine_nodes"] for c in comparisons),
            "mean_only_marquez": statistics.mean(c["only_marquez"] for c in comparisons),
            "mean_only_engine": statistics.mean(c["only_engine"] for c in comparisons)}


def run(args: argparse.Namespace, contenders: list[Contender]) -> dict[str, Any]:
    results: dict[str, Any] = {"pipelines": args.pipelines, "steps": args.steps,
                               "cores": os.cpu_count(), "contenders": [c.name for c in contenders],
                               "ingest": {}}
    for senders in (1, 4):
        round_name = f"senders{senders}-{uuid.uuid4().hex[:6]}"
        runs = job_runs(round_name, args.pipelines, args.steps)
        for contender in contenders:
            measured = ingest(contender.url, contender.headers, runs, senders)
            results["ingest"].setdefault(f"{senders}_senders", {})[contender.name] = measured
            print(f"ingest {senders} sender(s) {contender.name}: "
                  f"{measured['events_per_second']:.0f} events/s", file=sys.stderr, flush=True)
        if senders == 1:
            rng = random.Random(7)
            datasets = [dataset_name(round_name, rng.randrange(args.pipelines),
                                     rng.randrange(args.steps + 1)) for _ in range(args.queries)]
    results["memory_rss_bytes"] = {c.name: rss_bytes(c.pids()) for c in contenders}
    results["queries"] = queries(contenders, datasets)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--queries", type=int, default=20, help="random datasets queried")
    parser.add_argument("--marquez", default=None,
                        help="Marquez's base URL, used as it is (default: the one of "
                             "tools/marquez/marquez-local, reset to an empty database first)")
    parser.add_argument("--neo4j", default=None,
                        help="also this engine over this Neo4j, which is EMPTIED first")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the JSON to write")
    args = parser.parse_args()
    if args.marquez:
        marquez_url = args.marquez
    else:  # every contender starts empty: the engine's stores are new or emptied too
        subprocess.run([str(MARQUEZ_LOCAL), "reset"], check=True)
        marquez_url = subprocess.run([str(MARQUEZ_LOCAL), "url"], capture_output=True,
                                     text=True, check=True).stdout.strip()
    wait_until_marquez(marquez_url)
    with tempfile.TemporaryDirectory() as folder, contenders_for(args, Path(folder), marquez_url
                                                                 ) as contenders:
        results = run(args, contenders)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print_summary(results)
    print(f"results: {args.output}")


def wait_until_marquez(url: str) -> None:
    try:
        httpx.get(f"{url}/api/v1/namespaces", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise SystemExit(f"Marquez does not answer at {url} ({exc}): start it with "
                         "tools/marquez/marquez-local start") from None


@contextmanager
def contenders_for(args: argparse.Namespace, folder: Path, marquez_url: str
                   ) -> Iterator[list[Contender]]:
    with engine("engine_local", str(folder / "lineage.db"), folder, []) as local:
        if not args.neo4j:
            yield [Marquez(marquez_url), local]
            return
        empty_neo4j(args.neo4j)
        with engine("engine_neo4j", args.neo4j, folder, neo4j_pids()) as neo4j:
            yield [Marquez(marquez_url), local, neo4j]


def empty_neo4j(uri: str) -> None:
    from lineage.stores import Neo4jStore

    with Neo4jStore(uri) as store:
        store.clear()


def neo4j_pids() -> list[int]:
    pidfile = REPO / ".neo4j" / "run" / "server.pid"
    return [int(pidfile.read_text())] if pidfile.exists() else []


def print_summary(results: dict[str, Any]) -> None:
    def show(value: float) -> str:
        return f"{value:,.1f}"

    for senders, by_contender in results["ingest"].items():
        line = ", ".join(f"{name} {show(m['events_per_second'])} events/s"
                         for name, m in by_contender.items())
        print(f"ingest, {senders.replace('_', ' ')}: {line}")
    for depth, measured in results["queries"].items():
        line = ", ".join(f"{name} p50 {show(m['p50_ms'])} / p95 {show(m['p95_ms'])} ms"
                         for name, m in measured["latency"].items())
        print(f"lineage {depth}: {line}")
        for name, answer in measured["answers"].items():
            print(f"  {name}: Marquez's nodes within ours in {answer['marquez_within_engine']}/"
                  f"{answer['queries']} queries; mean nodes Marquez "
                  f"{show(answer['mean_marquez_nodes'])}, ours {show(answer['mean_engine_nodes'])}")
    for name, rss in results["memory_rss_bytes"].items():
        print(f"memory {name}: {rss / 2**20:,.0f} MiB RSS")


if __name__ == "__main__":
    main()
