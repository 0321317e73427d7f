// pxOS explorer: one hand-written script. Each view fetches its JSON endpoint (the same one
// scripts can use) and draws it; links change the address without reloading the page.
"use strict";

const TOKEN = document.querySelector('meta[name="pxos-token"]').content;
const main = () => document.getElementById("main");
let cleanup = [];          // what the current view must stop (event sources, timers) when left

// -- small helpers ------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElementNS(tag.startsWith("svg:") ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml",
                                      tag.replace("svg:", ""));
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const link = (href, text, attrs) => h("a", { href, "data-link": true, ...(attrs || {}) }, text);
const chip = (text, kind) => h("span", { class: "chip " + (kind || String(text).toLowerCase()) }, text);
const fmt = (n) => (n === null || n === undefined) ? "–" : Number(n).toLocaleString("en");
const bytes = (n) => n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : n < 1 << 30 ?
  `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / (1 << 30)).toFixed(2)} GiB`;
const short = (s, n) => (s && s.length > n) ? s.slice(0, n) + "…" : (s || "");
const enc = encodeURIComponent;
const encPath = (key) => key.split("/").map(enc).join("/");
const time = (ts) => ts ? ts.replace("T", " ").replace("Z", "").slice(0, 23) : "";

async function api(path, options) {
  const opts = { ...(options || {}), headers: { "X-Pxos-Token": TOKEN, ...((options || {}).headers || {}) } };
  if (opts.json !== undefined) {
    opts.method = opts.method || "POST";
    opts.body = JSON.stringify(opts.json);
    opts.headers["Content-Type"] = "application/json";
    delete opts.json;
  }
  const response = await fetch(path, opts);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

function errorBox(error) {
  return h("div", { class: "error", role: "alert" }, error.message || String(error));
}

function card(title, ...children) {
  return h("section", { class: "card", "aria-label": title }, title ? h("h2", {}, title) : null, ...children);
}

function table(headers, rows, options) {
  const opts = options || {};
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", class: opts.numeric && opts.numeric.includes(x) ? "num" : null }, x)))),
    h("tbody", {}, rows));
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function setPage(title, ...children) {
  const m = main();
  const [heading, ...rest] = Array.isArray(title) ? title : [title];
  m.replaceChildren(h("h1", {}, heading, ...rest), ...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  document.title = `${typeof heading === "string" ? heading : heading.textContent} · pxOS explorer`;
}

// Reads a response of server-sent events (a fetch body, so POST works too), calling on(event, data).
async function readEvents(response, on) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) on(event, JSON.parse(data));
    }
  }
}

// -- routing -------------------------------------------------------------------------------------

