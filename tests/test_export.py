"""Auditor exports: manifests, PROV-JSON read back, and exported graphs that answer every query
as the store they came from."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from prov.model import ProvDocument

from lineage.errors import UserError
from lineage.export import export, snapshot
from lineage.impact import decommission, trace
from lineage.model import Edge, Node, Provenance
from lineage.retention import reports
from lineage.stores import ExportStore, GraphStore, LocalStore
from lineage.stores.node_link_reader import NODE_LINK_FIELDS
from queries.impact import UPSTREAM_IS_SOURCE, UPSTREAM_IS_TARGET
from tests.retention_estate import SYSTEMS, impact_estate
from tests.test_cli import assert_one_line_error, lineage

AS_OF = "2024-06-01"


@pytest.fixture
def estate(impact_store: GraphStore) -> GraphStore:
    return impact_store


def answers(store: GraphStore) -> dict[str, Any]:
    found: dict[str, Any] = {
        "drift": reports.drift(store, AS_OF), "cross": reports.cross_region(store, AS_OF),
        "holds": reports.holds(store, AS_OF), "stats": store.stats(),
        "conflicts": store.conflicts(),
        "nodes": [(n.key, n.properties) for n in store.iter_nodes()],
    }
    for code in sorted(SYSTEMS):
        found[f"decommission {code}"] = decommission(store, code, AS_OF)
    for root in ("series:1.5.1", "system:PACS-LON", "object:S3-US:1.1.1"):
        found[f"trace {root}"] = trace(store, root, "both", 4, AS_OF)
    return found


@pytest.mark.parametrize(("fmt", "suffix"), [("graphml", ".graphml"), ("node-link", ".json")])
def test_an_export_answers_every_query_as_its_source(
    estate: GraphStore, tmp_path: Path, fmt: str, suffix: str
) -> None:
    path = tmp_path / f"estate{suffix}"
    export(estate, fmt, path)
    with ExportStore(path) as exported:
        assert answers(exported) == answers(estate)
        with pytest.raises(UserError, match="read-only"):
            exported.upsert([])


def test_manifest_names_hash_counts_and_origin(estate: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "estate.graphml"
    manifest = export(estate, "graphml", path)
    on_disk = json.loads((tmp_path / "estate.graphml.manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["nodes_by_kind"]["ArchiveObject"] == 12
    assert manifest["edges_by_type"]["DERIVED_FROM"] == 1
    assert manifest["source_store"] == estate.location and manifest["engine_version"]


def test_prov_json_reads_back_with_the_prov_package(estate: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "estate.prov.json"
    manifest = export(estate, "prov-json", path)
    document = ProvDocument.deserialize(content=path.read_text(), format="json")
    records = document.get_records()
    derivations = [r for r in records if r.get_type().localpart == "Derivation"]
    assert len(derivations) == manifest["edges_by_type"]["DERIVED_FROM"] + manifest[
        "edges_by_type"]["COPIED_FROM"]
    entities = [r for r in records if r.get_type().localpart in ("Entity", "Agent", "Activity")]
    assert len(entities) == sum(manifest["nodes_by_kind"].values())
    assert any(str(r.identifier) == "lineage:series:1.6.1" for r in entities)


def test_scoped_export_keeps_the_lineage_neighbourhood(estate: GraphStore, tmp_path: Path) -> None:
    manifest = export(estate, "node-link", tmp_path / "scope.json", scope="series:1.6.1", depth=1)
    assert manifest["nodes_by_kind"] == {"ArchiveObject": 1, "Series": 2, "Study": 1}
    with pytest.raises(UserError, match="no node 'series:0'"):
        export(estate, "node-link", tmp_path / "nothing.json", scope="series:0")


def test_a_scoped_export_walks_what_the_whole_stores_facts_would_answer(
        estate: GraphStore, tmp_path: Path) -> None:
    """The copies' holding facts describe the whole store: an export of part of it walks."""
    assert decommission(estate, "PACS-LON", AS_OF)["answered_from"] == "holding facts"
    for scope, answered in ((None, "holding facts"), ("system:PACS-LON", "copies")):
        path = tmp_path / f"{scope or 'whole'}.json".replace(":", "-")
        export(estate, "node-link", path, scope=scope, depth=1)
        with ExportStore(path) as exported:
            assert decommission(exported, "PACS-LON", AS_OF)["answered_from"] == answered


