"""The auditor's HTML report: one self-contained file (scripts, styles and data inlined, no
request to any host, enforced by its own Content-Security-Policy) with the picture of the
graph, the tables of its scope, the as-of time, the retention policy version and the hash of
the data it shows, so that it opens from a USB stick on any machine with a browser.

Scope: a system gives its decommission report; a study or series its copies; no scope, the
whole estate with the retention drift. Every report lists the nodes and the metadata conflicts
in the picture. Values are escaped; nothing in the file is taken as markup from the graph.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx

from lineage import __version__
from lineage.impact import decommission
from lineage.model import NodeKind, kind_of
from lineage.retention import reports
from lineage.stores import GraphStore
from lineage.timefmt import utc_now
from lineage.wording import cell_text, holdings_sentence

WEB = resources.files("lineage").joinpath("web")
ROW_CAP = 5000
NODE_COLUMNS = ("retain_until", "retention_policy_id", "storage_tier", "region_code",
                "created_at", "disposed_at")
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;color:#1a1a1a;margin:20px;max-width:1400px}
h1{font-size:20px}h2{font-size:17px;margin-top:24px}
table{border-collapse:collapse;margin:4px 0 12px}th,td{border-bottom:1px solid #c8c8c8;
padding:3px 10px 3px 0;text-align:left;vertical-align:top}
.key{font-family:ui-monospace,monospace;font-size:12px;white-space:nowrap}
.facts th{font-weight:600;padding-right:16px}.none{color:#4a4a4a;font-style:italic}
.warning{background:#fff4d6;color:#5c3b00;border-left:5px solid #b36b00;padding:8px 12px}
.verdict{font-size:18px;font-weight:700}.ready{color:#1b5e20}.blocked{color:#a30000}
#graph{width:100%;height:620px;border:1px solid #c8c8c8}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;list-style:none;padding:0}
.swatch{display:inline-block;width:12px;height:12px;border-radius:50%}
"""
DRAW = """
"use strict";
const data = JSON.parse(document.getElementById("lineage-data").textContent);
const cy = LineageGraph.draw(document.getElementById("graph"),
  LineageGraph.elements(data.nodes, data.edges), { root: data.root || undefined });
LineageGraph.legend(document.getElementById("legend"), data.nodes.map((n) => n.kind));
document.getElementById("graph").dataset.nodes = String(cy.nodes().length);
window.lineageReport = cy;
"""


def render(store: GraphStore, graph: nx.MultiDiGraph, scope: str | None) -> tuple[str, str]:
    """The HTML text of the report and the SHA-256 of the data it shows."""
    data = {"root": scope,
            "nodes": [{"key": key, "kind": attrs["label"]} for key, attrs in
                      sorted(graph.nodes(data=True))],
            "edges": [{"from": src, "type": kind, "to": dst}
                      for src, dst, kind in sorted(graph.edges(keys=True))]}
    data_text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    data_hash = hashlib.sha256(data_text.encode()).hexdigest()
    drift = reports.drift(store)
    facts = {"Scope": scope or "the whole estate", "As of": utc_now(),
             "Retention policy": drift["policy_version"] or "none applied",
             "Source store": store.location, "Engine version": __version__,
             "Nodes / edges": f"{graph.number_of_nodes():,} / {graph.number_of_edges():,}",
             "Data SHA-256": data_hash}
    body = [f"<h1>Lineage report: {escape(scope or 'the whole estate')}</h1>",
            _facts(facts), *(f'<p class="warning">Warning: {escape(w)}</p>'
                             for w in drift["warnings"]),
            '<h2>Graph</h2><div id="graph" role="img" aria-label="The lineage graph"></div>',
            '<ul id="legend" class="legend" aria-label="Legend: colours by kind"></ul>',
            *_scope_tables(store, graph, scope, drift),
            "<h2>Nodes by kind</h2>", _table(
                [{"kind": k, "count": n} for k, n in sorted(
                    Counter(a["label"] for _, a in graph.nodes(data=True)).items())],
                ["kind", "count"]),
            "<h2>Nodes</h2>", _table(
                [{"key": key, "kind": attrs["label"], **{c: attrs.get(c) for c in NODE_COLUMNS}}
                 for key, attrs in sorted(graph.nodes(data=True))],
                ["key", "kind", *NODE_COLUMNS]),
            "<h2>Metadata conflicts</h2>", _table(graph.graph.get("conflicts", []), [
                "element", "property", "current_value", "current_source", "reported_value",
                "reported_source", "recorded_at"])]
    scripts = [_vendor("vendor/cytoscape.min.js"), _vendor("static/graph.js"), DRAW]
    hashes = " ".join(f"'sha256-{_digest(s)}'" for s in scripts)
    policy = (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
              "img-src data: blob:")
    safe_data = data_text.replace("<", "\\u003c")
    html = "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        f"<title>Lineage report: {escape(scope or 'the whole estate')}</title>",
        f"<style>{STYLE}</style></head><body>", *body,
        f'<script type="application/json" id="lineage-data">{safe_data}</script>',
        *(f"<script>{script}</script>" for script in scripts), "</body></html>", ""])
    return html, data_hash


