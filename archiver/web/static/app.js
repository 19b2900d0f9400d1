// The prexmon archive in a browser: plain JavaScript over the archiver's
// query API. Everything shown comes from fetch() with the read token the
// user gave (sessionStorage, this tab only); data is put into the page as
// text, never as HTML.

const $ = (sel) => document.querySelector(sel);
const tokenKey = "prexmon.readToken";

// ---- API ---------------------------------------------------------------

class AuthError extends Error {}

async function api(path) {
  const headers = {};
  const token = sessionStorage.getItem(tokenKey);
  if (token) headers.Authorization = "Bearer " + token;
  const resp = await fetch(path, { headers });
  if (resp.status === 401) {
    showAuth(token ? "The token was refused." : "");
    throw new AuthError("a read token is required");
  }
  let body;
  try {
    body = await resp.json();
  } catch {
    throw new Error(`${path}: HTTP ${resp.status}`);
  }
  if (body.status !== "success") throw new Error(body.error || `HTTP ${resp.status}`);
  return body;
}

function status(msg, isError = false) {
  const el = $("#status");
  el.textContent = msg;
  el.classList.toggle("error", isError);
}

function fail(err) {
  if (err instanceof AuthError) return;
  status(err.message, true);
}

function showAuth(msg) {
  for (const m of document.querySelectorAll("main")) m.hidden = true;
  $("#auth").hidden = false;
  status(msg, Boolean(msg));
}

$("#auth-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(tokenKey, $("#token").value.trim());
  $("#token").value = "";
  $("#auth").hidden = true;
  status("");
  route();
});

// ---- helpers -----------------------------------------------------------

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.append(c instanceof Node ? c : el("td", c));
  return tr;
}

function td(content, cls) {
  const cell = el("td", null, cls);
  cell.append(content instanceof Node ? content : document.createTextNode(content ?? ""));
  return cell;
}

function fmtTime(s) {
  if (!s || s.startsWith("0001-")) return "never";
  return s.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
}

function fmtClock(s) {
  return s.slice(11, 19);
}

function fmtBytes(n) {
  if (n === undefined || n === null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function fmtDuration(sec) {
  const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60);
  return (d ? d + "d " : "") + h + "h " + m + "m";
}

function meter(pct) {
  const m = document.createElement("meter");
  m.min = 0; m.max = 100; m.low = 70; m.high = 90; m.optimum = 0;
  m.value = pct || 0;
  const wrap = el("span");
  wrap.append(m, document.createTextNode(" " + (pct || 0).toFixed(1) + " %"));
  return wrap;
}

function todayUTC() {
  return new Date().toISOString().slice(0, 10);
}

function setQuery(params, replace) {
  const url = new URL(location.href);
  url.search = new URLSearchParams(params).toString();
  if (url.href === location.href) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
}

// ---- fleet -------------------------------------------------------------

async function showFleet() {
  $("#agent").hidden = true;
  $("#fleet").hidden = false;
  document.title = "prexmon archive";
  if (!$("#search-date").value) $("#search-date").value = todayUTC();
  status("loading agents…");
  const { data } = await api("/api/v1/agents");
  const tbody = $("#agents tbody");
  tbody.replaceChildren();
  data.sort((a, b) => (a.target < b.target ? -1 : 1));
  for (const a of data) {
    const health = el("td");
    health.append(el("span", null, "health " + a.health), document.createTextNode(a.health));
    const labels = Object.entries(a.labels || {}).map(([k, v]) => `${k}=${v}`).join(" ");
    const tr = row([health, td(a.target), td(a.ip), td(labels), td(fmtTime(a.last_scrape)), td(a.last_error, "error-text")]);
    tr.className = "link";
    tr.dataset.ip = a.ip;
    tr.dataset.text = [a.target, a.ip, labels, a.last_error, a.health].join(" ").toLowerCase();
    tr.addEventListener("click", () => openAgent(a.ip));
    tbody.append(tr);
  }
  filterAgents();
  $("#agents").dataset.count = String(data.length);
  status(`${data.length} agents`);
}

function filterAgents() {
  const q = $("#agent-filter").value.trim().toLowerCase();
  for (const tr of $("#agents tbody").children) tr.hidden = q !== "" && !tr.dataset.text.includes(q);
}

$("#agent-filter").addEventListener("input", filterAgents);
$("#open-ip").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const ip = $("#open-ip-value").value.trim();
  if (ip) openAgent(ip);
});