const routes = [
  [/^\/(ledger)?\/?$/, () => ledgerView()],
  [/^\/ledger\/([^/]+)$/, (m) => recordView(decodeURIComponent(m[1]))],
  [/^\/cartridges\/?$/, () => cartridgesView()],
  [/^\/cartridges\/([^/]+)$/, (m) => cartridgeView(decodeURIComponent(m[1]))],
  [/^\/storage\/?$/, () => storageView()],
  [/^\/storage\/([^/]+)$/, (m) => objectsView(decodeURIComponent(m[1]))],
  [/^\/storage\/([^/]+)\/(.+)$/, (m) => objectView(decodeURIComponent(m[1]), m[2].split("/").map(decodeURIComponent).join("/"))],
  [/^\/map\/([^/]+)$/, (m) => mapView(decodeURIComponent(m[1]))],
  [/^\/models\/?$/, () => modelsView()],
  [/^\/models\/([^/]+)\/([^/]+)$/, (m) => modelView(decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^\/system\/?$/, () => systemView()],
];

async function render() {
  for (const stop of cleanup) stop();
  cleanup = [];
  const path = location.pathname;
  const view = path.split("/")[1] || "ledger";
  for (const a of document.querySelectorAll(".side li a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  for (const [pattern, show] of routes) {
    const m = path.match(pattern);
    if (m) {
      try { await show(m); } catch (error) { main().append(errorBox(error)); }
      return;
    }
  }
  setPage("Not found", errorBox(new Error(`no view at ${path}`)));
}

function go(href, replace) {
  if (replace) history.replaceState(null, "", href); else history.pushState(null, "", href);
  render().then(() => { if (!replace) main().focus({ preventScroll: true }); });
  window.scrollTo(0, 0);
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", () => render());

// -- chain status (always in the side bar) -------------------------------------------------------

async function refreshChain() {
  const el = document.getElementById("chain");
  try {
    const status = await api("/api/ledger/status");
    const report = status.verify.report;
    el.className = "chain";
    if (status.verify.state === "error") { el.className = "chain bad"; el.textContent = `chain: ${status.verify.error}`; }
    else if (!report) el.textContent = `chain: verifying ${fmt(status.records)} records…`;
    else if (report.ok) { el.className = "chain ok"; el.textContent = `chain verified: ${fmt(report.records)} records`; }
    else { el.className = "chain bad"; el.textContent = `chain BROKEN at record #${report.problem.index}`; }
    return status;
  } catch (error) { el.className = "chain bad"; el.textContent = `chain: ${error.message}`; return null; }
}

// -- ledger --------------------------------------------------------------------------------------

function statusBanner(status) {
  const v = status.verify, report = v.report;
  if (v.state === "error") return h("div", { class: "banner bad", role: "alert" }, `The ledger could not be verified: ${v.error}`);
  if (status.index.unreadable) return h("div", { class: "banner bad", role: "alert" }, `Part of the ledger cannot be read: ${status.index.unreadable}`);
  if (!report) return h("div", { class: "banner warn" }, `Verifying ${fmt(status.records)} records…`);
  if (report.ok) {
    return h("div", { class: "banner ok" }, `Chain verified: all ${fmt(report.records)} records, up to seq ${fmt(report.head_seq)} (head ${short(report.head_hash, 16)}), ` +
      `${status.signed ? "HMAC-signed" : "SHA-256"}, in ${status.location}.`);
  }
  const p = v.first_problem, rec = p && p.record;
  return h("div", { class: "banner bad", role: "alert" },
    `Chain BROKEN: verified up to record #${fmt(report.records)}` + (report.records ? ` (seq ${fmt(report.head_seq)})` : "") +
    `; record #${p.index}${p.seq !== null ? ` (seq ${p.seq})` : ""}: ${p.what}. `,
    rec && rec.id ? link(`/ledger/${enc(rec.id)}`, `Open ${rec.id}`) : null,
    status.broken_count > 1 ? ` · ${fmt(status.broken_count)} records fail their own checks.` : "");
}

const FILTERS = ["type", "agent", "corridor", "op", "since", "until", "id"];

async function ledgerView() {
  const params = new URLSearchParams(location.search);
  const pageNumber = Number(params.get("page") || 1);
  const statusPromise = api("/api/ledger/status");
  const query = new URLSearchParams();
  for (const f of FILTERS) if (params.get(f)) query.set(f, params.get(f));
  query.set("page", pageNumber);
  query.set("limit", 50);
  const [page, status] = await Promise.all([api("/api/ledger?" + query), statusPromise]);
  refreshChain();
  const filtered = FILTERS.some((f) => params.get(f));

  const options = (name, values) => h("select", { name, id: `f-${name}` }, h("option", { value: "" }, "any"),
    values.map((x) => h("option", { value: x, selected: params.get(name) === x }, x)));
  const field = (label, control) => h("label", { for: control.id }, label, control);
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter records" },
    field("Type", options("type", status.types)),
    field("Agent", options("agent", status.agents)),
    field("Corridor prefix", h("input", { name: "corridor", id: "f-corridor", placeholder: "DISTRICT_4", value: params.get("corridor") || "", size: 18 })),
    field("Op", options("op", status.ops)),
    field("Since", h("input", { name: "since", id: "f-since", placeholder: "2026-11-21T10:00Z", value: params.get("since") || "", size: 18 })),
    field("Until", h("input", { name: "until", id: "f-until", placeholder: "ISO 8601", value: params.get("until") || "", size: 18 })),
    field("ATOM id", h("input", { name: "id", id: "f-id", placeholder: "ATOM-RUN-20261121-000001", value: params.get("id") || "", size: 26 })),
    h("button", { type: "submit", class: "primary" }, "Filter"),
    filtered ? h("button", { type: "button", onclick: () => go("/ledger") }, "Clear") : null);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) next.set(k, String(v).trim());
    go("/ledger" + (next.toString() ? "?" + next : ""));
  });

  const tbody = h("tbody", {}, page.records.map((r) => recordRow(r)));
  const live = h("p", { class: "muted", role: "status", "aria-live": "polite" }, "");
  const pager = h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { disabled: pageNumber <= 1, onclick: () => turn(pageNumber - 1) }, "← Newer"),
    h("span", {}, `page ${fmt(page.page)} of ${fmt(page.pages)} · ${fmt(page.total)} records` + (filtered ? " match" : "")),
    h("button", { disabled: pageNumber >= page.pages, onclick: () => turn(pageNumber + 1) }, "Older →"));
  function turn(n) { params.set("page", n); go("/ledger?" + params); }

  setPage("Ledger",
    statusBanner(status),
    h("div", { class: "grid2" },
      card("Overview", h("p", { class: "muted" }, "ledger render: one cell per record, colour by type, broken records red. Click a cell (or focus it and use the arrow keys and Enter) to open its record."), await overviewPanel()),
      card("Filters", form, h("p", { class: "muted" }, "The same filters as ledger query: type, agent, corridor prefix (whole components), op, time (ISO 8601) and ATOM id."))),
    card("Timeline", live,
      h("div", { class: "scroll" }, h("table", { "aria-label": "Records, newest first" },
        h("thead", {}, h("tr", {}, ["seq", "time (UTC)", "type", "agent", "corridor", "op", "ATOM id"].map((x) => h("th", { scope: "col" }, x)))),
        tbody)), pager));

  // Live records: new ones are added at the top of the first unfiltered page; elsewhere counted.
  const source = new EventSource(`/api/ledger/events?after=${status.records}`);
  let waiting = 0;
  source.addEventListener("record", (event) => {
    const record = JSON.parse(event.data);
    if (pageNumber === 1 && !filtered) {
      const row = recordRow(record);
      row.classList.add("fresh");
      tbody.prepend(row);
      while (tbody.children.length > 50) tbody.lastElementChild.remove();
      live.textContent = `live: ${record.id} just arrived`;
    } else {
      waiting += 1;
      live.replaceChildren(`${waiting} new record(s) since this page was loaded · `, link(location.pathname + location.search, "reload"));
    }
    if (record.problem) refreshChain();
  });
  source.onerror = () => { live.textContent = "live updates paused (reconnecting…)"; };
  const timer = setInterval(refreshChain, 5000);
  cleanup.push(() => source.close(), () => clearInterval(timer));
  if (!status.verify.report || status.verify.state === "verifying" || !page.indexed) {
    // A fresh explorer shows the newest records at once and indexes and verifies the rest
    // meanwhile: draw the view again when that is done.
    const poll = setInterval(async () => {
      const now = await api("/api/ledger/status").catch(() => null);
      if (now && now.index.state === "ready" && now.verify.state !== "verifying" && now.verify.report) {
        clearInterval(poll);
        render();
      }
    }, 700);
    cleanup.push(() => clearInterval(poll));
  }
}

function recordRow(r) {
  return h("tr", { class: r.problem ? "broken" : null, title: r.problem || null },
    h("td", { class: "num" }, fmt(r.seq)), h("td", { class: "mono nowrap" }, time(r.ts)), h("td", {}, chip(r.type || "?", "type")),
    h("td", {}, r.agent), h("td", { class: "mono" }, r.corridor), h("td", {}, r.op),
    h("td", { class: "mono" }, r.id ? link(`/ledger/${enc(r.id)}`, r.id) : "–", r.problem ? h("div", {}, `⚠ ${r.problem}`) : null));
}

