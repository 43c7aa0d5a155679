/* The lineage explorer: a small single-page front end over the API's read endpoints. Every
   value from the graph is written as text (never as HTML). The token is kept in this browser
   session only (sessionStorage) and sent as a bearer token; what a role may not read is not
   shown. Views: #/estate, #/system/CODE, #/node/KEY, #/trace/KEY, #/retention, #/search?q=. */
"use strict";

const TOKEN_KEY = "image-lineage-token";
const PAGE = 50;
const state = { session: null };

/* -- small helpers ------------------------------------------------------------------------ */

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "onclick" || name === "onchange" || name === "onsubmit") {
      node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function number(value) {
  return value === null || value === undefined ? "" : Number(value).toLocaleString("en");
}

function bytes(value) {
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let size = Number(value || 0);
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit += 1; }
  return (unit ? size.toFixed(1) : String(size)) + " " + units[unit];
}

function keyLink(key) {
  const kind = LineageGraph.kindOf(key);
  const href = kind === "System" ? "#/system/" + encodeURIComponent(key.slice(7))
                                 : "#/node/" + encodeURIComponent(key);
  return el("a", { href: href, class: "key", title: key }, LineageGraph.middleCut(key, 60));
}

function cell(value) {
  if (value === null || value === undefined) return el("td", {}, "");
  if (Array.isArray(value)) {
    const td = el("td", {});
    value.forEach((item, index) => {
      if (index) td.append(", ");
      const text = typeof item === "object" && item !== null ? (item.key || JSON.stringify(item))
                                                              : String(item);
      td.append(/^[a-z]+:/.test(text) ? keyLink(text) : text);
    });
    return td;
  }
  if (typeof value === "number") return el("td", { class: "num" }, number(value));
  if (typeof value === "object") return el("td", {}, JSON.stringify(value));
  const text = String(value);
  return el("td", {}, /^(system|object|study|series|patient|dataset|event|profile|policy|order|report|job|run):/.test(text)
    ? keyLink(text) : text);
}

/* A table of rows with a caption; "none" when empty. */
function table(caption, rows, columns) {
  if (!rows || rows.length === 0) {
    return el("p", { class: "none" }, caption + ": none");
  }
  return el("table", {},
    el("caption", { class: "sr-only" }, caption + " (" + number(rows.length) + ")"),
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, columns.map((c) => cell(row[c]))))));
}

function status(text) {
  document.getElementById("status").textContent = text || "";
}

function show(...children) {
  const view = document.getElementById("view");
  view.replaceChildren(...children.flat(Infinity).filter(Boolean));
  return view;
}

/* The warnings of one or more reports, each text once (the retention view's three reports
   share theirs: an index still being built is named by each). */
function warnings(...reports) {
  const texts = new Set(reports.flatMap((report) => report.warnings || []));
  return [...texts].map((text) => el("p", { class: "warning", role: "alert" },
                                     "Warning: " + text));
}

/* -- the API --------------------------------------------------------------------------------- */

class ApiError extends Error {
  constructor(problem) { super(problem.detail || problem.title); this.problem = problem; }
}

async function api(path, params) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) { await askToken(); return api(path, params); }
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") query.set(name, value);
  }
  const url = path + (query.toString() ? "?" + query : "");
  status("Loading " + path + "…");
  const response = await fetch(url, { headers: { Authorization: "Bearer " + token } });
  status("");
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    const problem = await response.json();
    await askToken(problem.detail);
    return api(path, params);
  }
  if (!response.ok) throw new ApiError(await response.json());
  return response;
}

/* A view's requests belong to the navigation that started them. When the user has moved on
   by the time an answer arrives (a slow estate page, then a quick search), the older view
   stops there (StaleView) instead of drawing over the newer one. */
class StaleView extends Error {}
let navigation = 0;

async function json(path, params) {
  const started = navigation;
  const body = await (await api(path, params)).json();
  if (navigation !== started) throw new StaleView(path);
  return body;
}

function askToken(message) {
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  document.getElementById("token-error").textContent = message || "";
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", function done() {
      dialog.removeEventListener("close", done);
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      state.session = null;
      resolve();
    });
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}

async function session() {
  if (!state.session) {
    state.session = await json("/session");
    document.getElementById("who").textContent =
      "Signed in as " + state.session.name + " (" + state.session.role + ")";
    document.getElementById("sign-out").hidden = false;
  }
  return state.session;
}