$("#search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const kind = $("#search-kind").value;
  const params = new URLSearchParams({ date: $("#search-date").value, [kind]: $("#search-text").value });
  const table = $("#search-results");
  const tbody = table.querySelector("tbody");
  status("searching…");
  $("#search-summary").textContent = "";
  try {
    const body = await api("/api/v1/search?" + params);
    tbody.replaceChildren();
    for (const h of body.data) {
      const ex = el("td", null, "examples");
      for (const e of h.examples) {
        const line = kind === "process"
          ? `${e.pid} ${e.name} ${e.user || ""}: ${e.cmdline || ""}`
          : `${e.user} ${e.terminal} from ${e.host || "local"} since ${fmtTime(e.started_at)}`;
        ex.append(el("div", line));
      }
      const link = el("a", h.ip);
      link.href = "/?" + new URLSearchParams({ ip: h.ip, at: h.last_seen });
      link.addEventListener("click", (e2) => { e2.preventDefault(); openAgent(h.ip, h.last_seen); });
      tbody.append(row([td(link), td(fmtTime(h.first_seen)), td(fmtTime(h.last_seen)), td(h.snapshots, "num"), ex]));
    }
    table.hidden = body.data.length === 0;
    const warn = (body.warnings || []).join("; ");
    $("#search-summary").textContent = `${body.data.length} agent${body.data.length === 1 ? "" : "s"} matched on ${params.get("date")}` + (warn ? ` (${warn})` : "");
    table.dataset.count = String(body.data.length);
    status("");
  } catch (err) {
    fail(err);
    $("#search-summary").textContent = err instanceof AuthError ? "" : "Search failed: " + err.message;
  }
});

// ---- one agent ---------------------------------------------------------

const view = { ip: "", at: "", snap: null, sort: "cpu", started: new Set(), days: [] };

function openAgent(ip, at) {
  setQuery(at ? { ip, at } : { ip });
  route();
}

async function showAgent(ip, at) {
  $("#fleet").hidden = true;
  $("#agent").hidden = false;
  $("#compare-view").hidden = true;
  view.started = new Set();
  if (view.ip !== ip) {
    view.ip = ip;
    view.snap = null;
    for (const sel of ["#moment", "#cmp-moment"]) $(sel).replaceChildren();
    $("#agent-title").textContent = ip;
    document.title = ip + " · prexmon archive";
    status("loading days…");
    const { data } = await api("/api/v1/files?ip=" + encodeURIComponent(ip));
    view.days = [...new Set(data.map((f) => f.date))].sort().reverse();
    for (const sel of [$("#day"), $("#cmp-day")]) {
      sel.replaceChildren(...view.days.map((d) => { const o = el("option", d); o.value = d; return o; }));
    }
  }
  if (!at) {
    status("loading latest snapshot…");
    const { data } = await api(`/api/v1/snapshots/${encodeURIComponent(ip)}/latest`);
    at = data.scraped_at;
    setQuery({ ip }, true);
    await pickDay(at.slice(0, 10), at, "#day", "#moment");
    render(data);
    await pickDay(at.slice(0, 10), at, "#cmp-day", "#cmp-moment");
    return;
  }
  await pickDay(at.slice(0, 10), at, "#day", "#moment");
  await loadMoment($("#moment").value || at);
  if (!$("#cmp-moment").options.length) await pickDay(at.slice(0, 10), at, "#cmp-day", "#cmp-moment");
}

// pickDay fills a moment list with the day's scraped_at times and selects
// the latest at or before at (or the day's last).
async function pickDay(date, at, daySel, momentSel) {
  $(daySel).value = date;
  const { data } = await api(`/api/v1/snapshots/${encodeURIComponent(view.ip)}/${date}?fields=scraped_at`);
  const sel = $(momentSel);
  const times = data.map((d) => d.scraped_at).sort();
  sel.replaceChildren(...times.map((t) => { const o = el("option", fmtClock(t)); o.value = t; return o; }));
  let pick = times.length ? times[times.length - 1] : "";
  if (at) {
    const want = Date.parse(at);
    for (const t of times) if (Date.parse(t) <= want) pick = t;
  }
  sel.value = pick;
  sel.dataset.count = String(times.length);
}