async function overviewPanel() {
  const params = new URLSearchParams(location.search);
  const start = params.get("start");
  const info = await api("/api/ledger/overview" + (start ? `?start=${start}` : ""));
  if (!info.count) return h("p", { class: "muted" }, "The ledger is empty.");
  const step = info.cell + info.gap;
  const img = h("img", { src: `/api/ledger/overview.png?start=${info.start}&t=${info.total}`, alt: `Overview of records ${info.start + 1} to ${info.start + info.count}`, tabindex: "0", role: "button",
    "aria-label": `Ledger picture of ${info.count} records; arrow keys choose a record, Enter opens it` });
  const cursor = h("div", { class: "cursor", hidden: true });
  let selected = info.count - 1, zoom = 1;
  img.addEventListener("load", () => {
    const room = img.closest(".card").clientWidth - 40;
    zoom = img.naturalWidth * 2 <= room ? 2 : 1;  // a short ledger's picture is shown twice as big when it fits
    img.style.width = `${img.naturalWidth * zoom}px`;
  });
  const place = () => {
    cursor.hidden = false;
    cursor.style.left = `${(info.gap + (selected % info.columns) * step) * zoom - 2}px`;
    cursor.style.top = `${(info.gap + Math.floor(selected / info.columns) * step) * zoom - 2}px`;
    cursor.style.width = cursor.style.height = `${info.cell * zoom + 4}px`;
  };
  const open = async (cellIndex) => {
    const record = await api(`/api/ledger/at/${info.start + cellIndex}`);
    if (record.id) go(`/ledger/${enc(record.id)}`);
  };
  img.addEventListener("click", (event) => {
    const box = img.getBoundingClientRect();
    const x = (event.clientX - box.left) * (img.naturalWidth / box.width) - info.gap;
    const y = (event.clientY - box.top) * (img.naturalHeight / box.height) - info.gap;
    const col = Math.floor(x / step), row = Math.floor(y / step);
    if (x < 0 || y < 0 || col >= info.columns || x - col * step >= info.cell || y - row * step >= info.cell) return;
    const index = row * info.columns + col;
    if (index < info.count) open(index).catch((error) => img.parentElement.after(errorBox(error)));
  });
  img.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -info.columns, ArrowDown: info.columns };
    if (event.key in moves) {
      event.preventDefault();
      selected = Math.max(0, Math.min(info.count - 1, selected + moves[event.key]));
      place();
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      open(selected).catch((error) => img.parentElement.after(errorBox(error)));
    }
  });
  img.addEventListener("focus", place);
  const windows = [];
  if (info.start > 0) windows.push(link(`/ledger?start=${Math.max(0, info.start - info.window)}`, "← older records"));
  if (info.start + info.count < info.total) windows.push(link(`/ledger?start=${info.start + info.count}`, "newer records →"));
  return h("div", {}, h("div", { class: "overview" }, img, cursor),
    h("p", { class: "muted" }, `records ${fmt(info.start + 1)}–${fmt(info.start + info.count)} of ${fmt(info.total)}` +
      (info.broken ? ` · ${fmt(info.broken)} broken` : ""), " ", ...windows.flatMap((w) => [w, " "])));
}

async function recordView(atom) {
  const data = await api(`/api/ledger/records/${enc(atom)}`);
  const r = data.record;
  const state = data.problem ? chip("broken", "bad") : data.verified === true ? chip("verified", "ok") :
    data.verified === false ? chip("after the break: unverified", "warn") : chip("verifying…", "warn");
  const regions = Object.entries(data.grid.state_space_grid.pixel_states);
  const tokens = h("div", { class: "tokens", role: "list", "aria-label": "Token stream" },
    data.tokens.map((t) => h("span", { class: `tok ${t.type}`, role: "listitem", title: `#${t.pos} ${t.type}` }, t.token)));
  const counts = {};
  for (const t of data.tokens) counts[t.type] = (counts[t.type] || 0) + 1;
  setPage([r.id || atom, state],
    data.problem ? h("div", { class: "banner bad", role: "alert" }, `This record fails its checks: ${data.problem}`) : null,
    h("p", {}, link("/ledger", "← timeline"), data.position !== null ? ` · record #${fmt(data.position + 1)}` : ""),
    h("div", { class: "grid2" },
      card("Record", kv([["seq", fmt(r.seq)], ["type", r.type], ["agent", r.agent], ["corridor", h("span", { class: "mono" }, r.corridor)],
        ["op", r.op], ["time", h("span", { class: "mono" }, r.ts)], ["prev", h("span", { class: "mono" }, r.prev)], ["hash", h("span", { class: "mono" }, r.hash)]])),
      card("Canonical JSON (RFC 8785: what was hashed, plus hash)", h("pre", { tabindex: "0", "aria-label": "Canonical JSON" }, data.canonical))),
    h("div", { class: "grid2" },
      card(`Token stream (${fmt(data.tokens.length)} tokens)`, h("p", { class: "muted" }, Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(" · ")), tokens),
      card("Pixel grid", h("img", { class: "picture", src: `/api/ledger/records/${enc(atom)}/grid.png`, alt: `Pixel grid of ${atom}` }),
        table(["region", "x, y", "state"], regions.map(([name, g]) => h("tr", {}, h("td", { class: "mono" }, name), h("td", {}, `${g.x}, ${g.y}`), h("td", { class: "mono" }, g.state)))))));
}

// -- cartridges ----------------------------------------------------------------------------------

async function cartridgesView() {
  const data = await api("/api/cartridges");
  setPage("Cartridges",
    data.cartridges.length ? h("div", { class: "grid3" }, data.cartridges.map((c) => card(null,
      h("h2", {}, link(`/cartridges/${enc(c.name)}`, c.name)),
      kv([["current", c.current ? chip(c.current, "current") : chip("none", "warn")], ["versions", fmt(c.versions.length)],
        ["latest", c.versions[c.versions.length - 1].version]]))))
      : card(null, h("p", { class: "muted" }, "No cartridges are registered. Register one with pxos-kernel cartridge register NAME.pxa.")),
    card("Recent transitions", historyTable(data.history)));
}

