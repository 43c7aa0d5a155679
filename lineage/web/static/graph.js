/* Drawing lineage with Cytoscape.js (vendored): shared by the web explorer (/ui) and the
   self-contained HTML export. Nodes are coloured by kind, a legend names the kinds shown, and
   labels are keys cut in the middle (the whole key is in the node's data and tooltips). */
"use strict";

(function (global) {
  const COLOURS = {
    System: "#1b5e20", ArchiveObject: "#43a047", Study: "#0d47a1", Series: "#1e88e5",
    Patient: "#b71c1c", Dataset: "#5d4037", Order: "#6a1b9a", Report: "#8e24aa",
    RetentionPolicy: "#e65100", ComplianceEvent: "#f9a825", AccessProfile: "#d84315",
    Job: "#37474f", Run: "#78909c", Other: "#757575",
  };
  const KIND_BY_PREFIX = {
    system: "System", object: "ArchiveObject", study: "Study", series: "Series",
    patient: "Patient", dataset: "Dataset", order: "Order", report: "Report",
    policy: "RetentionPolicy", event: "ComplianceEvent", profile: "AccessProfile", job: "Job",
    run: "Run",
  };

  function kindOf(key) {
    return KIND_BY_PREFIX[String(key).split(":")[0]] || "Other";
  }

  function middleCut(text, width) {
    text = String(text);
    if (text.length <= width) return text;
    const head = Math.ceil((width - 1) / 2);
    return text.slice(0, head) + "…" + text.slice(text.length - (width - 1 - head));
  }

  /* Cytoscape elements from the API's nodes ({key, kind}) and edges ({from, type, to}). */
  function elements(nodes, edges) {
    const found = [];
    const keys = new Set();
    for (const node of nodes) {
      if (keys.has(node.key)) continue;
      keys.add(node.key);
      found.push({ group: "nodes", data: {
        id: node.key, kind: node.kind || kindOf(node.key), label: middleCut(node.key, 30) } });
    }
    for (const edge of edges) {
      if (!keys.has(edge.from) || !keys.has(edge.to)) continue;
      found.push({ group: "edges", data: {
        id: edge.from + " -[" + edge.type + "]-> " + edge.to, source: edge.from,
        target: edge.to, type: edge.type } });
    }
    return found;
  }

  function style() {
    const byKind = Object.entries(COLOURS).map(([kind, colour]) => ({
      selector: 'node[kind = "' + kind + '"]', style: { "background-color": colour } }));
    return [
      { selector: "node", style: {
        label: "data(label)", "font-size": 9, color: "#212121", "text-valign": "bottom",
        "text-margin-y": 3, width: 16, height: 16, "min-zoomed-font-size": 7,
        "text-background-color": "#ffffff", "text-background-opacity": 0.8 } },
      ...byKind,
      { selector: "node.root", style: { width: 24, height: 24, "border-width": 3,
                                        "border-color": "#000000" } },
      { selector: "node.expanded", style: { "border-width": 2, "border-color": "#424242" } },
      { selector: "edge", style: {
        width: 1, "line-color": "#9e9e9e", "target-arrow-color": "#9e9e9e",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.7 } },
      { selector: "edge:selected", style: { label: "data(type)", "font-size": 8 } },
    ];
  }

  /* Draw in `container`; `root` is put first (breadth-first layout from it). */
  function draw(container, items, options) {
    options = options || {};
    const cy = global.cytoscape({
      container: container, elements: items, style: style(), minZoom: 0.05, maxZoom: 4,
      textureOnViewport: true, hideEdgesOnViewport: items.length > 1500,
      layout: layoutOf(items, options.root),
    });
    if (options.root) cy.getElementById(options.root).addClass("root");
    return cy;
  }

  function layoutOf(items, root) {
    const nodes = items.filter((item) => item.group === "nodes").length;
    if (root) {
      return { name: "breadthfirst", roots: [root], directed: false, spacingFactor: 0.9,
               animate: false, avoidOverlap: nodes < 600 };
    }
    return nodes > 300 ? { name: "grid", animate: false }
                       : { name: "cose", animate: false, randomize: false, nodeRepulsion: 8000 };
  }

  /* A legend of the kinds present: a list of swatches with their names. */
  function legend(list, kinds) {
    list.replaceChildren();
    for (const kind of Array.from(new Set(kinds)).sort()) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.backgroundColor = COLOURS[kind] || COLOURS.Other;
      swatch.setAttribute("aria-hidden", "true");
      item.append(swatch, document.createTextNode(" " + kind));
      list.append(item);
    }
  }

  global.LineageGraph = { COLOURS, kindOf, middleCut, elements, draw, layoutOf, legend };
})(window);