/* -- views -------------------------------------------------------------------------------- */

async function estateView(params) {
  const estate = await json("/estate", { as_of: params.get("as_of") });
  const regions = [...new Set(estate.systems.map((s) => s.region || "unknown"))].sort();
  const kinds = [...new Set(estate.systems.map((s) => s.kind || "unknown"))].sort();
  const region = params.get("region") || "";
  const kind = params.get("kind") || "";
  const shown = estate.systems.filter((s) => (!region || (s.region || "unknown") === region)
                                           && (!kind || (s.kind || "unknown") === kind));
  const filter = (name, label, values, current) => {
    const id = "filter-" + name;
    return [el("label", { for: id }, label),
      el("select", { id: id, onchange: (event) => {
        params.set(name, event.target.value);
        location.hash = "#/estate?" + params;
      } }, el("option", { value: "" }, "all"),
      values.map((v) => el("option", { value: v, selected: v === current }, v)))];
  };
  const graph = el("div", { class: "graph small", id: "estate-graph", role: "img",
                            "aria-label": "Systems and the feeds between them" });
  show(el("h2", {}, "Estate as of " + estate.as_of),
    warnings(estate),
    el("div", { class: "filters" }, filter("region", "Region", regions, region),
       filter("kind", "Role", kinds, kind)),
    graph,
    table("Systems", shown.map((s) => ({ ...s, bytes: bytes(s.bytes) })),
          ["key", "kind", "region", "status", "tiers", "copies", "bytes", "feeds"]));
  const keys = new Set(shown.map((s) => s.key));
  const nodes = shown.map((s) => ({ key: s.key, kind: "System" }));
  const edges = shown.flatMap((s) => s.feeds.filter((t) => keys.has(t))
    .map((t) => ({ from: s.key, type: "FEEDS", to: t })));
  const cy = LineageGraph.draw(graph, LineageGraph.elements(nodes, edges), {});
  cy.on("tap", "node", (event) => {
    location.hash = "#/system/" + encodeURIComponent(event.target.id().slice(7));
  });
}

async function systemView(code, params) {
  const offset = Number(params.get("offset") || 0);
  const report = await json("/systems/" + encodeURIComponent(code) + "/decommission",
                            { as_of: params.get("as_of"), limit: PAGE, offset: offset });
  const holdings = report.holdings;
  const held = holdings.copies
    ? "It holds " + number(holdings.copies) + " live copies of " + number(holdings.items) +
      " series or studies" + (holdings.elsewhere.length
        ? "; also held in " + holdings.elsewhere.map((e) => e.system + " (" + e.items + " of " +
                                                     holdings.items + ")").join(", ") + "."
        : "; none of them is held anywhere else.")
    : "It holds no live copies.";
  const sections = [
    ["Sole copies", "sole_copies", ["key", "kind", "copies", "retain_until", "holds"]],
    ["Must migrate", "must_migrate", ["key", "reason", "copies", "retain_until"]],
    ["May dispose", "may_dispose", ["key", "retain_until", "copies"]],
    ["Depends on it downstream", "downstream", ["key", "via"]],
    ["Access profiles to revoke", "access_profiles", ["key", "role", "actions"]],
    ["Lineage gaps", "lineage_gaps", ["key", "reasons"]],
  ];
  const page = (delta) => {
    params.set("offset", Math.max(0, offset + delta));
    location.hash = "#/system/" + encodeURIComponent(code) + "?" + params;
  };
  show(el("h2", {}, "Decommissioning " + report.system + " as of " + report.as_of),
    el("p", { class: "verdict " + report.verdict }, report.verdict.toUpperCase()),
    el("ul", {}, report.reasons.map((r) => el("li", {}, r))),
    el("p", {}, held),
    warnings(report),
    report.policy_version ? null
      : el("p", { class: "warning" }, "Warning: no retention policy applied; retention unknown."),
    el("div", { class: "controls" },
      el("button", { type: "button", onclick: () => download(report, code) },
         "Download JSON"),
      state.session.may_export  // the HTML report is an export: auditors and admins
        ? el("button", { type: "button", onclick: () => downloadHtml("system:" + code) },
             "Download HTML report") : null),
    sections.map(([title, name, columns]) => [
      el("h3", {}, title + " (" + number(report.counts[name]) + ")"),
      table(title, report[name], columns)]),
    report.truncated ? el("div", { class: "pager" },
      el("button", { type: "button", onclick: () => page(-PAGE), disabled: offset === 0 },
         "Previous page"),
      el("span", {}, "Items " + (offset + 1) + "–" + (offset + PAGE)),
      el("button", { type: "button", onclick: () => page(PAGE) }, "Next page")) : null);
}