function historyTable(entries) {
  return h("div", { class: "scroll" }, table(["time", "cartridge", "action", "outcome", "by", "detail", "ledger"], entries.map((e) =>
    h("tr", { class: e.outcome === "refused" ? "broken" : null }, h("td", { class: "mono" }, time(e.at)), h("td", {}, `${e.name}@${e.version}`),
      h("td", {}, e.action), h("td", {}, chip(e.outcome, e.outcome === "refused" || e.outcome === "failed" ? "bad" : "ok")),
      h("td", {}, e.by || ""), h("td", {}, e.detail || ""), h("td", { class: "mono" }, e.ledger_id ? link(`/ledger/${enc(e.ledger_id)}`, e.ledger_id) : "")))));
}

function lineageGraph(data, selected, onSelect) {
  const depth = {}, row = {}, rows = {};
  const byVersion = Object.fromEntries(data.nodes.map((n) => [n.version, n]));
  for (const n of data.nodes) {
    depth[n.version] = n.generation || 0;
    const d = depth[n.version];
    row[n.version] = rows[d] = (rows[d] === undefined ? 0 : rows[d] + 1);
  }
  const maxDepth = Math.max(0, ...Object.values(depth)), maxRow = Math.max(0, ...Object.values(row));
  const X = (v) => 50 + depth[v] * 150, Y = (v) => 40 + row[v] * 70;
  const svg = h("svg:svg", { viewBox: `0 0 ${maxDepth * 150 + 120} ${maxRow * 70 + 80}`, width: maxDepth * 150 + 120, height: maxRow * 70 + 80, role: "group", "aria-label": `Lineage of ${data.name}` });
  for (const e of data.edges) {
    if (!(e.from in byVersion)) continue;
    svg.append(h("svg:line", { x1: X(e.from), y1: Y(e.from), x2: X(e.to), y2: Y(e.to), stroke: "#94a3b8", "stroke-width": 2 }));
  }
  const colours = { current: "#22c55e", experimental: "#fbbf24", failed: "#ef4444", superseded: "#cbd5e1" };
  for (const n of data.nodes) {
    const g = h("svg:g", { class: "node" + (n.version === selected ? " selected" : ""), tabindex: "0", role: "button",
      "aria-label": `${data.name}@${n.version}, ${n.status}`, transform: `translate(${X(n.version)},${Y(n.version)})` },
      h("svg:circle", { r: 14, fill: colours[n.status] || "#e2e8f0" }),
      h("svg:text", { y: 34, "text-anchor": "middle", "font-size": 12, fill: "#1f2933" }, n.version),
      h("svg:title", {}, `${n.version} (${n.status}), generation ${n.generation}`));
    g.addEventListener("click", () => onSelect(n.version));
    g.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); onSelect(n.version); } });
    svg.append(g);
  }
  return h("div", { class: "lineage" }, svg,
    h("p", { class: "muted" }, "green current · yellow experimental · red failed · grey superseded; select a version"));
}