def _vendor(name: str) -> str:
    return WEB.joinpath(name).read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _scope_tables(store: GraphStore, graph: nx.MultiDiGraph, scope: str | None,
                  drift: dict[str, Any]) -> list[str]:
    if scope is None:
        return ["<h2>Retention drift</h2>",
                _table([{"finding": name.replace("_", " "), "copies": len(drift[name])}
                        for name in ("over_retained", "premature_disposal", "policy_drift",
                                     "unknown")], ["finding", "copies"]),
                "<h3>Over-retained copies</h3>", _table(drift["over_retained"], [
                    "key", "retain_until", "rule", "system", "region", "storage_tier", "bytes"])]
    kind = kind_of(scope)
    if kind is NodeKind.SYSTEM:
        report = decommission(store, scope.partition(":")[2])
        parts = [f'<h2>Decommission</h2><p class="verdict {escape(report["verdict"])}">'
                 f'{escape(report["verdict"].upper())}</p>',
                 "<ul>" + "".join(f"<li>{escape(r)}</li>" for r in report["reasons"]) + "</ul>",
                 f"<p>{escape(holdings_sentence(report['holdings']))}</p>"]
        for title, name, columns in (
                ("Must migrate", "must_migrate", ["key", "reason", "copies", "retain_until"]),
                ("May dispose", "may_dispose", ["key", "retain_until", "copies"]),
                ("Depends on it downstream", "downstream", ["key", "via"]),
                ("Access profiles to revoke", "access_profiles", ["key", "role", "actions"]),
                ("Lineage gaps", "lineage_gaps", ["key", "reasons"])):
            parts += [f"<h3>{title} ({report['counts'][name]:,})</h3>",
                      _table(report[name], columns)]
        return parts
    copies = [{"key": key, "system": key.split(":")[1], **{c: attrs.get(c) for c in NODE_COLUMNS}}
              for key, attrs in sorted(graph.nodes(data=True))
              if attrs["label"] == "ArchiveObject"]
    return ["<h2>Copies</h2>", _table(copies, ["key", "system", *NODE_COLUMNS])]


def _facts(facts: dict[str, str]) -> str:
    rows = "".join(f'<tr><th scope="row">{escape(name)}</th><td>{escape(value)}</td></tr>'
                   for name, value in facts.items())
    return f'<table class="facts">{rows}</table>'


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return '<p class="none">none</p>'
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c)) for c in columns) + "</tr>"
                   for row in rows[:ROW_CAP])
    more = (f'<p class="none">{len(rows) - ROW_CAP:,} more rows in the GraphML export</p>'
            if len(rows) > ROW_CAP else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _cell(value: Any) -> str:
    text = cell_text(value)
    css = ' class="key"' if ":" in text and " " not in text else ""
    return f"<td{css}>{escape(text)}</td>"


def write(store: GraphStore, graph: nx.MultiDiGraph, path: Path, scope: str | None) -> str:
    """Write the report; returns the SHA-256 of its data."""
    text, data_hash = render(store, graph, scope)
    path.write_text(text, encoding="utf-8")
    return data_hash