function download(report, code) {
  const blob = new Blob([JSON.stringify(report, null, 2)], { type: "application/json" });
  saveBlob(blob, "decommission-" + code + ".json");
}

async function downloadHtml(scope) {
  try {
    const response = await api("/export", { format: "html", scope: scope, depth: 2 });
    saveBlob(await response.blob(), scope.replace(/[^A-Za-z0-9.-]+/g, "_") + ".html");
  } catch (error) {
    status(error.message);
  }
}

function saveBlob(blob, name) {
  const link = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

async function nodeView(key, params) {
  const node = await json("/nodes/" + encodeURIComponent(key));
  const asOf = params.get("as_of");
  const down = await json("/lineage/" + encodeURIComponent(key),
                          { direction: "down", depth: 2, as_of: asOf, limit: 500 });
  const copies = down.nodes.filter((n) => n.kind === "ArchiveObject").map((n) => ({
    key: n.key, system: "system:" + n.key.split(":")[1], region: n.properties.region_code,
    tier: n.properties.storage_tier, retain_until: n.properties.retain_until,
    rule: n.properties.retention_policy_id, disposed_at: n.properties.disposed_at,
  }));
  const holds = await json("/holds", { as_of: asOf });
  const scope = new Set([key, ...node.edges.map((e) => e.to)]);
  const heldBy = holds.holds.filter((h) => h.scope.some((s) => scope.has(s)))
    .map((h) => ({ key: h.key, type: h.type, started_at: h.started_at, scope: h.scope }));
  const both = await json("/lineage/" + encodeURIComponent(key),
                          { direction: "both", depth: 3, as_of: asOf, limit: 500 });
  const conflicts = (await json("/conflicts")).conflicts.filter((c) => c.element.includes(key));
  const graph = el("div", { class: "graph small", role: "img",
                            "aria-label": "Lineage of " + key + ", both directions, 3 steps" });
  const legendList = el("ul", { class: "legend", "aria-label": "Legend: colours by kind" });
  const properties = Object.entries(node.properties).filter(([name]) =>
    !["property_sources", "sources"].includes(name)).map(([name, value]) => ({ name, value }));
  let access = null;
  if (node.kind === "Study") {
    access = (await json("/catalogue/access_paths", { key: key, as_of: asOf })).rows;
  }
  show(el("h2", {}, node.kind + " ", el("span", { class: "key" }, key)),
    el("p", {}, el("a", { href: "#/trace/" + encodeURIComponent(key) }, "Open in the trace explorer")),
    el("h3", {}, "Copies"), table("Copies", copies,
      ["key", "system", "region", "tier", "retain_until", "rule", "disposed_at"]),
    el("h3", {}, "Legal holds in scope"), table("Legal holds", heldBy,
      ["key", "type", "started_at", "scope"]),
    el("h3", {}, "Lineage (derivations, copies, sources)"), graph, legendList,
    access ? [el("h3", {}, "Access paths"), table("Access paths", access,
      ["profile", "role", "through", "actions"])] : null,
    el("h3", {}, "Metadata conflicts"), table("Metadata conflicts", conflicts,
      ["property", "current_value", "current_source", "reported_value", "reported_source",
       "recorded_at"]),
    el("h3", {}, "Properties"), table("Properties", properties, ["name", "value"]));
  LineageGraph.draw(graph, LineageGraph.elements(both.nodes, both.edges), { root: key });
  LineageGraph.legend(legendList, both.nodes.map((n) => n.kind));
}

async function traceView(key, params) {
  const direction = params.get("direction") || "down";
  const depth = params.get("depth") || "3";
  const cap = params.get("limit") || "500";
  const asOf = params.get("as_of") || "";
  const field = (id, label, input) => [el("label", { for: id }, label), input];
  const form = el("form", { class: "controls", id: "trace-form", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    const next = new URLSearchParams();
    for (const name of ["direction", "depth", "limit", "as_of"]) {
      if (data.get(name)) next.set(name, data.get(name));
    }
    location.hash = "#/trace/" + encodeURIComponent(data.get("key").trim()) + "?" + next;
  } },
  field("trace-key", "Key", el("input", { id: "trace-key", name: "key", value: key || "",
                                          required: true, size: 50 })),
  field("trace-direction", "Direction", el("select", { id: "trace-direction", name: "direction" },
    ["down", "up", "both"].map((d) => el("option", { value: d, selected: d === direction }, d)))),
  field("trace-depth", "Depth", el("input", { id: "trace-depth", name: "depth", type: "number",
                                              min: 0, max: 50, value: depth })),
  field("trace-limit", "Node cap", el("input", { id: "trace-limit", name: "limit", type: "number",
                                                 min: 1, max: 10000, value: cap })),
  field("trace-as-of", "As of", el("input", { id: "trace-as-of", name: "as_of", type: "date",
                                              value: asOf })),
  el("button", { type: "submit", class: "primary" }, "Trace"));
  if (!key) {
    show(el("h2", {}, "Trace explorer"), form,
         el("p", {}, "Give a key (e.g. a series or a system) to trace its lineage."));
    return;
  }
  const result = await json("/lineage/" + encodeURIComponent(key), {
    direction: direction, depth: depth, limit: cap, fanout: cap, as_of: asOf });
  const summary = el("p", { id: "trace-summary" });
  const graph = el("div", { class: "graph", id: "trace-graph", role: "img",
                            "aria-label": "Lineage graph of " + key });
  const legendList = el("ul", { class: "legend", "aria-label": "Legend: colours by kind" });
  show(el("h2", {}, "Trace of ", el("span", { class: "key" }, key)), form, summary, graph,
       legendList, el("p", {}, "Click a node to expand it one step; double-click to open it."));
  const seen = new Map(result.nodes.map((n) => [n.key, n.kind]));
  let truncated = result.truncated;
  const cy = LineageGraph.draw(graph, LineageGraph.elements(result.nodes, result.edges),
                               { root: key });
  const describe = () => {
    summary.replaceChildren(number(cy.nodes().length) + " nodes, " + number(cy.edges().length) +
      " edges, " + direction + ", depth " + depth + ", as of " + result.as_of + " ",
      truncated ? el("span", { class: "truncated" }, "truncated: the node cap or a fan-out cap cut it")
                : "");
    summary.dataset.nodes = String(cy.nodes().length);
    LineageGraph.legend(legendList, [...seen.values()]);
  };
  describe();
  cy.on("tap", "node", async (event) => {
    const id = event.target.id();
    let more;
    try {
      more = await json("/lineage/" + encodeURIComponent(id), {
        direction: direction, depth: 1, limit: cap, fanout: cap, as_of: asOf });
    } catch (error) {
      if (!(error instanceof StaleView)) status(error.message);  // stale: the graph is gone
      return;
    }
    truncated = truncated || more.truncated;
    const fresh = more.nodes.filter((n) => !seen.has(n.key));
    fresh.forEach((n) => seen.set(n.key, n.kind));
    const items = LineageGraph.elements(more.nodes, more.edges)
      .filter((item) => cy.getElementById(item.data.id).empty());
    cy.add(items);
    event.target.addClass("expanded");
    if (fresh.length) {
      cy.layout(LineageGraph.layoutOf(cy.elements().jsons(), key)).run();
    }
    describe();
  });
  cy.on("dbltap", "node", (event) => {
    const id = event.target.id();
    location.hash = LineageGraph.kindOf(id) === "System"
      ? "#/system/" + encodeURIComponent(id.slice(7)) : "#/node/" + encodeURIComponent(id);
  });
  window.lineageTrace = cy;  // for the benchmarks and tests: the graph that is shown
}

