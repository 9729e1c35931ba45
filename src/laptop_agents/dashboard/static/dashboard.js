// laptop-agents dashboard. Everything shown is fetched as JSON and written with textContent (never markup),
// so nothing a strategy or the exchange said can run here; the page's CSP allows this file only.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const page = document.body.dataset.page;
  const run = document.body.dataset.run || "";
  const runQuery = run ? "?run=" + encodeURIComponent(run) : "";
  const SVG = "http://www.w3.org/2000/svg";

  // -- Helpers ------------------------------------------------------------------------------------------
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }
  async function api(path) {
    const reply = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!reply.ok) throw new Error(path + ": " + reply.status);
    return reply.json();
  }
  function num(v, digits) {
    if (v === null || v === undefined || v === "") return "";
    const n = Number(v);
    if (!Number.isFinite(n)) return String(v);
    const d = digits === undefined ? (Math.abs(n) >= 1000 ? 2 : Math.abs(n) >= 1 ? 4 : 6) : digits;
    return n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: 0 });
  }
  function money(v) {
    if (v === null || v === undefined || v === "") return "";
    return Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function utc(ms) {
    if (ms === null || ms === undefined || ms === "") return "";
    const d = new Date(Number(ms));
    return d.toISOString().slice(0, 16).replace("T", " ");
  }
  function age(s) {
    if (s === null || s === undefined) return "";
    const n = Number(s);
    if (n < 90) return n.toFixed(n < 10 ? 1 : 0) + " s";
    if (n < 5400) return (n / 60).toFixed(0) + " min";
    return (n / 3600).toFixed(1) + " h";
  }
  function signed(v) {
    return Number(v) > 0 ? "pos" : Number(v) < 0 ? "neg" : "";
  }
  function fillTable(id, rows, cells) {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    if (!rows.length) {
      const tr = el("tr", null, "empty");
      const td = el("td", "none");
      td.colSpan = document.querySelectorAll("#" + id + " thead th").length;
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const row of rows) {
      const tr = el("tr");
      for (const [text, cls] of cells(row)) tr.append(el("td", text, cls));
      body.append(tr);
    }
  }
  function facts(id, pairs) {
    const dl = document.getElementById(id);
    dl.replaceChildren();
    for (const [k, v, cls] of pairs) {
      dl.append(el("dt", k));
      dl.append(el("dd", v, cls));
    }
  }
  function every(ms, fn) {
    const tick = () => fn().catch((err) => console.warn(err)).finally(() => setTimeout(tick, ms));
    tick();
  }

  // -- Index --------------------------------------------------------------------------------------------
  async function loadRuns() {
    const data = await api("/api/runs");
    document.getElementById("empty").hidden = data.runs.length > 0;
    fillTable("runs", data.runs, (r) => {
      return [
        [r.run_id], [r.state, "state-" + r.state], [r.mode], [r.strategy], [(r.symbols || []).join(", ")],
        [r.first_ts ? utc(r.first_ts) + " → " + utc(r.last_ts) : ""], [r.trades, "num"],
        [money(r.net_pnl), "num " + signed(r.net_pnl)], [r.report ? "summary.html" : ""],
      ];
    });
    const rows = document.querySelectorAll("#runs tbody tr");
    data.runs.forEach((r, i) => {
      const first = rows[i] && rows[i].firstChild;
      if (!first) return;
      const link = el("a", r.run_id);
      link.href = "/runs/" + encodeURIComponent(r.run_id);
      first.replaceChildren(link);
      if (r.report) {
        const report = el("a", "summary.html");
        report.href = "/runs/" + encodeURIComponent(r.run_id) + "/summary.html";
        rows[i].lastChild.replaceChildren(report);
      }
    });
  }

  // -- A run's page -------------------------------------------------------------------------------------
  let lastStatus = null;
  async function loadStatus() {
    const s = await api("/api/status" + runQuery);
    lastStatus = s;
    const badge = document.getElementById("state");
    badge.textContent = s.state;
    badge.className = "badge " + s.state;
    document.getElementById("beat").textContent =
      s.heartbeat_age_s === null ? "" : "heartbeat " + age(s.heartbeat_age_s) + " ago" + (s.pid ? " · pid " + s.pid : "");
    document.getElementById("report").hidden = !s.report;
    facts("account", [
      ["equity", money(s.equity)],
      ["net PnL (closed)", money(s.net_pnl), signed(s.net_pnl)],
      ["trades", s.trades],
      ["candles", num(s.candles, 0)],
      ["mode · strategy", s.mode + " · " + s.strategy],
      ["errors", s.errors, s.errors ? "neg" : ""],
      ["checkpoint", s.checkpoint && s.checkpoint.ok === false ? "FAILING: " + (s.checkpoint.error || "") : "ok"],
      ["entry halts", (s.halts || []).join(", ") || "none", (s.halts || []).length ? "neg" : ""],
    ]);
    const b = s.breaker || {};
    facts("breaker", [
      ["state", b.enabled === false ? "disabled" : b.state, b.state === "tripped" ? "neg" : "pos"],
      ["drawdown", num(b.drawdown_pct, 2) + " % of max " + num(b.max_drawdown_pct, 2) + " %"],
      ["losses in a row", (b.consecutive_losses ?? "") + " of max " + (b.max_consecutive_losses ?? "")],
      ["peak equity", money(b.peak_equity)],
      ["re-arms", b.reset_after_bars ? "after " + b.reset_after_bars + " candles" : "never (this run)"],
    ]);
    const ages = Object.entries(s.data_age_s || {}).map(([sym, a]) => [sym + " data age", age(a)]);
    const last = Object.entries(s.last_candle_ts || {}).map(([sym, ts]) => [sym + " last candle", utc(ts)]);
    const stream = s.stream || {};
    facts("data", [...ages, ...last, ["gaps", s.gaps], ["holes in the venue's history", s.holes ?? 0],
      ["invalid candles refused", s.invalid_candles ?? 0], ["reconnects", stream.reconnects ?? 0],
      ["malformed frames", stream.malformed ?? 0]]);
    const kill = s.kill_switch;
    document.getElementById("kill-state").textContent = kill
      ? "in force (" + kill.source + ", by " + kill.by + (kill.flatten ? ", flattened" : "") + "): entries halted, exits managed"
      : "not set: entries allowed" + (s.state === "running" ? "" : " when the run is running");
    const active = ["running", "halted", "stale", "starting", "stopping", "unresponsive"].includes(s.state);
    document.getElementById("kill").disabled = !!kill;
    document.getElementById("flatten").disabled = !!(kill && kill.flatten) || !active;
    document.getElementById("resume").disabled = !kill;
  }
  async function loadPositions() {
    const rows = await api("/api/positions" + runQuery);
    fillTable("positions", rows, (p) => [
      [p.symbol], [p.side, p.side === "long" ? "pos" : "neg"], [num(p.qty), "num"], [num(p.entry_price), "num"],
      [num(p.stop_price), "num"], [num(p.target_price), "num"], [num(p.mark_price), "num"],
      [money(p.unrealized), "num " + signed(p.unrealized)], [utc(p.entry_ts)],
    ]);
  }
  async function loadOrders() {
    const rows = await api("/api/orders" + runQuery);
    fillTable("orders", rows, (o) => [
      [o.symbol], [o.client_id], [o.state, o.state === "UNKNOWN" ? "neg" : ""], [o.purpose || "entry"], [o.side],
      [o.type || "limit"], [num(o.qty), "num"], [num(o.filled_qty), "num"], [num(o.price), "num"], [age(o.age_s), "num"],
    ]);
  }
  async function loadTrades() {
    const rows = (await api("/api/trades" + (runQuery ? runQuery + "&" : "?") + "last=50")).reverse();
    fillTable("trades", rows, (t) => [
      [t.trade_id], [t.symbol], [t.side], [utc(t.entry_ts)], [num(t.entry_price), "num"], [utc(t.exit_ts)],
      [num(t.exit_price), "num"], [num(t.qty), "num"], [money(t.net_pnl), "num " + signed(t.net_pnl)], [t.exit_reason],
    ]);
  }

  function niceStep(range, count) {
    const raw = range / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }
  function drawSeries(node, xs, lines, opts) {
    const w = Math.max(300, node.clientWidth), h = Math.max(60, node.clientHeight);
    node.setAttribute("viewBox", "0 0 " + w + " " + h);
    node.replaceChildren();
    if (!xs.length) {
      const t = svg("text", { x: 12, y: 22 });
      t.textContent = "no equity recorded yet";
      node.append(t);
      return;
    }
    const left = 74, right = 10, top = 8, bottom = opts.xAxis ? 22 : 6;
    let lo = Math.min(...lines.low), hi = Math.max(...lines.high);
    if (opts.floorZero) lo = Math.min(0, lo);
    if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
    const step = niceStep(hi - lo, opts.ticks || 4);
    lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
    const x0 = xs[0], x1 = xs[xs.length - 1] === x0 ? x0 + 1 : xs[xs.length - 1];
    const X = (x) => left + (w - left - right) * (x - x0) / (x1 - x0);
    const Y = (y) => opts.invert ? top + (h - top - bottom) * (y - lo) / (hi - lo) : h - bottom - (h - top - bottom) * (y - lo) / (hi - lo);
    for (let v = lo; v <= hi + step / 2; v += step) {
      node.append(svg("line", { class: "tick", x1: left, x2: w - right, y1: Y(v), y2: Y(v) }));
      const label = svg("text", { x: left - 6, y: Y(v) + 4, "text-anchor": "end" });
      label.textContent = num(v, step < 1 ? 2 : 0) + (opts.unit || "");
      node.append(label);
    }
    if (opts.xAxis) {
      for (const frac of [0, 0.5, 1]) {
        const x = x0 + (x1 - x0) * frac;
        const t = svg("text", { x: X(x), y: h - 5, "text-anchor": frac === 0 ? "start" : frac === 1 ? "end" : "middle" });
        t.textContent = utc(x) + (frac === 1 ? " UTC" : "");
        node.append(t);
      }
    }
    if (opts.band) {
      let d = "M" + xs.map((x, i) => X(x) + "," + Y(lines.high[i])).join("L");
      d += "L" + xs.map((x, i) => X(x) + "," + Y(lines.low[i])).reverse().join("L") + "Z";
      node.append(svg("path", { class: "band", d }));
    }
    const path = "M" + xs.map((x, i) => X(x).toFixed(1) + "," + Y(lines.value[i]).toFixed(1)).join("L");
    if (opts.area) {
      node.append(svg("path", { class: opts.cls, d: path + "L" + X(xs[xs.length - 1]) + "," + Y(0) + "L" + X(xs[0]) + "," + Y(0) + "Z" }));
    } else {
      node.append(svg("path", { class: opts.cls, d: path }));
    }
  }
  let lastEquity = null;
  async function loadEquity() {
    const e = await api("/api/equity" + (runQuery ? runQuery + "&" : "?") + "points=600");
    lastEquity = e;
    drawEquity();
  }
  function drawEquity() {
    const e = lastEquity;
    if (!e) return;
    drawSeries(document.getElementById("equity-chart"), e.ts, { value: e.equity, low: e.low, high: e.high },
      { cls: "equity", band: true, xAxis: true, ticks: 4 });
    drawSeries(document.getElementById("drawdown-chart"), e.ts,
      { value: e.drawdown_pct, low: e.drawdown_pct.map(() => 0), high: e.drawdown_pct }, {
        cls: "dd", area: true, invert: true, floorZero: true, ticks: 2, unit: " %" });
    document.getElementById("equity-note").textContent = e.ts.length
      ? "each point is a bucket of candles: its last equity, and its lowest and highest (shaded); drawdown below, from the running peak"
      : "";
  }
  window.addEventListener("resize", () => drawEquity());

  function feedItem(kind, fields, cls) {
    const li = el("li", null, cls);
    li.append(el("span", kind, "kind"));
    li.append(document.createTextNode(fields));
    return li;
  }
  const SKIP = new Set(["v", "seq", "run_id", "event", "ts_init", "ts_event", "level", "time", "ts"]);
  function describe(record) {
    const parts = [];
    const when = record.ts_event ?? record.ts;
    if (when !== undefined) parts.push(utc(when));
    for (const [k, v] of Object.entries(record)) {
      if (SKIP.has(k) || v === null || v === "" || v === false || (Array.isArray(v) && !v.length)) continue;
      const text = typeof v === "number" ? (k.endsWith("_ts") || k.endsWith("_ms") && v > 1e11 ? utc(v) : num(v))
        : typeof v === "object" ? JSON.stringify(v) : String(v);
      parts.push(k + "=" + text);
    }
    return parts.join(" ");
  }
  let source = null;
  function connectEvents() {
    if (source) source.close();
    const filter = document.getElementById("event-filter").value.trim();
    const params = new URLSearchParams();
    if (run) params.set("run", run);
    if (filter) params.set("types", filter);
    if (!document.getElementById("show-routine").checked) params.set("skip", "CandleClosed,ClockTick,CheckpointSaved");
    const list = document.getElementById("events");
    list.replaceChildren();
    source = new EventSource("/api/events?" + params.toString());
    source.onmessage = (msg) => {
      let record;
      try { record = JSON.parse(msg.data); } catch (err) { return; }
      list.prepend(feedItem(record.event, describe(record), String(record.event).replace(/[^A-Za-z0-9_]/g, "")));
      while (list.children.length > 200) list.lastChild.remove();
      if (["PositionOpened", "PositionClosed", "Fill", "KillSwitch", "KillSwitchReleased"].includes(record.event)) {
        loadPositions().catch(() => {});
        loadStatus().catch(() => {});
        loadEquity().catch(() => {});
        if (record.event === "PositionClosed") loadTrades().catch(() => {});
      }
    };
  }
  async function loadLog() {
    const log = await api("/api/log" + runQuery);
    for (const [id, records] of [["log-warnings", log.warnings], ["log-recent", log.recent]]) {
      const list = document.getElementById(id);
      list.replaceChildren();
      if (!records.length) list.append(el("li", "none", "muted"));
      for (const r of records) list.append(feedItem((r.level || "") + " " + (r.event || ""), " " + (r.time || "").slice(0, 19) + " " + describe(r), r.level));
    }
  }
  async function control(path, body, what) {
    const reply = await fetch(path + runQuery, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body),
    });
    const text = reply.ok ? what + ": sent; the daemon applies it within a second" : what + " refused: " + (await reply.text());
    document.getElementById("control-reply").textContent = text;
    setTimeout(() => loadStatus().catch(() => {}), 500);
  }

  if (page === "index") every(5000, loadRuns);
  if (page === "run") {
    every(2000, loadStatus);
    every(2000, loadPositions);
    every(3000, loadOrders);
    every(5000, loadTrades);
    every(3000, loadEquity);
    every(5000, loadLog);
    connectEvents();
    let timer = null;
    document.getElementById("event-filter").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(connectEvents, 400);
    });
    document.getElementById("show-routine").addEventListener("change", connectEvents);
    document.getElementById("kill").addEventListener("click", () => control("/api/kill", { flatten: false }, "halt entries"));
    document.getElementById("flatten").addEventListener("click", () => {
      if (window.confirm("Halt entries and close every open position at market?")) control("/api/kill", { flatten: true }, "halt and flatten");
    });
    document.getElementById("resume").addEventListener("click", () => control("/api/resume", {}, "resume entries"));
  }
})();