async function loadMoment(at) {
  if (!at) return;
  status("loading snapshot…");
  const date = at.slice(0, 10);
  const q = new URLSearchParams({ from: at, to: at, limit: "1" });
  const { data } = await api(`/api/v1/snapshots/${encodeURIComponent(view.ip)}/${date}?${q}`);
  if (!data.length) throw new Error("no snapshot at " + at);
  render(data[0]);
}

$("#day").addEventListener("change", () => pickDay($("#day").value, "", "#day", "#moment").then(() => momentChanged()).catch(fail));
$("#moment").addEventListener("change", () => momentChanged().catch(fail));
$("#cmp-day").addEventListener("change", () => pickDay($("#cmp-day").value, "", "#cmp-day", "#cmp-moment").catch(fail));
$("#latest").addEventListener("click", () => { setQuery({ ip: view.ip }); route(); });

async function momentChanged() {
  const at = $("#moment").value;
  setQuery({ ip: view.ip, at });
  $("#compare-view").hidden = true;
  view.started = new Set();
  await loadMoment(at);
}

$("#compare").addEventListener("click", async () => {
  const a = $("#moment").value, b = $("#cmp-moment").value;
  if (!a || !b) return;
  const [from, to] = Date.parse(a) <= Date.parse(b) ? [a, b] : [b, a];
  status("comparing…");
  try {
    const body = await api(`/api/v1/diff/${encodeURIComponent(view.ip)}?` + new URLSearchParams({ from, to }));
    const d = body.data;
    $("#compare-title").textContent = `Changes from ${fmtTime(d.from.scraped_at)} to ${fmtTime(d.to.scraped_at)}` +
      (body.warnings ? " — " + body.warnings.join("; ") : "");
    const procLine = (p) => `${p.pid} ${p.name} (${p.user || "?"}, started ${fmtTime(p.started_at)}): ${p.cmdline || ""}`;
    const userLine = (u) => `${u.user} ${u.terminal} from ${u.host || "local"} since ${fmtTime(u.started_at)}`;
    const fill = (sel, items, fmt) => {
      $(sel).replaceChildren(...(items.length ? items.map((x) => el("li", fmt(x))) : [el("li", "none", "none")]));
      $(sel).dataset.count = String(items.length);
    };
    fill("#started", d.processes_started, procLine);
    fill("#ended", d.processes_ended, procLine);
    fill("#logged-in", d.users_logged_in, userLine);
    fill("#logged-out", d.users_logged_out, userLine);
    $("#compare-view").hidden = false;
    // Show the later snapshot with its new processes highlighted.
    $("#moment").value = to;
    if (to.slice(0, 10) !== $("#day").value) await pickDay(to.slice(0, 10), to, "#day", "#moment");
    setQuery({ ip: view.ip, at: to });
    await loadMoment(to);
    view.started = new Set(d.processes_started.map((p) => p.pid + "@" + p.started_at));
    renderProcesses();
    status("");
  } catch (err) {
    fail(err);
  }
});