async function cartridgeView(name) {
  const params = new URLSearchParams(location.search);
  const data = await api(`/api/cartridges/${enc(name)}`);
  const chosen = params.get("version") || data.current || data.nodes[data.nodes.length - 1].version;
  const select = (v) => go(`/cartridges/${enc(name)}?version=${enc(v)}`, true);
  const detail = await api(`/api/cartridges/${enc(name)}/versions/${enc(chosen)}`);
  const rec = detail.record, tests = rec.tests;
  const guardrails = tests && tests.guardrails ? tests.guardrails.items : [];
  const versions = data.nodes.map((n) => n.version);
  const message = h("div", { role: "status", "aria-live": "polite" });

  const transition = (action) => {
    const form = h("form", { "aria-label": `${action} ${name}` });
    const who = h("input", { name: "approved_by", id: `${action}-who`, autocomplete: "name", placeholder: "your name" });
    const why = h("input", { name: "reason", id: `${action}-why`, placeholder: "why", size: 30 });
    const target = action === "promote" ? h("input", { type: "hidden", name: "version", value: chosen })
      : h("select", { name: "version", id: "rollback-to" }, h("option", { value: "" }, "the one current before"),
        versions.filter((v) => v !== data.current).map((v) => h("option", { value: v }, v)));
    form.append(h("div", { class: "row" },
      action === "rollback" ? h("label", { for: "rollback-to" }, "Roll back to", target) : target,
      h("label", { for: who.id }, "Approved by (a person)", who), h("label", { for: why.id }, "Reason", why),
      h("button", { type: "submit", class: action === "promote" ? "primary" : "danger",
        disabled: action === "promote" && rec.status === "current" }, action === "promote" ? `Promote ${chosen}` : "Roll back")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = Object.fromEntries(new FormData(form));
      body.expected_current = data.current;
      message.replaceChildren();
      try {
        const done = await api(`/api/cartridges/${enc(name)}/${action}`, { json: body });
        message.replaceChildren(h("div", { class: "banner ok" }, `${done.record.name}@${done.record.version} is now current` +
          (done.history && done.history.ledger_id ? ` (ledger ${done.history.ledger_id})` : "")));
        setTimeout(() => go(`/cartridges/${enc(name)}?version=${enc(done.record.version)}`, true), 900);
      } catch (error) { message.replaceChildren(errorBox(error)); }
    });
    return form;
  };

  const diffA = h("select", { id: "diff-a", name: "a" }, versions.map((v) => h("option", { value: v, selected: v === (rec.parent || versions[0]) }, v)));
  const diffB = h("select", { id: "diff-b", name: "b" }, versions.map((v) => h("option", { value: v, selected: v === chosen }, v)));
  const diffOut = h("div", {});
  const showDiff = async () => {
    try {
      const d = await api(`/api/cartridges/${enc(name)}/diff?a=${enc(diffA.value)}&b=${enc(diffB.value)}`);
      diffOut.replaceChildren(
        h("p", {}, `${d.members.length} member(s) differ, ${d.unchanged} unchanged`),
        d.manifest.length ? diffBlock(d.manifest) : h("p", { class: "muted" }, "manifests are identical"),
        d.members.map((m) => h("div", {}, h("h3", {}, `${m.status}: ${m.path}`), m.diff ? diffBlock(m.diff) :
          h("p", { class: "muted" }, `${m.before === null ? "–" : bytes(m.before)} → ${m.after === null ? "–" : bytes(m.after)} (binary)`))));
    } catch (error) { diffOut.replaceChildren(errorBox(error)); }
  };
  const testButton = h("button", { onclick: async () => {
    testButton.disabled = true; testButton.textContent = "Testing in the sandbox…";
    try { await api(`/api/cartridges/${enc(name)}/versions/${enc(chosen)}/test`, { json: {} }); select(chosen); }
    catch (error) { message.replaceChildren(errorBox(error)); testButton.disabled = false; testButton.textContent = "Run tests"; }
  } }, "Run tests");

  setPage([`${name}@${chosen}`, chip(rec.status)],
    h("p", {}, link("/cartridges", "← cartridges")),
    card("Lineage", lineageGraph(data, chosen, select)),
    message,
    h("div", { class: "grid2" },
      card("Version", kv([["parent", rec.parent || "–"], ["generation", rec.generation], ["builder", `${rec.builder.kind}: ${rec.builder.who}`],
        ["created", time(rec.created)], ["sha256", h("span", { class: "mono" }, rec.sha256)], ["size", bytes(rec.size)],
        ["breaking", rec.breaking ? "yes" : "no"], ["notes", rec.notes || "–"],
        ["promoted", rec.promoted ? `${rec.promoted.action || "promote"} by ${rec.promoted.by} (${rec.promoted.kind}): ${rec.promoted.reason}` : "–"]]),
        h("h3", {}, "Manifest"), h("pre", { tabindex: "0" }, JSON.stringify(rec.manifest, null, 2))),
      card("Tests", tests ? h("div", {}, h("p", {}, chip(tests.passed ? "passed" : "failed"), ` ${tests.status}, exit ${tests.exit_code}, `,
        JSON.stringify(tests.counts || {}), ` in ${tests.duration}s · `, tests.run_id ? link(`/ledger/${enc(tests.run_id)}`, tests.run_id) : ""),
        h("details", {}, h("summary", {}, "output"), h("pre", {}, tests.output || "")))
        : h("p", { class: "muted" }, "never tested"), h("div", { class: "row" }, testButton),
        h("h3", {}, "Genesis report"), guardrails.length ? h("div", { class: "scroll" }, table(["guardrail", "status", "evidence"], guardrails.map((g) =>
          h("tr", {}, h("td", { class: "mono" }, g.id), h("td", {}, chip(g.status)), h("td", {}, g.evidence, (g.violations || []).map((v) => h("div", { class: "error" }, typeof v === "string" ? v : v.message)))))))
          : h("p", { class: "muted" }, "no guardrail results (test the version first)"))),
    card("Promote and roll back", h("p", { class: "muted" }, "The same checks and ledger records as pxos-kernel cartridge promote/rollback; a person's name and a reason are required."),
      transition("promote"), h("hr"), data.current ? transition("rollback") : h("p", { class: "muted" }, "no current version to roll back from")),
    card("Diff two versions", h("div", { class: "row" }, h("label", { for: "diff-a" }, "from", diffA), h("label", { for: "diff-b" }, "to", diffB),
      h("button", { onclick: showDiff }, "Compare")), diffOut),
    h("div", { class: "grid2" },
      card(`Members (${detail.members.length})`, detail.archive_problem ? errorBox(new Error(detail.archive_problem)) : null,
        h("div", { class: "scroll" }, table(["path", "size", "sha256"], detail.members.map((m) => h("tr", {}, h("td", { class: "mono" }, m.path), h("td", { class: "num" }, bytes(m.size)), h("td", { class: "mono" }, short(m.sha256, 16))))))),
      card("History", historyTable(data.history))));
}

function diffBlock(lines) {
  return h("pre", { class: "diff", tabindex: "0" }, lines.map((line) => h("span", {
    class: line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : null }, line + "\n")));
}

// -- storage -------------------------------------------------------------------------------------

async function storageView() {
  const data = await api("/api/storage");
  setPage("Storage", h("div", { class: "grid3" }, data.backends.map((b) => card(null,
    h("h2", {}, link(`/storage/${enc(b.scheme)}`, `${b.scheme}://`)), h("p", { class: "muted" }, b.summary),
    b.error ? errorBox(new Error(b.error)) : kv([["objects", fmt(b.objects)], ["plugin", b.plugin]]),
    b.map ? h("p", {}, link(`/map/${enc(b.scheme)}`, "Open the map →")) : null))));
}

async function objectsView(scheme) {
  const params = new URLSearchParams(location.search);
  const pageNumber = Number(params.get("page") || 1);
  const data = await api(`/api/storage/${enc(scheme)}?page=${pageNumber}&prefix=${enc(params.get("prefix") || "")}`);
  setPage(`${scheme}://`, h("p", {}, link("/storage", "← storage"), data.map ? [" · ", link(`/map/${enc(scheme)}`, "open the map")] : null),
    card(`${fmt(data.total)} objects`, h("div", { class: "scroll" }, table(["key", "size", "kind", "content type", "sha256"], data.objects.map((o) =>
      h("tr", {}, h("td", { class: "mono" }, link(`/storage/${enc(scheme)}/${encPath(o.key)}`, o.key)), h("td", { class: "num" }, bytes(o.size)),
        h("td", {}, o.kind), h("td", {}, o.content_type || "–"), h("td", { class: "mono" }, short(o.sha256, 16)))))),
      h("nav", { class: "pager", "aria-label": "Pages" },
        h("button", { disabled: pageNumber <= 1, onclick: () => go(`/storage/${enc(scheme)}?page=${pageNumber - 1}`) }, "← Previous"),
        h("span", {}, `page ${data.page} of ${data.pages}`),
        h("button", { disabled: pageNumber >= data.pages, onclick: () => go(`/storage/${enc(scheme)}?page=${pageNumber + 1}`) }, "Next →"))));
}