function bars(title, totals) {
  const entries = Object.entries(totals || {}).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return el("p", { class: "none" }, title + ": none");
  const most = Math.max(...entries.map((e) => e[1]), 1);
  return [el("h3", {}, title),
    el("div", { class: "bars", role: "list", "aria-label": title },
      entries.map(([name, value]) => [
        el("span", { role: "listitem" }, name),
        el("span", { class: "bar", style: "width:" + Math.max(0.5, 100 * value / most) + "%",
                     "aria-hidden": "true" }),
        el("span", {}, bytes(value))]))];
}

async function retentionView(params) {
  const asOf = params.get("as_of");
  const [drift, cross, holds] = await Promise.all([
    json("/retention/drift", { as_of: asOf }), json("/retention/cross-region", { as_of: asOf }),
    json("/holds", { as_of: asOf })]);
  const applied = drift.policy_applied;
  const counts = el("table", {},
    el("caption", {}, "Drift counts"),
    el("tbody", {}, Object.entries(drift.counts).map(([name, count]) =>
      el("tr", {}, el("th", { scope: "row" }, name.replace(/_/g, " ")),
                   el("td", { class: "num" }, applied ? number(count) : "not computed")))));
  show(el("h2", {}, "Retention as of " + drift.as_of +
          (drift.policy_version ? " (policy " + drift.policy_version + ")" : "")),
    warnings(drift, cross, holds),
    counts,
    applied ? [
      el("p", {}, "Over-retained: " + bytes(drift.cost.bytes) + ", about " +
         drift.cost.monthly_cost + " " + (drift.cost.currency || "") + " a month."),
      bars("Over-retention by system", drift.cost.by_system),
      bars("Over-retention by region", drift.cost.by_region),
      bars("Over-retention by storage tier", drift.cost.by_storage_tier),
      el("h3", {}, "Over-retained copies"), table("Over-retained", drift.over_retained,
        ["key", "retain_until", "rule", "system", "region", "storage_tier", "bytes"]),
      el("h3", {}, "Premature disposals"), table("Premature disposals", drift.premature_disposal,
        ["key", "disposed_at", "retain_until", "rule", "holds"]),
      el("h3", {}, "Cross-region conflicts"), table("Cross-region conflicts", cross.conflicts,
        ["key", "regions", "copies"]),
      el("h3", {}, "Residency violations"), table("Residency violations",
        cross.residency_violations, ["key", "study", "origin", "country", "region"]),
    ] : null,
    el("h3", {}, "Legal holds"), table("Legal holds", holds.holds,
      ["key", "type", "started_at", "ended_at", "scope", "covered", "covered_live"]),
    applied ? [el("h3", {}, "Studies to restore from archive tiers"),
               table("Restore needed", holds.restore_needed, ["key", "hold", "copies", "tiers"])]
            : null);
}