function render(line) {
  view.snap = line;
  const s = line.snapshot || {};
  $("#shown-at").textContent = `Snapshot scraped ${fmtTime(line.scraped_at)} from ${line.target || line.ip}` +
    (s.errors ? ` — collector errors: ${Object.entries(s.errors).map(([k, v]) => k + ": " + v).join("; ")}` : "");
  const dl = (sel, pairs) => {
    $(sel).replaceChildren();
    for (const [k, v] of pairs) {
      if (v === undefined || v === null || v === "") continue;
      $(sel).append(el("dt", k));
      const dd = el("dd");
      dd.append(v instanceof Node ? v : document.createTextNode(String(v)));
      $(sel).append(dd);
    }
  };
  const h = s.host || {};
  dl("#host", [
    ["Hostname", h.hostname], ["OS", [h.platform, h.platform_version, h.os].filter(Boolean).join(" ")],
    ["Kernel", h.kernel_version], ["Arch", h.arch], ["Uptime", h.uptime_seconds !== undefined ? fmtDuration(h.uptime_seconds) : ""],
    ["Booted", h.boot_time ? fmtTime(h.boot_time) : ""], ["Addresses", (h.ips || []).join(", ")],
    ["Agent", s.agent && s.agent.version], ["Collected", fmtTime(s.collected_at)],
  ]);
  const c = s.cpu, m = s.memory;
  dl("#usage", [
    ["CPU", c ? meter(c.usage_percent) : "not collected"],
    ["Cores", c ? `${c.logical_cores} logical, ${c.physical_cores} physical` : ""],
    ["Load", c && c.load1 !== undefined ? [c.load1, c.load5, c.load15].map((x) => x.toFixed(2)).join(" ") : ""],
    ["Memory", m ? meter(m.used_percent) : "not collected"],
    ["", m ? `${fmtBytes(m.used_bytes)} of ${fmtBytes(m.total_bytes)}, ${fmtBytes(m.available_bytes)} available` : ""],
    ["Swap", m && m.swap_total_bytes ? `${fmtBytes(m.swap_used_bytes)} of ${fmtBytes(m.swap_total_bytes)}` : ""],
  ]);
  $("#filesystems tbody").replaceChildren(...(s.filesystems || []).map((f) =>
    row([td(f.mountpoint), td(f.device), td(f.fstype), td(fmtBytes(f.size_bytes), "num"), td(meter(f.used_percent))])));
  const users = s.users;
  $("#users tbody").replaceChildren(...(users === null || users === undefined
    ? [row([td("not collected"), td(""), td(""), td("")])]
    : users.length === 0 ? [row([td("nobody"), td(""), td(""), td("")])]
      : users.map((u) => row([td(u.user), td(u.terminal), td(u.host), td(fmtTime(u.started_at))]))));
  renderProcesses();
  status("");
}

const sorters = {
  cpu: (a, b) => (b.cpu_percent || 0) - (a.cpu_percent || 0),
  mem: (a, b) => (b.rss_bytes || 0) - (a.rss_bytes || 0),
  name: (a, b) => (a.name || "").localeCompare(b.name || "") || a.pid - b.pid,
  pid: (a, b) => a.pid - b.pid,
};

function renderProcesses() {
  const s = (view.snap && view.snap.snapshot) || {};
  const all = s.processes || [];
  const q = $("#proc-filter").value.trim().toLowerCase();
  const shown = all.filter((p) => !q || [p.pid, p.name, p.cmdline, p.user].join(" ").toLowerCase().includes(q));
  shown.sort(sorters[view.sort]);
  const rows = shown.map((p) => {
    const tr = row([td(p.pid, "num"), td(p.name), td(p.user), td((p.cpu_percent || 0).toFixed(1), "num"),
      td(fmtBytes(p.rss_bytes), "num"), td(fmtTime(p.started_at), "time"), td(p.cmdline, "cmd")]);
    if (view.started.has(p.pid + "@" + p.started_at)) tr.className = "started";
    return tr;
  });
  $("#processes tbody").replaceChildren(...rows);
  $("#proc-count").textContent = `(${shown.length} of ${all.length})`;
  for (const b of document.querySelectorAll("#processes th button")) b.classList.toggle("active", b.dataset.sort === view.sort);
  $("#processes").dataset.sort = view.sort;
  $("#processes").dataset.count = String(shown.length);
}

for (const b of document.querySelectorAll("#processes th button")) {
  b.addEventListener("click", () => { view.sort = b.dataset.sort; renderProcesses(); });
}
$("#proc-filter").addEventListener("input", renderProcesses);

// ---- routing -----------------------------------------------------------

async function route() {
  const p = new URLSearchParams(location.search);
  try {
    if (p.get("ip")) await showAgent(p.get("ip"), p.get("at") || "");
    else {
      view.ip = "";
      await showFleet();
    }
  } catch (err) {
    fail(err);
  }
}

$("#home").addEventListener("click", (ev) => { ev.preventDefault(); setQuery({}); route(); });
$("#back").addEventListener("click", (ev) => { ev.preventDefault(); setQuery({}); route(); });
window.addEventListener("popstate", route);
route();