async function objectView(scheme, key) {
  const info = await api(`/api/storage/${enc(scheme)}/objects/${encPath(key)}`);
  const result = h("div", { role: "status", "aria-live": "polite" });
  const verify = async () => {
    result.replaceChildren("verifying…");
    try { const v = await api(`/api/storage/${enc(scheme)}/verify/${encPath(key)}`, { json: {} }); result.replaceChildren(h("div", { class: "banner ok" }, `ok: ${bytes(v.size)}, sha256 ${v.sha256}`)); }
    catch (error) { result.replaceChildren(errorBox(error)); }
  };
  const picture = h("div", {});
  if (info.pictures) {
    const img = h("img", { class: "picture", alt: `The pixels of ${info.uri}`, src: `/api/storage/${enc(scheme)}/picture/${encPath(key)}` });
    img.addEventListener("error", async () => {
      try { await api(img.getAttribute("src")); } catch (error) { picture.replaceChildren(errorBox(error)); }
    });
    let zoom = 1;
    const show = () => { img.style.width = `${img.naturalWidth * zoom}px`; img.style.maxWidth = "none"; zoomer.textContent = `zoom ×${zoom >= 8 ? 1 : zoom * 2}`; };
    const zoomer = h("button", { onclick: () => { zoom = zoom >= 8 ? 1 : zoom * 2; show(); } }, "zoom ×2");
    img.addEventListener("load", () => { zoom = Math.max(1, Math.min(8, 2 ** Math.floor(Math.log2(512 / img.naturalWidth)))); show(); });
    picture.append(h("div", { class: "row" }, zoomer), h("div", { class: "scroll" }, img));
  }
  setPage(h("span", { class: "mono" }, info.uri), h("p", {}, link(`/storage/${enc(scheme)}`, `← ${scheme}://`)),
    h("div", { class: "grid2" },
      card("Object", kv([["key", info.key], ["size", `${bytes(info.size)} (${fmt(info.size)} bytes)`], ["kind", info.kind], ["content type", info.content_type || "–"],
        ["sha256", h("span", { class: "mono" }, info.sha256)], ...Object.entries(info.meta || {}).map(([k, v]) => [k, h("span", { class: "mono" }, typeof v === "object" ? JSON.stringify(v) : String(v))])]),
        h("div", { class: "row" }, h("a", { class: "button", href: `/api/storage/${enc(scheme)}/download/${encPath(key)}`, download: key.split("/").pop() }, "Download"),
          h("button", { onclick: verify }, "Verify"), info.map ? link(`/map/${enc(scheme)}?focus=${enc(key)}`, "show on the map") : null), result),
      card("Pixels", info.pictures ? picture : h("p", { class: "muted" }, "this backend cannot draw its objects"))));
}

// -- the map viewer ----------------------------------------------------------------------------------

