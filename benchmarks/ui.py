"""The web explorer in headless Chromium: time from navigation to an interactive trace of about
200 and 2,000 nodes (laid out, clickable), and the HTML report of a 2,000-node scope: its size and
the time until its graph is drawn from `file://` with the network off.

    python -m benchmarks.ui [--runs 3] [--chromium /usr/bin/chromium] [--store bolt://...]

The estate: two systems, SMALL holding 100 copies of 100 series and LARGE 1,000 of 1,000, so
that `trace system:X --direction both --depth 2` has 201 and 2,001 nodes. The API runs as
`lineage serve` in its own process, as users run it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.api_server import lineage_serve
from lineage.export import export
from lineage.model import Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.stores import make_store

PROV = Provenance("benchmark:ui", "2026-01-01T00:00:00.000000Z")
TOKEN = "dev-admin-token"  # development mode, loopback only
SIZES = {"SMALL": 100, "LARGE": 1000}


def build(location: str) -> None:
    store = make_store(location)
    store.open()
    try:
        store.clear()
        for code, count in SIZES.items():
            nodes = [Node(system_key(code), PROV, {"kind": "pacs"})]
            edges = []
            for i in range(count):
                series, copy = f"series:9.{code}.{i}", object_key(code, f"9.{code}.{i}")
                nodes += [Node(series, PROV), Node(copy, PROV, {"bytes": 1000})]
                edges += [Edge(copy, EdgeType.COPY_OF, series, PROV),
                          Edge(copy, EdgeType.STORED_IN, system_key(code), PROV)]
            store.upsert(nodes, edges)
    finally:
        store.close()


def server_env(location: str, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    return env | {"LINEAGE_STORE": location, "LINEAGE_AUDIT_LOG": str(folder / "audit.jsonl")}


def trace_seconds(page: Any, url: str, system: str) -> tuple[float, int]:
    """Navigation to a laid-out, clickable trace; and its node count."""
    page.goto(f"{url}/ui#/estate")
    page.wait_for_selector("main h2")
    started = time.perf_counter()
    page.goto(f"{url}/ui#/trace/system:{system}?direction=both&depth=2&limit=5000")
    page.wait_for_selector("#trace-summary[data-nodes]", timeout=120_000)
    seconds = time.perf_counter() - started
    return seconds, int(page.get_attribute("#trace-summary", "data-nodes") or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--store", help="a Neo4j URI (emptied!); default: a local store")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        location = args.store or str(folder / "lineage.db")
        build(location)
        with lineage_serve(folder, server_env(location, folder)) as (_, url), \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium,
                                                 args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(f"{url}/ui")
            page.fill("#token-input", TOKEN)
            page.click("#token-form button[type=submit]")
            page.wait_for_selector("#who:has-text('Signed in')")
            for system in SIZES:
                found = [trace_seconds(page, url, system) for _ in range(args.runs)]
                print(f"trace of system:{system}: {found[0][1]:,} nodes, navigation to "
                      f"interactive {statistics.median(s for s, _ in found):.2f} s "
                      f"(median of {args.runs})")
            report = folder / "large.html"
            store = make_store(location)
            store.open()
            manifest = export(store, "html", report, "system:LARGE", 2)
            store.close()
            opened = []
            for _ in range(args.runs):
                offline = browser.new_context(offline=True)
                tab = offline.new_page()
                started = time.perf_counter()
                tab.goto(report.as_uri())
                tab.wait_for_selector("#graph[data-nodes]", timeout=120_000)
                opened.append(time.perf_counter() - started)
                offline.close()
            nodes = sum(manifest["nodes_by_kind"].values())
            print(f"HTML report of system:LARGE: {nodes:,} nodes, "
                  f"{manifest['bytes'] / 1024:,.0f} KiB, opened offline in "
                  f"{statistics.median(opened):.2f} s (median of {args.runs})")
            browser.close()


if __name__ == "__main__":
    main()