def test_unwritable_target_leaves_no_partial_file(estate: GraphStore, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        export(estate, "graphml", tmp_path / "missing" / "x.graphml")
    occupied = tmp_path / "occupied.graphml"
    occupied.mkdir()  # a folder stands where the file would go: the rename fails
    with pytest.raises(UserError, match="cannot write"):
        export(estate, "graphml", occupied)
    assert not (tmp_path / "missing").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if "graphml" in p.name]
    assert leftovers == ["occupied.graphml"] and list(occupied.iterdir()) == []


def test_export_cli_and_reading_the_export_back(tmp_path: Path) -> None:
    from lineage.stores import LocalStore

    with LocalStore(tmp_path / "lineage.db") as store:
        impact_estate().load(store)
    result = lineage("export", "--format", "graphml", "-o", "audit.graphml", "--json",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["file"] == "audit.graphml"
    stats = json.loads(lineage("--store", "audit.graphml", "stats", "--json", cwd=tmp_path).stdout)
    assert stats["nodes"]["ArchiveObject"] == 12
    assert_one_line_error(lineage("--store", "audit.graphml", "ingest", "estate",
                                  str(Path(__file__).parents[1] / "examples" / "estate.yaml"),
                                  cwd=tmp_path), "read-only")


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">
<node id="&lol3;"/></graph></graphml>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE g [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">
<node id="&secret;"/></graph></graphml>"""


UNLABELLED = """<?xml version="1.0"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">
<node id="study:1"/></graph></graphml>"""


HEAD = """<?xml version="1.0"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
<key id="label" for="node" attr.name="label" attr.type="string"/>
<key id="size" for="node" attr.name="size" attr.type="long"/>
<graph edgedefault="directed">"""
SYSTEM = '<node id="system:A"><data key="label">System</data></node>'
NOT_ITS_TYPE = HEAD + '<node id="system:B"><data key="label">System</data>' \
    '<data key="size">Smith</data></node></graph></graphml>'
UNDECLARED_KEY = HEAD + '<node id="system:B"><data key="name">Smith</data></node></graph></graphml>'
EDGE_TO_NOWHERE = HEAD + SYSTEM + '<edge source="system:A" target="system:B" id="FEEDS"/>' \
    "</graph></graphml>"
EDGE_WITHOUT_TYPE = HEAD + SYSTEM + SYSTEM.replace(":A", ":B") + \
    '<edge source="system:A" target="system:B"/></graph></graphml>'
HYPEREDGE = HEAD + SYSTEM + '<hyperedge><endpoint node="system:A"/></hyperedge></graph></graphml>'
DEEP_XML = HEAD + '<node id="system:A">' + "<x>" * 100_000 + "</x>" * 100_000 + \
    "</node></graph></graphml>"


@pytest.mark.parametrize(
    "text", [BOMB, EXTERNAL, "<graphml><graph>", "[" * 100_000, UNLABELLED, NOT_ITS_TYPE,
             UNDECLARED_KEY, EDGE_TO_NOWHERE, EDGE_WITHOUT_TYPE, HYPEREDGE, DEEP_XML],
    ids=["entity-bomb", "external-entity", "truncated", "deep-json", "node-without-kind",
         "value-not-its-type", "undeclared-key", "edge-to-nowhere", "edge-without-type",
         "hyperedge", "deep-xml"])
def test_hostile_export_files_are_refused_with_one_line(tmp_path: Path, text: str) -> None:
    suffix = ".json" if text.startswith("[") else ".graphml"
    path = tmp_path / f"audit{suffix}"
    path.write_text(text)
    result = lineage("--store", str(path), "stats", cwd=tmp_path)
    assert_one_line_error(result, path.name)
    assert "lol" not in result.stderr and "Smith" not in result.stderr  # values never repeated


def test_a_value_not_of_its_keys_type_is_named_by_node_and_property(tmp_path: Path) -> None:
    path = tmp_path / "audit.graphml"
    path.write_text(NOT_ITS_TYPE)
    result = lineage("--store", str(path), "stats", cwd=tmp_path)
    assert "node 'system:B': size is not a long" in result.stderr


def _networkx_layout(store: GraphStore, path: Path) -> None:
    """An export as this engine wrote them before its GraphML was streamed: networkx's writer,
    the graph's own data after the elements, a key id per name."""
    graph = snapshot(store)
    flat = nx.MultiDiGraph()
    lists = set()
    for key, attrs in graph.nodes(data=True):
        lists |= {f"node:{name}" for name, value in attrs.items() if isinstance(value, list)}
        flat.add_node(key, **{name: json.dumps(value) if isinstance(value, list) else value
                              for name, value in attrs.items()})
    for src, dst, kind, attrs in graph.edges(keys=True, data=True):
        lists |= {f"edge:{name}" for name, value in attrs.items() if isinstance(value, list)}
        flat.add_edge(src, dst, key=kind, **{
            name: json.dumps(value) if isinstance(value, list) else value
            for name, value in attrs.items()})
    flat.graph.update(meta=json.dumps(graph.graph["meta"], sort_keys=True),
                      conflicts=json.dumps(graph.graph["conflicts"], sort_keys=True),
                      list_properties=json.dumps(sorted(lists)),
                      source_store=graph.graph["source_store"])
    nx.write_graphml(flat, path, encoding="utf-8", named_key_ids=True)


def test_graphml_is_read_an_element_at_a_time_in_either_layout(
        estate: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's exports (the graph's data first) and the ones networkx wrote for it before
    (the graph's data last) open as the same store, parsed as a stream: neither networkx's
    reader nor a whole-document parse is used."""
    estate.upsert([Node("system:PACS-LON", Provenance("hl7:EHR", "2026-02-01T00:00:00Z"),
                        {"kind": "vna", "note": ""})])  # a conflict, and an empty text
    export(estate, "graphml", tmp_path / "streamed.graphml")
    _networkx_layout(estate, tmp_path / "networkx.graphml")
    text = (tmp_path / "networkx.graphml").read_text()
    assert text.index('key="list_properties"') > text.index("<edge ")  # the data come last

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the whole document was parsed")
    monkeypatch.setattr(nx, "read_graphml", refuse)
    monkeypatch.setattr("defusedxml.ElementTree.parse", refuse)
    for name in ("streamed.graphml", "networkx.graphml"):
        with ExportStore(tmp_path / name) as exported:
            assert _store_contents(exported) == _store_contents(estate), name
            assert exported.stats() == estate.stats()
            assert exported.get_meta("retention_policy") == estate.get_meta("retention_policy")


def _lineage_neighbourhood(graph: nx.MultiDiGraph, root: str, depth: int) -> nx.MultiDiGraph:
    """The scope's definition, on the whole store's graph: nodes up to `depth` lineage steps
    away in either direction, and every edge between two of them."""
    lineage_types = set(UPSTREAM_IS_SOURCE + UPSTREAM_IS_TARGET)
    found, frontier = {root}, {root}
    for _ in range(depth):
        frontier = ({dst for node in frontier for _, dst, kind in graph.out_edges(node, keys=True)
                     if kind in lineage_types}
                    | {src for node in frontier for src, _, kind in graph.in_edges(node, keys=True)
                       if kind in lineage_types}) - found
        found |= frontier
    return graph.subgraph(found)


def _contents(graph: nx.MultiDiGraph) -> tuple[list[Any], list[Any]]:
    return (sorted((key, sorted(attrs.items())) for key, attrs in graph.nodes(data=True)),
            sorted((src, dst, kind, sorted(attrs.items()))
                   for src, dst, kind, attrs in graph.edges(keys=True, data=True)))


def test_a_scoped_export_reads_only_around_its_scope_what_the_whole_graph_holds_there(
        estate: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = snapshot(estate)
    scopes = sorted(whole.nodes)

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("a scoped export read the whole store")
    monkeypatch.setattr(estate, "iter_nodes", refuse)
    monkeypatch.setattr(estate, "iter_edges", refuse)
    for depth in (1, 3):
        for scope in scopes:
            scoped = snapshot(estate, scope, depth)
            assert _contents(scoped) == _contents(_lineage_neighbourhood(whole, scope, depth)), (
                scope, depth)
    assert len(scopes) > 40


def test_a_scoped_export_is_the_same_file_every_time(tmp_path: Path) -> None:
    """Byte for byte, whatever the process's string hashing (the order of nodes and edges in
    the file once followed it, so an auditor's re-export never had the same SHA-256)."""
    with LocalStore(tmp_path / "lineage.db") as store:
        impact_estate().load_applied(store)
    files = []
    for seed in ("1", "2", "3"):
        path = tmp_path / f"scope-{seed}.graphml"
        done = lineage("--store", "lineage.db", "export", "--scope", "system:PACS-LON",
                       "--depth", "2", "-o", path.name, cwd=tmp_path,
                       env={"PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr
        files.append(path.read_bytes())
    assert files[0] == files[1] == files[2]
    assert files[0].count(b"<node ") > 10


def test_a_whole_node_link_export_is_streamed_from_the_store_as_the_graph_would_write_it(
        estate: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    estate.upsert([Node("system:PACS-LON", Provenance("hl7:EHR", "2026-02-01T00:00:00Z"),
                        {"kind": "vna"})])  # another source disagrees: a conflict to carry
    in_memory = nx.node_link_data(snapshot(estate), **NODE_LINK_FIELDS)

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the whole store was held as a graph")
    monkeypatch.setattr("lineage.export.snapshot", refuse)
    manifest = export(estate, "node-link", tmp_path / "whole.json")
    text = (tmp_path / "whole.json").read_text(encoding="utf-8")
    streamed = json.loads(text)
    assert text == json.dumps(streamed, sort_keys=True, indent=1)  # the layout json.dump gives

    def in_order(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, **{part: sorted(data[part], key=lambda item: json.dumps(
            item, sort_keys=True)) for part in ("nodes", "edges")}}
    assert in_order(streamed) == in_order(in_memory)
    assert streamed["graph"]["meta"] and len(streamed["nodes"]) > 40
    assert [c["element"] for c in streamed["graph"]["conflicts"]] == ["system:PACS-LON"]
    assert manifest["nodes_by_kind"] == dict(sorted(Counter(
        node["label"] for node in streamed["nodes"]).items()))
    assert sum(manifest["edges_by_type"].values()) == len(streamed["edges"])


@pytest.mark.parametrize("fmt", ["prov-json", "html"])
def test_a_whole_export_too_large_for_the_memory_is_refused_before_it_is_built(
        estate: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stats = estate.stats()
    elements = sum(stats.nodes.values()) + sum(stats.edges.values())
    tight = {"MemTotal": 4 << 30, "MemAvailable": (1 << 30) + elements * 1_000}  # a GiB kept

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the graph was built")
    with monkeypatch.context() as patched:
        patched.setattr("lineage.export.snapshot", refuse)
        with pytest.raises(UserError) as refused:
            export(estate, fmt, out / "whole.out", meminfo=lambda: tight)
    assert f"a whole {fmt} export of {elements:,} nodes and edges would hold about" in str(
        refused.value)
    assert "to spare: export --format node-link or graphml" in str(refused.value)
    assert list(out.iterdir()) == []  # nothing written, no temporary file left
    with monkeypatch.context() as patched:
        patched.setattr("lineage.export.snapshot", refuse)
        for streamed in ("node-link", "graphml"):
            export(estate, streamed, out / f"whole.{streamed}", meminfo=lambda: tight)
    export(estate, fmt, out / "scope.out", scope="series:1.6.1", meminfo=lambda: tight)
    roomy = {**tight, "MemAvailable": 64 << 30}
    assert export(estate, fmt, out / "whole.out", meminfo=lambda: roomy)["bytes"] > 0


def _typed(properties: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Properties with their types: 1, 1.0 and True are equal in Python, not in an export."""
    return sorted((name, type(value).__name__, value) for name, value in properties.items())


def _store_contents(store: GraphStore) -> tuple[list[Any], list[Any], list[Any]]:
    return ([(node.key, node.kind.value, _typed(node.properties)) for node in store.iter_nodes()],
            sorted((edge.src, edge.type.value, edge.dst, _typed(edge.properties))
                   for edge in store.iter_edges()),
            [conflict.as_dict() for conflict in store.conflicts()])


def _key_ids(path: Path) -> list[str]:
    from xml.etree import ElementTree

    return [key.get("id", "") for key in ElementTree.parse(path).getroot().iter(
        "{http://graphml.graphdrawing.org/xmlns}key")]


def test_a_whole_graphml_export_is_streamed_and_reads_back_as_its_source(
        estate: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    estate.upsert([Node("system:PACS-LON", Provenance("hl7:EHR", "2026-02-01T00:00:00Z"),
                        {"kind": "vna"})])  # another source disagrees: a conflict to carry

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the whole store was held as a graph")
    with monkeypatch.context() as patched:
        patched.setattr("lineage.export.snapshot", refuse)
        manifest = export(estate, "graphml", tmp_path / "whole.graphml")
    with ExportStore(tmp_path / "whole.graphml") as exported:
        assert _store_contents(exported) == _store_contents(estate)
        assert [c.element for c in exported.conflicts()] == ["system:PACS-LON"]
        assert exported.get_meta("retention_policy") == estate.get_meta("retention_policy")
        assert exported.stats() == estate.stats()
    ids = _key_ids(tmp_path / "whole.graphml")
    assert len(ids) == len(set(ids)) > 10  # every key id once (networkx repeats them)
    assert manifest["nodes_by_kind"] == estate.stats().nodes
    assert manifest["edges_by_type"] == estate.stats().edges


AWKWARD_TEXT = 'a\r\nb <&> "q" \'a\'\ttab, é 漢 \u2028 end '


def test_graphml_keeps_each_values_type_and_text_as_written(
        estate: GraphStore, tmp_path: Path) -> None:
    """A property that holds a number on one node and text on another, lists, booleans, and
    text no XML parser gives back unescaped (carriage returns, markup, quotes) in keys too."""
    seen = Provenance("hl7:EHR", "2026-02-01T00:00:00Z")
    odd = 'object:MIX-2:in/a&b<"c">\'é .dcm'  # a copy's path: any text but control characters
    estate.upsert(
        [Node(odd, seen, {"capacity": 3, "note": AWKWARD_TEXT}),
         Node("system:MIX-2", seen, {"capacity": 2.5, "flag": True, "tags": ["x", "y"]}),
         Node("system:MIX-3", seen, {"capacity": "large", "flag": False, "counts": [1, 2]})],
        [Edge(odd, "STORED_IN", "system:MIX-2", seen, {"capacity": 7, "note": AWKWARD_TEXT}),
         Edge("system:MIX-2", "FEEDS", "system:MIX-3", seen, {"capacity": 0.5})])
    whole, scoped = tmp_path / "whole.graphml", tmp_path / "scoped.graphml"
    export(estate, "graphml", whole)
    export(estate, "graphml", scoped, scope="system:MIX-2", depth=1)
    with ExportStore(whole) as exported:
        assert _store_contents(exported) == _store_contents(estate)
    with ExportStore(scoped) as exported:
        assert [(n.key, _typed(n.properties)) for n in exported.iter_nodes()] == [
            (key, _typed(node.properties)) for key in sorted((odd, "system:MIX-2", "system:MIX-3"))
            if (node := estate.get_node(key)) is not None]
        assert sorted((e.src, e.dst, _typed(e.properties)) for e in exported.iter_edges()) == \
            sorted((e.src, e.dst, _typed(e.properties))
                   for key in (odd, "system:MIX-2") for e in estate.edges(key, "out"))
    for path in (whole, scoped):
        ids = _key_ids(path)
        assert len(ids) == len(set(ids))


def test_a_value_xml_cannot_carry_is_refused_by_element_and_property(
        estate: GraphStore, tmp_path: Path) -> None:
    secret = "Smith\x07John"  # a control character in text (a name pasted from a terminal)
    estate.upsert([Node("system:BELL", Provenance("hl7:EHR", "2026-02-01T00:00:00Z"),
                        {"note": secret})])
    out = tmp_path / "out"
    out.mkdir()
    for scope in (None, "system:BELL"):
        with pytest.raises(UserError) as refused:
            export(estate, "graphml", out / "whole.graphml", scope=scope, depth=1)
        message = str(refused.value)
        assert "system:BELL" in message and "its note holds a control character" in message
        assert "Smith" not in message and "--format node-link" in message
        assert list(out.iterdir()) == []  # no file, no temporary file left
    export(estate, "node-link", out / "whole.json")
    with ExportStore(out / "whole.json") as exported:
        node = exported.get_node("system:BELL")
        assert node is not None and node.properties["note"] == secret


def test_node_link_is_read_an_item_at_a_time_in_any_layout(
        estate: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read through a window of 7 characters, so that items, texts and numbers are cut at every
    place, and in other writers' layouts (no white space, members in another order)."""
    estate.upsert([Node("system:PACS-LON", Provenance("hl7:EHR", "2026-02-01T00:00:00Z"),
                        {"kind": "vna", "note": AWKWARD_TEXT, "capacity": 1234567})])
    export(estate, "node-link", tmp_path / "engine.json")
    data = json.loads((tmp_path / "engine.json").read_text(encoding="utf-8"))
    reordered = {"nodes": data["nodes"], "multigraph": True, "graph": data["graph"],
                 "edges": data["edges"], "directed": True}
    (tmp_path / "compact.json").write_text(json.dumps(data, separators=(",", ":")))
    (tmp_path / "reordered.json").write_text(json.dumps(reordered, indent="\t",
                                                        ensure_ascii=False))
    monkeypatch.setattr("lineage.stores.node_link_reader.CHUNK", 7)
    monkeypatch.setattr(nx, "node_link_graph", lambda *_, **__: pytest.fail("read whole"))
    for name in ("engine.json", "compact.json", "reordered.json"):
        with ExportStore(tmp_path / name) as exported:
            assert _store_contents(exported) == _store_contents(estate), name
            assert exported.stats() == estate.stats()
            assert exported.get_meta("retention_policy") == estate.get_meta("retention_policy")


NODE = '{"_key": "system:A", "label": "System"}'


@pytest.mark.parametrize(("text", "said"), [
    ('{"nodes": [{"label": "System", "name": "Smith"}], "edges": []}',
     "a node's key is missing or not text"),
    ('{"nodes": [' + NODE + '], "edges": [{"_from": "system:A", "_to": "system:A"}]}',
     "an edge's key is missing or not text"),
    ('{"nodes": [' + NODE + ', "Smith"]}', "a node is not an object"),
    ('{"nodes": [' + NODE + '], "edges": [{"_from": "system:A", "_to": "system:B", '
     '"_type": "FEEDS"}]}', "node 'system:B' has no label"),
    ('{"nodes": [' + NODE + ' {"_key": "system:B"}]}', "expected ']' at character 51"),
    ('{"nodes": [' + NODE + ']} {"nodes": []}', "text after the graph at character 53"),
    ('{"graph": ["Smith"], "nodes": []}', "the member graph is not an object"),
    ('{"nodes": [{"_key": "system:A", "label": "System", "note": "Smith', "Unterminated string"),
    ('{"nodes": [{"_key": "system:A", "label": ' + "[" * 100_000 + "]" * 100_000 + "}]}",
     "nested too deeply"),
    ("[" * 100_000, "expected '{' at character 0"),
], ids=["node-without-key", "edge-without-type", "node-not-an-object", "edge-to-nowhere",
        "missing-comma",
        "text-after", "graph-not-an-object", "truncated", "deep-item", "deep-list"])
def test_hostile_node_link_files_are_refused_with_one_line_saying_where(
        tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "audit.json"
    path.write_text(text)
    result = lineage("--store", str(path), "stats", cwd=tmp_path)
    assert_one_line_error(result, path.name)
    assert said in result.stderr and "Smith" not in result.stderr


def test_a_scope_that_reaches_too_many_nodes_is_refused_as_soon_as_the_walk_finds_them(
        estate: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scope at a system reaches every copy it holds in one step: a hub at size L would
    build a graph of millions of nodes in memory, with one query per node."""
    scope, depth = "system:PACS-LON", 2
    size = _lineage_neighbourhood(snapshot(estate), scope, depth).number_of_nodes()
    assert size > 5
    out = tmp_path / "out"
    out.mkdir()
    assert export(estate, "graphml", out / "fits.graphml", scope=scope, depth=depth,
                  max_nodes=size)["nodes_by_kind"]  # exactly as many as allowed: written
    (out / "fits.graphml").unlink()
    (out / "fits.graphml.manifest.json").unlink()
    with pytest.raises(UserError) as refused:
        export(estate, "graphml", out / "over.graphml", scope=scope, depth=depth,
               max_nodes=size - 1)
    assert f"the scope 'system:PACS-LON' reaches more than {size - 1:,} nodes within " \
        in str(refused.value)
    assert "--max-nodes" in str(refused.value)
    calls: list[Any] = []
    walk = estate.neighbours

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return walk(*args, **kwargs)
    monkeypatch.setattr(estate, "neighbours", counted)
    with pytest.raises(UserError, match="more than 1 nodes within 1 step "):
        export(estate, "node-link", out / "one.json", scope=scope, depth=depth, max_nodes=1)
    # refused at the first node walked, not after the whole step, reading 2 of its neighbours
    assert calls == [{"limit": 2}]
    assert list(out.iterdir()) == []


def test_the_cli_caps_a_scopes_nodes(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "lineage.db") as store:
        impact_estate().load(store)
    refused = lineage("export", "--scope", "system:PACS-LON", "--depth", "2", "--max-nodes",
                      "3", "-o", "scope.json", cwd=tmp_path)
    assert_one_line_error(refused, "reaches more than 3 nodes within")
    assert not (tmp_path / "scope.json").exists()
    done = lineage("export", "--scope", "system:PACS-LON", "--depth", "2", "-o", "scope.json",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