async function mapView(scheme) {
  const params = new URLSearchParams(location.search);
  const data = await api(`/api/maps/${enc(scheme)}`);
  const S = data.tile_size;
  const view = h("div", { class: "map", tabindex: "0", role: "application", "aria-label": "Map: arrow keys pan, + and - zoom" });
  const hud = h("div", { class: "hud", "aria-live": "polite" });
  const layer = h("div", {});
  view.append(layer, hud);
  const b = data.bounds;
  // zoom z: z <= 0 shows picture level -z at 1:1; z > 0 shows level 0 magnified 2**z times.
  let z = 0, cx = 0, cy = 0;
  const fit = (x0, y0, w, hgt) => {
    cx = x0 + w / 2; cy = y0 + hgt / 2;
    const width = view.clientWidth || 800, height = view.clientHeight || 560;
    z = 0;
    while (z > -(data.levels - 1) && (w / 2 ** -z > width || hgt / 2 ** -z > height)) z -= 1;
    while (z < 4 && w * 2 ** (z + 1) <= width && hgt * 2 ** (z + 1) <= height && z >= 0) z += 1;
  };
  const tiles = new Map();
  let fetched = 0;
  const draw = () => {
    const level = Math.max(0, -z), scale = z > 0 ? 2 ** z : 1, span = S * 2 ** level, shown = S * scale;
    const width = view.clientWidth, height = view.clientHeight;
    const left = cx - (width / 2) * (span / shown), top = cy - (height / 2) * (span / shown);
    const wanted = new Set();
    if (b) {
      const lo = (v) => Math.floor(v / 2 ** level);
      const tx0 = Math.max(Math.floor(left / span), lo(b.min_tx)), tx1 = Math.min(Math.floor((left + width * span / shown) / span), lo(b.max_tx));
      const ty0 = Math.max(Math.floor(top / span), lo(b.min_ty)), ty1 = Math.min(Math.floor((top + height * span / shown) / span), lo(b.max_ty));
      for (let ty = ty0; ty <= ty1; ty++) {
        for (let tx = tx0; tx <= tx1; tx++) {
          const key = `${level}/${tx}/${ty}`;
          wanted.add(key);
          let img = tiles.get(key);
          if (!img) {
            img = h("img", { alt: "", src: `/api/maps/${enc(scheme)}/tiles/${key}?v=${data.version}`, draggable: "false" });
            img.addEventListener("load", () => { fetched += 1; view.dataset.tilesLoaded = String(fetched); });
            tiles.set(key, img);
            layer.append(img);
          }
          img.style.left = `${(tx * span - left) * shown / span}px`;
          img.style.top = `${(ty * span - top) * shown / span}px`;
          img.style.width = img.style.height = `${shown}px`;
        }
      }
    }
    for (const [key, img] of tiles) if (!wanted.has(key)) { img.remove(); tiles.delete(key); }
    for (const box of layer.querySelectorAll(".region")) box.remove();
    for (const r of data.regions) {
      layer.append(Object.assign(h("div", { class: "region", title: r.key }), {}));
      const box = layer.lastElementChild;
      box.style.left = `${(r.x - left) * shown / span}px`; box.style.top = `${(r.y - top) * shown / span}px`;
      box.style.width = `${r.width * shown / span}px`; box.style.height = `${Math.max(1, r.height * shown / span)}px`;
    }
    view.dataset.level = String(level);
    view.dataset.zoom = String(z);
    view.dataset.center = `${Math.round(cx)},${Math.round(cy)}`;
    hud.textContent = `zoom ${z >= 0 ? "×" + 2 ** z : "1/" + 2 ** -z} · level ${level} · centre ${Math.round(cx)}, ${Math.round(cy)} · ${wanted.size} tiles`;
  };
  const zoom = (dz) => { z = Math.max(-(data.levels - 1), Math.min(4, z + dz)); draw(); };
  const pan = (dx, dy) => { const level = Math.max(0, -z), f = (2 ** level) / (z > 0 ? 2 ** z : 1); cx += dx * f; cy += dy * f; draw(); };
  let drag = null;
  view.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; view.setPointerCapture(e.pointerId); view.classList.add("dragging"); });
  view.addEventListener("pointermove", (e) => { if (!drag) return; pan(drag[0] - e.clientX, drag[1] - e.clientY); drag = [e.clientX, e.clientY]; });
  view.addEventListener("pointerup", () => { drag = null; view.classList.remove("dragging"); });
  view.addEventListener("wheel", (e) => { e.preventDefault(); zoom(e.deltaY < 0 ? 1 : -1); }, { passive: false });
  view.addEventListener("keydown", (e) => {
    const step = 96, keys = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (e.key in keys) { e.preventDefault(); pan(...keys[e.key]); }
    else if (e.key === "+" || e.key === "=") { e.preventDefault(); zoom(1); }
    else if (e.key === "-" || e.key === "_") { e.preventDefault(); zoom(-1); }
  });
  const goTo = (r) => { fit(r.x, r.y, r.width, Math.max(r.height, 1)); draw(); view.focus(); };
  const whole = () => { if (b) { fit(b.min_tx * S, b.min_ty * S, (b.max_tx - b.min_tx + 1) * S, (b.max_ty - b.min_ty + 1) * S); draw(); } };
  setPage(`Map of ${scheme}://`, h("p", {}, link(`/storage/${enc(scheme)}`, `← ${scheme}://`), ` · ${fmt(data.tiles)} tiles of ${S}×${S}, ${data.levels} levels, built on demand and cached`),
    h("div", { class: "grid-map" },
      card(null, h("div", { class: "row" }, h("button", { onclick: () => zoom(1), "aria-label": "Zoom in" }, "+"), h("button", { onclick: () => zoom(-1), "aria-label": "Zoom out" }, "−"),
        h("button", { onclick: whole }, "Whole map"), h("span", { class: "muted" }, "drag or arrow keys to pan, wheel or +/− to zoom")), view),
      card(`Regions (${data.regions.length})`, h("div", { class: "scroll" }, table(["object", "at", "size"], data.regions.map((r) =>
        h("tr", {}, h("td", { class: "mono" }, h("a", { href: "#", onclick: (e) => { e.preventDefault(); goTo(r); } }, r.key)), h("td", { class: "mono" }, `${r.x}, ${r.y}`), h("td", { class: "num" }, bytes(r.size)))))))));
  if (!b) { hud.textContent = "this map is empty"; return; }
  const focus = data.regions.find((r) => r.key === params.get("focus"));
  if (focus) goTo(focus); else whole();
  const onResize = () => draw();
  window.addEventListener("resize", onResize);
  cleanup.push(() => window.removeEventListener("resize", onResize));
}

// -- models ------------------------------------------------------------------------------------------

async function modelsView() {
  const data = await api("/api/models");
  setPage("Models", h("p", { class: "muted" }, `memory available: ${bytes(data.available_memory)}`),
    h("div", { class: "grid3" }, data.engines.map((e) => card(null, h("h2", {}, e.name, e.default ? " " : "", e.default ? chip("default", "ok") : ""),
      h("p", { class: "muted" }, e.summary), e.error ? errorBox(new Error(e.error)) :
        h("ul", {}, e.models.map((m) => h("li", {}, link(`/models/${enc(e.name)}/${enc(m)}`, m)))))))
  );
}