async function searchView(params) {
  const q = params.get("q") || "";
  document.getElementById("search-text").value = q;
  const found = await json("/search", { q: q });
  show(el("h2", {}, "Found for “" + q + "”"),
    found.results.length
      ? el("ul", { id: "search-results" }, found.results.map((r) =>
          el("li", {}, keyLink(r.key), " ", r.kind,
             r.name ? " — " + r.name : "", r.accession ? " — accession " + r.accession : "")))
      : el("p", { class: "none" }, "Nothing found."));
}

/* -- routing -------------------------------------------------------------------------------- */

async function route(event) {
  navigation += 1;
  const [path, query] = (location.hash.slice(1) || "/estate").split("?");
  const params = new URLSearchParams(query || "");
  const [, view, ...rest] = path.split("/");
  const argument = decodeURIComponent(rest.join("/"));
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === view);
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
  }
  try {
    const who = await session();
    if (!who.may_read) {
      show(el("h2", {}, "Nothing to show"),
           el("p", {}, "This token's role (" + who.role + ") may send data to the engine but " +
                       "not read it. Use an architect, auditor or admin token."));
      return;
    }
    if (view === "system") await systemView(argument, params);
    else if (view === "node") await nodeView(argument, params);
    else if (view === "trace") await traceView(argument, params);
    else if (view === "retention") await retentionView(params);
    else if (view === "search") await searchView(params);
    else await estateView(params);
    if (event) document.getElementById("view").focus({ preventScroll: true });  // a navigation
  } catch (error) {
    if (error instanceof StaleView) return;  // a newer navigation draws the view
    status("");
    show(el("h2", {}, "Could not load this view"),
         el("p", { class: "error", role: "alert" }, error.message));
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = "#/search?" + new URLSearchParams({
      q: document.getElementById("search-text").value.trim() });
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.session = null;
    document.getElementById("who").textContent = "";
    route();
  });
  route();  // the first view: focus stays at the start of the page
});
