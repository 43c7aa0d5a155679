"""The web explorer and the HTML report in a real browser: Debian's headless Chromium driven by
Playwright, against a running `lineage serve` (its own process) over the demo estate, on both
stores. Every page is watched: a request to anything but this machine fails the test. A
screenshot of each view is written to test-artifacts/ui/ (LINEAGE_TEST_ARTIFACTS)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from api.security import token_hash
from lineage.cli.app import run_in_process
from lineage.demo import run_demo
from lineage.stores import Neo4jStore
from tests.conftest import Neo4jTarget
from tests.test_cli import EXAMPLE, STRONG_KEY
from tests.test_index_state import BROKEN, break_index, repair_index

TOKENS = {"admin": "ui-admin-token-0123456789abcdef", "ingest": "ui-ingest-token-0123456789abc"}
ARTIFACTS = Path(os.environ.get("LINEAGE_TEST_ARTIFACTS", "test-artifacts")) / "ui"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def chromium() -> str:
    found = os.environ.get("LINEAGE_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if found is None:
        message = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("LINEAGE_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"{message}, and LINEAGE_REQUIRE_CHROMIUM=1 requires it")
        pytest.skip(message)
    return found


def build(store: str, folder: Path, demo: bool = True) -> None:
    """The demo estate (or only the example estate file) in `store`, through the CLI."""
    saved = os.environ.get("LINEAGE_PSEUDONYM_KEY")
    os.environ["LINEAGE_PSEUDONYM_KEY"] = STRONG_KEY
    try:
        if demo:
            assert run_demo(folder, lambda text: None, run_in_process, store=store) == 0
        else:
            assert run_in_process(["--store", store, "ingest", "estate", str(EXAMPLE)]) == 0
    finally:
        if saved is None:
            os.environ.pop("LINEAGE_PSEUDONYM_KEY")
        else:
            os.environ["LINEAGE_PSEUDONYM_KEY"] = saved


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`lineage serve` in a process of its own, in production mode with two tokens."""

    def __init__(self, store: str, folder: Path, auth: tuple[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
        env |= {"LINEAGE_STORE": store, "LINEAGE_ENV": "production",
                "LINEAGE_PSEUDONYM_KEY": STRONG_KEY,
                "LINEAGE_AUDIT_LOG": str(folder / "audit.jsonl"),
                "LINEAGE_API_TOKENS": json.dumps({
                    f"ui-{role}": {"sha256": token_hash(token), "role": role}
                    for role, token in TOKENS.items()})}
        if auth:
            env |= {"NEO4J_USER": auth[0], "NEO4J_PASSWORD": auth[1]}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lineage", "serve", "--port", str(self.port)], cwd=folder,
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "lineage serve did not answer in 30 s"
            time.sleep(0.2)

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=30,
                             headers={"Authorization": f"Bearer {TOKENS['admin']}"})
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


@pytest.fixture(scope="module", params=["local", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def demo_server(store_kind: str, tmp_path_factory: pytest.TempPathFactory,
                request: pytest.FixtureRequest) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp(f"ui-{store_kind}")
    auth = None
    if store_kind == "neo4j":
        request.getfixturevalue("neo4j_store").clear()
        target: Neo4jTarget = request.getfixturevalue("neo4j_target")
        store, auth = target
    else:
        store = str(folder / "demo" / "lineage.db")
    build(store, folder / "demo")
    server = Server(store, folder, auth)
    server.folder = folder  # type: ignore[attr-defined]
    server.kind = store_kind  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


class Watched:
    """A page whose requests to anything but this machine are refused and recorded."""

    def __init__(self, browser: Any, offline: bool = False):
        self.context = browser.new_context(viewport={"width": 1300, "height": 1000},
                                           offline=offline)
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._guard)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _guard(self, route: Any) -> None:
        url = route.request.url
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob", "file") or parsed.hostname in LOOPBACK:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.outside == [], f"requests off this machine: {self.outside}"
        assert self.errors == [], f"script errors: {self.errors}"


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    page = Watched(browser)
    yield page
    page.close()


def signed_in(watched: Watched, server: Server, hash_path: str = "") -> Any:
    page = watched.page
    page.goto(f"{server.url}/ui{hash_path}")
    page.fill("#token-input", TOKENS["admin"])
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#who:has-text('Signed in as ui-admin')")
    return page


def test_the_token_prompt_and_what_a_role_may_see(watched: Watched, demo_server: Server) -> None:
    page = watched.page
    page.goto(f"{demo_server.url}/ui")
    assert page.is_visible("#token-dialog")
    watched.shot(f"{demo_server.kind}-token-prompt")  # type: ignore[attr-defined]
    page.fill("#token-input", "not-a-token")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#token-error:has-text('the token is not known')")
    page.fill("#token-input", TOKENS["ingest"])
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("main:has-text('may send data to the engine but not read it')")
    assert page.locator("table").count() == 0  # an ingest token sees no data
    page.click("#sign-out")
    page.fill("#token-input", TOKENS["admin"])
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#who:has-text('Signed in as ui-admin (admin)')")
    page.wait_for_selector("main h2:has-text('Estate as of')")
    assert page.locator("main table tbody tr").count() == 7  # six declared, one outside
    watched.shot(f"{demo_server.kind}-estate")  # type: ignore[attr-defined]


def test_the_decommission_view_of_a_blocked_system(watched: Watched, demo_server: Server) -> None:
    expected = demo_server.get("/systems/PACS-NORTH/decommission")
    page = signed_in(watched, demo_server, "#/system/PACS-NORTH")
    page.wait_for_selector(".verdict")
    assert page.inner_text(".verdict") == "BLOCKED"
    sole = expected["sole_copies"][0]["key"]
    assert page.locator(f"a[title='{sole}']").first.is_visible()
    assert "It holds 8 live copies of 8 series or studies" in page.inner_text("main")
    with page.expect_download() as download:
        page.click("button:has-text('Download HTML report')")
    saved = Path(download.value.path())
    assert "Lineage report: system:PACS-NORTH" in saved.read_text(encoding="utf-8")
    watched.shot(f"{demo_server.kind}-decommission")  # type: ignore[attr-defined]


def test_a_trace_expands_by_one_click(watched: Watched, demo_server: Server) -> None:
    def keys(key: str) -> set[str]:
        found = demo_server.get(f"/lineage/{key}", direction="both", depth=1, limit=500,
                                fanout=500)
        return {node["key"] for node in found["nodes"]}

    page = signed_in(watched, demo_server,
                     "#/trace/system:PACS-NORTH?direction=both&depth=1")
    page.wait_for_selector("#trace-summary[data-nodes]")
    shown = keys("system:PACS-NORTH")
    assert int(page.get_attribute("#trace-summary", "data-nodes") or 0) == len(shown)
    clicked, x, y = page.evaluate("""() => {
        const node = window.lineageTrace.nodes('[kind = "ArchiveObject"]')[0];
        const box = document.getElementById("trace-graph").getBoundingClientRect();
        const at = node.renderedPosition();
        return [node.id(), box.left + at.x, box.top + at.y];
    }""")
    expected = shown | keys(clicked)
    assert len(expected) > len(shown)  # the click has something to add: the copy's series
    page.mouse.click(x, y)
    page.wait_for_function(
        "(before) => Number(document.getElementById('trace-summary').dataset.nodes) > before",
        arg=len(shown))
    assert set(page.evaluate("() => window.lineageTrace.nodes().map((n) => n.id())")) == expected
    assert page.locator(".legend li").count() >= 3
    watched.shot(f"{demo_server.kind}-trace")  # type: ignore[attr-defined]
    page.goto(f"{demo_server.url}/ui#/trace/system:PACS-NORTH?direction=both&depth=2&limit=5")
    page.wait_for_selector("#trace-summary .truncated")
    assert page.get_attribute("#trace-summary", "data-nodes") == "5"  # the node cap


def test_search_finds_a_system_and_opens_it(watched: Watched, demo_server: Server) -> None:
    page = signed_in(watched, demo_server)
    page.fill("#search-text", "pacs-north")
    page.keyboard.press("Enter")
    page.wait_for_selector("#search-results")
    first = page.locator("#search-results li").first
    assert first.inner_text().startswith("system:PACS-NORTH")  # the exact key first
    watched.shot(f"{demo_server.kind}-search")  # type: ignore[attr-defined]
    first.locator("a").click()
    page.wait_for_selector(".verdict")


def test_a_slow_view_does_not_draw_over_the_next(watched: Watched, demo_server: Server) -> None:
    """The estate page's answer held back until a search has been shown: when it comes, the
    search stays (the stale estate view used to replace it)."""
    held: list[Any] = []
    watched.page.route("**/estate*", lambda route: held.append(route))
    page = signed_in(watched, demo_server)  # lands on the estate view: its request is held
    for _ in range(500):  # at most ten seconds
        if held:
            break
        page.wait_for_timeout(20)
    assert held, "the estate view asked for nothing"
    page.fill("#search-text", "pacs-north")
    page.keyboard.press("Enter")
    page.wait_for_selector("#search-results li")
    with page.expect_response(lambda response: "/estate" in response.url) as answer:
        held[0].continue_()
    answer.value.finished()
    page.wait_for_timeout(300)  # time for the page to use the answer, as it did before
    assert page.locator("#search-results li").count() > 0
    assert "Estate as of" not in page.inner_text("main")


def test_the_retention_view_shows_the_demos_findings(watched: Watched,
                                                     demo_server: Server) -> None:
    page = signed_in(watched, demo_server, "#/retention")
    page.wait_for_selector("main h2:has-text('Retention as of')")
    text = page.inner_text("main")
    assert "Warning" not in text and "Over-retention by system" in text
    assert page.locator(".bars .bar").count() >= 2
    watched.shot(f"{demo_server.kind}-retention")  # type: ignore[attr-defined]


def test_with_no_policy_applied_the_retention_view_warns(
        watched: Watched, store_kind: str, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    auth = None
    if store_kind == "neo4j":
        demo: Server = request.getfixturevalue("demo_server")
        neo4j = request.getfixturevalue("neo4j_store")
        neo4j.clear()
        store, auth = request.getfixturevalue("neo4j_target")
        request.addfinalizer(lambda: rebuild(neo4j, store, demo))
    else:
        store = str(tmp_path / "lineage.db")
    build(store, tmp_path, demo=False)
    server = Server(store, tmp_path, auth)
    try:
        page = signed_in(watched, server, "#/retention")
        page.wait_for_selector(".warning")
        warning = page.inner_text(".warning")
        assert "no retention policy was ever applied" in warning
        assert "lineage retention apply" in warning
        assert "not computed" in page.inner_text("main table")
        watched.shot(f"{store_kind}-retention-no-policy")
    finally:
        server.stop()


def rebuild(neo4j: Any, store: str, demo: Server) -> None:
    """Put the demo back in Neo4j for the module's other tests."""
    neo4j.clear()
    build(store, demo.folder / "again")  # type: ignore[attr-defined]


@pytest.mark.neo4j
@pytest.mark.parametrize("store_kind", ["neo4j"], indirect=True)  # only Neo4j has indexes
def test_an_index_not_online_is_named_in_the_estate_system_and_retention_views(
        watched: Watched, demo_server: Server, neo4j_store: Neo4jStore) -> None:
    """The estate, the decommission and the retention reports name a store index that is not
    ONLINE (their answers come by scans until it is): each view shows it, the retention view
    once for its three reports."""
    failed = f"Warning: index {BROKEN} is FAILED"
    break_index(neo4j_store)
    try:
        assert demo_server.get("/systems/PACS-NORTH/decommission")["warnings"]
        page = signed_in(watched, demo_server, "#/system/PACS-NORTH")
        page.wait_for_selector(".verdict")
        assert [text for text in page.locator(".warning").all_inner_texts()
                if text.startswith(failed)] != []
        assert page.inner_text(".verdict") == "BLOCKED"  # the answer is still drawn
        watched.shot("neo4j-decommission-index-failed")
        page.goto(f"{demo_server.url}/ui#/retention")
        page.wait_for_selector("main h2:has-text('Retention as of')")
        shown = page.locator(".warning").all_inner_texts()
        assert len([text for text in shown if text.startswith(failed)]) == 1, shown
        assert "Over-retention by system" in page.inner_text("main")
        page.goto(f"{demo_server.url}/ui#/estate")
        page.wait_for_selector("main h2:has-text('Estate as of')")
        shown = page.locator(".warning").all_inner_texts()
        assert len([text for text in shown if text.startswith(failed)]) == 1, shown
        assert "PACS-NORTH" in page.inner_text("main table")
    finally:
        repair_index(neo4j_store)


def test_docs_need_no_network(watched: Watched, demo_server: Server) -> None:
    page = watched.page
    page.goto(f"{demo_server.url}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert page.locator(".opblock").count() >= 20
    # off loopback, Swagger UI would post the schema to validator.swagger.io: turned off
    assert page.evaluate("() => ui.getConfigs().validatorUrl") is None
    watched.shot(f"{demo_server.kind}-docs")  # type: ignore[attr-defined]


def test_the_html_report_opens_from_a_file_with_no_network(browser: Any,
                                                           demo_server: Server) -> None:
    report = demo_server.folder / "pacs.html"  # type: ignore[attr-defined]
    response = httpx.get(f"{demo_server.url}/export", timeout=60, params={
        "format": "html", "scope": "system:PACS-NORTH", "depth": 2},
        headers={"Authorization": f"Bearer {TOKENS['admin']}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/html")
    manifest = json.loads(response.headers["x-export-manifest"])
    report.write_bytes(response.content)
    offline = Watched(browser, offline=True)
    try:
        offline.page.goto(report.as_uri())
        offline.page.wait_for_selector("#graph[data-nodes]")
        assert int(offline.page.get_attribute("#graph", "data-nodes") or 0) == sum(
            manifest["nodes_by_kind"].values())
        assert offline.page.locator("#graph canvas").count() >= 1
        text = offline.page.inner_text("body")
        assert "BLOCKED" in text and manifest["data_sha256"] in text
        offline.shot(f"{demo_server.kind}-html-report")  # type: ignore[attr-defined]
    finally:
        offline.close()


CONTRAST = """() => {
  const channel = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (rgb) => {
    const [r, g, b] = rgb.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const colour = getComputedStyle(node).backgroundColor;
      if (colour && !colour.startsWith("rgba(0, 0, 0, 0)") && colour !== "transparent") {
        return colour;
      }
    }
    return "rgb(255, 255, 255)";
  };
  const poor = [];
  for (const node of document.querySelectorAll("main *, header *")) {
    const texts = [...node.childNodes].filter((c) => c.nodeType === 3 && c.textContent.trim());
    if (!texts.length) continue;
    if (node.closest(".sr-only") || !node.getClientRects().length) continue;
    const a = luminance(getComputedStyle(node).color), b = luminance(background(node));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) {
      poor.push(node.tagName + " " + node.textContent.trim().slice(0, 40) + " " + ratio.toFixed(2));
    }
  }
  return poor;
}"""
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((c) => c.type !== "hidden" && c.getClientRects().length)
  .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label")
                 && !(c.tagName === "BUTTON" && c.textContent.trim()))
  .map((c) => c.outerHTML.slice(0, 80))"""


def test_accessibility_labels_contrast_and_keyboard(watched: Watched,
                                                    demo_server: Server) -> None:
    page = signed_in(watched, demo_server)
    for view, heading in (("#/estate", "Estate as of"), ("#/system/PACS-NORTH", "Decommissioning"),
                          ("#/trace/system:PACS-NORTH", "Trace of"),
                          ("#/retention", "Retention as of")):
        page.goto(f"{demo_server.url}/ui{view}")
        page.wait_for_selector(f"main h2:has-text('{heading}')")
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNLABELLED) == [], view
        assert page.evaluate(CONTRAST) == [], view
        for graph in page.locator(".graph").all():
            assert graph.get_attribute("role") == "img" and graph.get_attribute("aria-label")
    page.goto(f"{demo_server.url}/ui#/estate")
    page.reload()  # the token stays for the session; the focus starts at the page's start
    page.wait_for_selector("main h2")
    reached = []
    for _ in range(8):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement.textContent.trim() || "
                                     "document.activeElement.id"))
    assert reached[0] == "Skip to the content"
    assert {"Estate", "Trace explorer", "Retention", "search-text"} <= set(reached), reached
    for _ in range(8):
        if page.evaluate("() => document.activeElement.textContent.trim()") == "Retention":
            break
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("main h2:has-text('Retention as of')")