async function modelView(engine, model) {
  const info = await api(`/api/models/${enc(engine)}/${enc(model)}`);
  const fits = info.memory_needed <= info.memory_available * 0.8;
  const out = h("pre", { class: "stream", "aria-live": "polite", "aria-label": "Generated text", id: "generated" }, "");
  const stats = h("p", { class: "muted", role: "status" });
  const prompt = h("textarea", { id: "prompt", rows: 4 }, "def fibonacci(n):\n    ");
  const field = (label, attrs) => h("label", { for: attrs.id }, label, h("input", attrs));
  const form = h("form", { "aria-label": "Generate" }, h("label", { for: "prompt" }, "Prompt", prompt),
    h("div", { class: "row" }, field("max tokens", { id: "max-tokens", type: "number", value: 120, min: 1, max: 1024 }),
      field("temperature", { id: "temperature", type: "number", value: 0.8, step: 0.1, min: 0, max: 5 }),
      field("seed", { id: "seed", type: "number", value: 1 }), h("span", { class: "spacer" }),
      h("button", { type: "submit", class: "primary", id: "generate", disabled: !fits }, "Generate")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true; out.textContent = ""; stats.textContent = "generating…";
    try {
      const response = await fetch("/api/models/generate", { method: "POST", headers: { "X-Pxos-Token": TOKEN, "Content-Type": "application/json" },
        body: JSON.stringify({ engine, model, prompt: prompt.value, max_tokens: form.querySelector("#max-tokens").value,
          temperature: form.querySelector("#temperature").value, seed: form.querySelector("#seed").value }) });
      if (!response.ok) { let m = response.statusText; try { m = (await response.json()).error; } catch (e) { /* not JSON */ } throw new Error(m); }
      let chunks = 0;
      await readEvents(response, (kind, data) => {
        if (kind === "chunk") { out.textContent += data.text; chunks += 1; out.dataset.chunks = String(chunks); }
        else if (kind === "done") stats.textContent = `${data.tokens} tokens in ${data.seconds}s (${data.tokens_per_second} tokens/s), finished: ${data.finish_reason}`;
        else if (kind === "error") stats.replaceChildren(errorBox(new Error(data.error)));
      });
    } catch (error) { stats.replaceChildren(errorBox(error)); }
    button.disabled = !fits;
  });
  const pictures = h("div", { class: "gallery" }, info.tensors.map((t) => h("figure", {},
    h("figcaption", {}, `${t.name} ${JSON.stringify(t.shape)} ${t.encoding}`),
    h("img", { loading: "lazy", alt: `weights of ${t.name}`, src: `/api/models/${enc(engine)}/${enc(model)}/tensors/${enc(t.name)}` }))));
  setPage([model, chip(engine, "type")], h("p", {}, link("/models", "← models")),
    fits ? null : h("div", { class: "banner bad", role: "alert" }, `This model needs ${bytes(info.memory_needed)} of memory and ${bytes(info.memory_available)} is available: it is not loaded.`),
    h("div", { class: "grid2" },
      card("Generate", form, out, stats),
      card("Model", kv([["file", h("span", { class: "mono" }, info.path)], ["size", bytes(info.size)], ["parameters", fmt(info.parameters)],
        ["memory to load", `${bytes(info.memory_needed)} (available ${bytes(info.memory_available)})`],
        ...Object.entries(info.config || {}).map(([k, v]) => [k, String(v)])]))),
    card(`Tensor directory (${info.tensors.length})`, h("div", { class: "scroll" }, table(["name", "shape", "dtype", "encoding", "parameters", "bytes"],
      info.tensors.map((t) => h("tr", {}, h("td", { class: "mono" }, t.name), h("td", { class: "mono" }, JSON.stringify(t.shape)), h("td", {}, t.dtype),
        h("td", {}, t.encoding), h("td", { class: "num" }, fmt(t.parameters)), h("td", { class: "num" }, bytes(t.length))))))),
    card("A picture per tensor", h("p", { class: "muted" }, "red positive, blue negative, white zero; each tensor scaled by its 99th percentile magnitude"), pictures));
}

// -- system --------------------------------------------------------------------------------------

async function systemView() {
  const [plugins, inspect] = await Promise.all([api("/api/system/plugins"), api("/api/system/inspect")]);
  const k = inspect.kernel;
  const genesisOut = h("div", { "aria-live": "polite" });
  const run = h("button", { class: "primary", onclick: async () => {
    run.disabled = true; genesisOut.replaceChildren(h("p", { class: "muted" }, "running every guardrail…"));
    try {
      const g = await api("/api/system/genesis", { json: {} });
      genesisOut.replaceChildren(h("p", {}, chip(`${g.counts.passed} passed`, "ok"), " ", chip(`${g.counts.failed} failed`, g.counts.failed ? "bad" : "superseded"), " ",
        chip(`${g.counts.unchecked} unchecked`, "warn"), " · recorded as ", link(`/ledger/${enc(g.ledger_id)}`, g.ledger_id)),
        g.items.length ? h("div", { class: "scroll" }, table(["guardrail", "status", "rule", "evidence"], g.items.map((i) => h("tr", { class: i.status === "failed" ? "broken" : null },
          h("td", { class: "mono" }, i.id), h("td", {}, chip(i.status)), h("td", {}, i.text), h("td", {}, i.evidence, (i.violations || []).map((v) => h("div", {}, `⚠ ${v}`)))))))
          : h("p", { class: "muted" }, "no guardrails are installed: this is not a compliance result"));
    } catch (error) { genesisOut.replaceChildren(errorBox(error)); }
    run.disabled = false;
  } }, "Run genesis");
  setPage("System",
    h("div", { class: "grid2" },
      card("Kernel", kv([["version", k.version], ["python", k.python], ["platform", k.platform], ["home", h("span", { class: "mono" }, k.home)],
        ["world", `${inspect.world.name} (${inspect.world.source})`], ["ledger", h("span", { class: "mono" }, inspect.ledger.location)],
        ["head", inspect.ledger.head ? (inspect.ledger.head.id ? link(`/ledger/${enc(inspect.ledger.head.id)}`, inspect.ledger.head.id) : JSON.stringify(inspect.ledger.head)) : "empty"]]),
        inspect.problems.length ? inspect.problems.map((p) => errorBox(new Error(p))) : null),
      card("Sandbox protections in force", table(["protection", "enforced", "how"], Object.entries(inspect.sandbox).map(([name, p]) =>
        h("tr", { class: p.enforced ? null : "broken" }, h("td", {}, name), h("td", {}, chip(p.enforced ? "yes" : "no", p.enforced ? "ok" : "bad")), h("td", {}, p.how)))))),
    card(`Plugins (${plugins.plugins.length})`, h("div", { class: "scroll" }, table(["plugin", "distribution", "version", "loaded", "registered"], plugins.plugins.map((p) =>
      h("tr", { class: p.loaded ? null : "broken" }, h("td", {}, p.name), h("td", {}, p.distribution), h("td", {}, p.version), h("td", {}, chip(p.loaded ? "yes" : "no", p.loaded ? "ok" : "bad")),
        h("td", {}, Object.entries(p.registered).map(([family, names]) => h("div", {}, h("b", {}, family), ": ", names.join(", "))), (p.errors || []).map((e) => h("div", { class: "error" }, e))))))),
      plugins.problems.map((p) => errorBox(new Error(p)))),
    card("Registries", kv(Object.entries(inspect.registries).filter(([f]) => f !== "subcommand").map(([f, names]) => [f, names.join(", ") || "–"]))),
    card("Genesis", h("p", { class: "muted" }, "Every registered guardrail against the current world, with its evidence, recorded in the ledger as pxos-kernel genesis records it."), run, genesisOut));
}

render();
refreshChain();
