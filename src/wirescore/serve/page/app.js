// wirescore serve: the page. Text from eve.json is only ever set as textContent.
"use strict";
const TOKEN = new URLSearchParams(location.search).get("token");
const MAX_ROWS = 500;
const state = { filter: {}, rows: new Map(), selected: null, chartsDue: 0, ws: null };
const $ = (id) => document.getElementById(id);

function url(path, params) {
  const u = new URL(path, location.href);
  for (const [k, v] of Object.entries(params || {})) if (v) u.searchParams.set(k, v);
  if (TOKEN) u.searchParams.set("token", TOKEN);
  return u;
}

async function api(path, params) {
  const r = await fetch(url(path, params));
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function td(text, cls) {
  const c = document.createElement("td");
  c.textContent = text == null ? "" : String(text);
  if (cls) c.className = cls;
  return c;
}

function endpoint(ip, port) { return port == null ? ip : (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`); }

function row(a, fresh) {
  const tr = document.createElement("tr");
  tr.dataset.id = a.id;
  tr.dataset.signature = a.signature;
  if (fresh) tr.className = "new";
  tr.append(td(a.timestamp.replace("T", " ").slice(0, 23)), td(a.severity, "sev" + a.severity),
            td(a.signature, "sig"), td(endpoint(a.src_ip, a.src_port)),
            td(endpoint(a.dest_ip, a.dest_port)),
            td(a.score == null ? "" : a.score.toPrecision(4)), td(a.features.join("; "), "feat"));
  tr.addEventListener("click", () => openAlert(a.id));
  return tr;
}

function showAlerts(list, fresh) {
  const body = $("feed").tBodies[0];
  for (const a of list.slice().sort((x, y) => x.id - y.id)) {
    if (state.rows.has(a.id)) continue;
    const tr = row(a, fresh);
    state.rows.set(a.id, tr);
    body.insertBefore(tr, body.firstChild);
  }
  while (state.rows.size > MAX_ROWS) {
    const oldest = Math.min(...state.rows.keys());
    state.rows.get(oldest).remove();
    state.rows.delete(oldest);
  }
  $("feed-count").textContent = `(${state.rows.size} shown)`;
}

async function loadAlerts() {
  try {
    const page = await api("/api/alerts", { ...state.filter, limit: 200 });
    $("feed").tBodies[0].replaceChildren();
    state.rows.clear();
    showAlerts(page.alerts, false);
    $("f-error").textContent = "";
    document.body.dataset.loaded = "1";
  } catch (e) { $("f-error").textContent = e.message; }
}

async function openAlert(id) {
  const a = await api(`/api/alerts/${id}`);
  state.selected = id;
  for (const [k, tr] of state.rows) tr.classList.toggle("sel", k === id);
  $("detail").hidden = false;
  $("d-id").textContent = `#${a.id}`;
  $("d-sig").textContent = `[${a.severity}] ${a.signature} (${a.signature_id}) — ${endpoint(a.src_ip, a.src_port)} → ${endpoint(a.dest_ip, a.dest_port)}, ${a.proto}, ${a.timestamp}`;
  $("d-pcap").hidden = !a.has_pcap;
  $("d-nopcap").hidden = a.has_pcap;
  $("d-pcap").href = url(`/api/alerts/${a.id}/pcap`);
  $("d-explain").replaceChildren(...a.explanation.map((t) => {
    const li = document.createElement("li"); li.textContent = t; return li; }));
  $("d-flow").textContent = a.flow ? JSON.stringify(a.flow, null, 1) : "(its flow event has not been read yet)";
  $("d-event").textContent = JSON.stringify(a.event, null, 1);
}

function showTick(m) {
  const s = m.status;
  $("status").textContent = `${s.alerts_total} alerts (${s.alerts_indexed} indexed, max ${s.max_alerts}), ` +
    `${s.events.flow || 0} flows`;
  const h = m.stats;
  $("health").textContent = h ? `decode errors ${h.decode_invalid + h.decode_events}, drops ${h.kernel_drops}, capture errors ${h.capture_errors}` : "no stats yet";
  for (const [id, list] of [["t-src", m.top.sources], ["t-dst", m.top.destinations]]) {
    $(id).replaceChildren(...list.map((t) => {
      const li = document.createElement("li"); li.textContent = `${t.address} (${t.alerts})`; return li; }));
  }
  drawChartsSoon();
}

function drawChartsSoon() {
  const now = Date.now();
  if (now < state.chartsDue) return;
  state.chartsDue = now + 2000;
  setTimeout(drawCharts, 0);
}

async function drawCharts() {
  if (!window.Plotly) { state.chartsDue = 0; setTimeout(drawChartsSoon, 500); return; }
  const s = await api("/api/series");
  const t = (xs) => xs.map((x) => new Date(x * 1000));
  const layout = (title) => ({ title: { text: title, font: { size: 13 } }, margin: { l: 40, r: 10, t: 30, b: 30 }, showlegend: title.startsWith("alerts") });
  const cfg = { displayModeBar: false, responsive: true };
  Plotly.react("c-packets", [{ x: s.stats.map((p) => new Date(p.timestamp)), y: s.stats.map((p) => p.packets_per_s), mode: "lines+markers" }], layout("packets/s (stats)"), cfg);
  Plotly.react("c-flows", [{ x: t(s.flows_per_s.t), y: s.flows_per_s.v, type: "bar" }], layout("flows/s"), cfg);
  const colors = { 1: "#b00", 2: "#d60", 3: "#aa0", 4: "#888" };
  Plotly.react("c-alerts", [1, 2, 3, 4].map((k) => ({ x: t(s.alerts_per_min.t), y: s.alerts_per_min[k], type: "bar", name: `sev ${k}`, marker: { color: colors[k] } })),
               { ...layout("alerts/min by severity"), barmode: "stack" }, cfg);
}

function connect() {
  const u = url("/ws");
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(u);
  state.ws = ws;
  ws.onopen = () => { $("conn").textContent = "live"; $("conn").className = "conn on";
                      ws.send(JSON.stringify({ filter: state.filter })); };
  ws.onclose = () => { $("conn").textContent = "reconnecting"; $("conn").className = "conn off";
                       setTimeout(connect, 1000); };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "hello") { loadAlerts(); api("/api/status").then(() => drawChartsSoon()); refreshTick(); }
    else if (m.type === "alerts") showAlerts(m.alerts, true);
    else if (m.type === "tick") showTick(m);
    else if (m.type === "lagged") loadAlerts();
    else if (m.type === "error") $("f-error").textContent = m.error;
  };
}

async function refreshTick() {
  const [status, top, stats] = await Promise.all([api("/api/status"), api("/api/top"), api("/api/stats")]);
  showTick({ status, top, stats: stats.latest });
}

$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.filter = { severity: $("f-severity").value, signature: $("f-signature").value.trim(),
                   address: $("f-address").value.trim() };
  if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify({ filter: state.filter }));
  loadAlerts();
});
$("f-clear").addEventListener("click", () => {
  $("f-severity").value = ""; $("f-signature").value = ""; $("f-address").value = "";
  $("filters").requestSubmit();
});
$("d-close").addEventListener("click", () => { $("detail").hidden = true; });
connect();
