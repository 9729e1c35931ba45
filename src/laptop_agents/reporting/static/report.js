/* summary.html's charts, drawn from the data the page embeds (#report-data), at the width the page has.

   No library and no request: the page opens offline. Each chart is SVG sized in real pixels, so its labels
   stay 12 px from a 700 px window to a 2,000 px one. Drag across the equity, drawdown or price chart to
   zoom all three to that span; double-click (or "whole run") to see the whole run again. The trade pane
   shows one trade's candles with its entry, stop, target and exit; pick a trade with the buttons, the
   list, or by clicking its row or its marker. */
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const GREEN = "#1a7f37", RED = "#cf222e", BLUE = "#0969da", ORANGE = "#bc4c00";

  const { PAD, el, fmt, utc, frame, path, band, within, clip } = window.LaCharts;

  /* trades: [id, symbol, side, entry_ts, entry_price, exit_ts, exit_price, net, reason, setup, qty] */
  const T = { id: 0, sym: 1, side: 2, ets: 3, ep: 4, xts: 5, xp: 6, net: 7, reason: 8, setup: 9, qty: 10 };
  const charted = D.trades.filter((t) => t[T.sym] === D.symbol);

  function tradeMarks(g, f, trades, big) {
    for (const t of trades) {
      if (t[T.xts] < f.t0 || t[T.ets] > f.t1) continue;
      const won = t[T.net] > 0, long = t[T.side] === "long";
      /* in the trade pane: the entry at its candle's close, the exit inside its candle */
      const x0 = f.x(t[T.ets] + (big ? D.step : 0)), y0 = f.y(t[T.ep]), x1 = f.x(t[T.xts] + (big ? D.step / 2 : 0)), y1 = f.y(t[T.xp]);
      const tip = "#" + t[T.id] + " " + t[T.side] + " " + fmt(t[T.ep], D.decimals) + " → " + fmt(t[T.xp], D.decimals) +
        " (" + t[T.reason] + ") net " + (t[T.net] >= 0 ? "+" : "") + fmt(t[T.net], 2) + " USDT";
      const grp = el("g", { class: "trade", "data-trade": t[T.id] });
      grp.append(el("line", { x1: x0, y1: y0, x2: x1, y2: y1, class: "join " + (won ? "win" : "loss") }));
      const s = big ? 8 : 6;
      const tri = long ? `M${x0},${y0 - s} l${s},${s * 1.7} h${-2 * s}z` : `M${x0},${y0 + s} l${s},${-s * 1.7} h${-2 * s}z`;
      grp.append(el("path", { d: tri, class: "mk", fill: long ? BLUE : ORANGE }));
      grp.append(el("circle", { cx: x1, cy: y1, r: big ? 5 : 4, class: "mk", fill: won ? GREEN : RED }));
      grp.append(el("title", {}, tip));
      grp.addEventListener("click", () => showTrade(t[T.id]));
      g.append(grp);
    }
  }

  /* the three overview charts share one time span */
  const first = D.equity.length ? D.equity[0][0] : 0, last = D.equity.length ? D.equity[D.equity.length - 1][0] : 1;
  let span = [first, last];
  const charts = [];

  function overview(id, height, draw) {
    const box = document.getElementById(id);
    if (!box) return;
    const svg = el("svg", { role: "img", "aria-label": box.dataset.label || id });
    box.replaceChildren(svg);
    const chart = { box, svg, height, draw, f: null };
    charts.push(chart);
    let down = null, shade = null;
    svg.addEventListener("mousedown", (e) => {
      if (!chart.f) return;
      down = e.offsetX;
      shade = el("rect", { class: "sel", x: down, y: PAD.t, width: 0, height: height - PAD.t - PAD.b });
      svg.append(shade);
    });
    svg.addEventListener("mousemove", (e) => {
      if (down === null) return;
      shade.setAttribute("x", Math.min(down, e.offsetX));
      shade.setAttribute("width", Math.abs(e.offsetX - down));
    });
    const up = (e) => {
      if (down === null) return;
      const a = Math.min(down, e.offsetX), b = Math.max(down, e.offsetX);
      down = null;
      if (b - a < 6) { shade.remove(); return; }
      const inv = (x) => chart.f.t0 + ((x - PAD.l) / (chart.svg.clientWidth - PAD.l - PAD.r)) * (chart.f.t1 - chart.f.t0);
      zoom(Math.max(first, inv(a)), Math.min(last, inv(b)));
    };
    svg.addEventListener("mouseup", up);
    svg.addEventListener("mouseleave", up);
    svg.addEventListener("dblclick", () => zoom(first, last));
  }

  function zoom(t0, t1) {
    if (t1 - t0 < D.step * 4) { const mid = (t0 + t1) / 2; t0 = mid - D.step * 2; t1 = mid + D.step * 2; }
    span = [t0, t1];
    const label = document.getElementById("span");
    if (label) label.textContent = t0 <= first && t1 >= last ? "whole run" : utc(t0) + " → " + utc(t1) + " UTC";
    drawAll();
  }

  function drawAll() {
    for (const c of charts) {
      const width = Math.max(320, c.box.clientWidth);
      c.svg.replaceChildren();
      c.f = c.draw(c.svg, width, c.height, span[0], span[1]);
    }
    drawTrade();
  }

  overview("equity-chart", 250, (svg, w, h, t0, t1) => {
    const rows = within(D.equity, t0, t1);
    if (!rows.length) return null;
    let lo = D.start, hi = D.start;
    for (const r of rows) { lo = Math.min(lo, r[3]); hi = Math.max(hi, r[4]); }
    const f = frame(svg, w, h, t0, t1, lo, hi, "USDT");
    const g = clip(svg, w, h, "clip-eq");
    g.append(el("path", { d: band(rows, f, 4, 3), class: "band" }));
    g.append(el("line", { x1: PAD.l, x2: w - PAD.r, y1: f.y(D.start), y2: f.y(D.start), class: "base" }));
    g.append(el("path", { d: path(rows.map((r) => [r[0], r[1]]), f), class: "eq" }));
    return f;
  });
  overview("drawdown-chart", 140, (svg, w, h, t0, t1) => {
    const rows = within(D.equity, t0, t1);
    if (!rows.length) return null;
    let deepest = 0.01;
    for (const r of rows) deepest = Math.max(deepest, r[2]);
    const f = frame(svg, w, h, t0, t1, -deepest, 0, "drawdown %");
    const g = clip(svg, w, h, "clip-dd");
    const pts = rows.map((r) => [r[0], -r[2]]);
    g.append(el("path", { d: path(pts, f) + "L" + f.x(pts[pts.length - 1][0]) + "," + f.y(0) + "L" + f.x(pts[0][0]) + "," + f.y(0) + "Z", class: "dd" }));
    return f;
  });
  overview("price-chart", 300, (svg, w, h, t0, t1) => {
    const rows = within(D.prices, t0, t1);
    if (!rows.length) return null;
    let lo = Infinity, hi = -Infinity;
    for (const r of rows) { lo = Math.min(lo, r[3]); hi = Math.max(hi, r[2]); }
    const f = frame(svg, w, h, t0, t1, lo, hi, D.symbol + " (USDT)");
    const g = clip(svg, w, h, "clip-px");
    g.append(el("path", { d: band(rows, f, 2, 3), class: "band" }));
    g.append(el("path", { d: path(rows.map((r) => [r[0], r[1]]), f), class: "price" }));
    tradeMarks(g, f, charted, false);
    return f;
  });

  /* the trade pane */
  const pane = document.getElementById("trade-chart");
  const picker = document.getElementById("trade-pick");
  let current = charted.length ? charted[charted.length - 1][T.id] : null;
  if (picker) {
    for (const t of charted.slice().reverse()) {
      const opt = document.createElement("option");
      opt.value = t[T.id];
      opt.textContent = "#" + t[T.id] + " " + t[T.side] + " " + utc(t[T.ets]) + " · " + t[T.reason] + " · " +
        (t[T.net] >= 0 ? "+" : "") + fmt(t[T.net], 2) + " USDT";
      picker.append(opt);
    }
    picker.addEventListener("change", () => showTrade(Number(picker.value)));
  }
  const step = (delta) => {
    const i = charted.findIndex((t) => t[T.id] === current);
    const next = charted[Math.min(charted.length - 1, Math.max(0, i + delta))];
    if (next) showTrade(next[T.id]);
  };
  const prev = document.getElementById("trade-prev"), next = document.getElementById("trade-next");
  if (prev) prev.addEventListener("click", () => step(-1));
  if (next) next.addEventListener("click", () => step(1));
  for (const row of document.querySelectorAll("tr[data-trade]")) {
    row.addEventListener("click", () => showTrade(Number(row.dataset.trade)));
  }

  function showTrade(id) {
    current = id;
    if (picker) picker.value = String(id);
    drawTrade();
    if (pane) pane.scrollIntoView({ block: "nearest" });
  }

  function drawTrade() {
    if (!pane) return;
    const t = charted.find((x) => x[T.id] === current);
    const caption = document.getElementById("trade-caption");
    if (!t) { pane.replaceChildren(); if (caption) caption.textContent = "No trade to show."; return; }
    const win = D.windows[String(t[T.id])];
    const svg = el("svg", { role: "img", "aria-label": "trade " + t[T.id] });
    pane.replaceChildren(svg);
    const width = Math.max(320, pane.clientWidth), height = 300;
    let bars, per = 1;
    if (win) {
      bars = [];
      for (let i = 0; i < win.b.length; i += 5) {
        const b = win.b, k = win.k;
        bars.push([win.t0 + b[i] * D.step, win.p0 + b[i + 1] / k, win.p0 + b[i + 2] / k, win.p0 + b[i + 3] / k, win.p0 + b[i + 4] / k]);
      }
      per = win.per_bar;
    } else {
      const margin = Math.max((t[T.xts] - t[T.ets]) * 0.3, D.step * 20);
      bars = within(D.prices, t[T.ets] - margin, t[T.xts] + margin).map((r) => [r[0], r[1], r[2], r[3], r[1]]);
    }
    if (!bars.length) return;
    const levels = [t[T.ep], t[T.xp]];
    if (win && win.stop) levels.push(win.stop);
    if (win && win.target) levels.push(win.target);
    let lo = Math.min(...levels), hi = Math.max(...levels);
    for (const b of bars) { lo = Math.min(lo, b[3]); hi = Math.max(hi, b[2]); }
    const barMs = D.step * per;
    const f = frame(svg, width, height, bars[0][0], bars[bars.length - 1][0] + barMs, lo, hi, D.symbol + " (USDT)");
    const g = clip(svg, width, height, "clip-trade");
    g.append(el("rect", { x: f.x(t[T.ets]), y: PAD.t, width: Math.max(1, f.x(t[T.xts] + D.step) - f.x(t[T.ets])), height: height - PAD.t - PAD.b, class: "held" }));
    const slot = f.x(bars[0][0] + barMs) - f.x(bars[0][0]), bw = Math.max(1, slot * 0.7);
    for (const [ts, o, h, l, c] of bars) {
      const x = f.x(ts) + slot / 2, cls = c >= o ? "up" : "down";
      g.append(el("line", { x1: x, x2: x, y1: f.y(h), y2: f.y(l), class: "wick " + cls }));
      const top = f.y(Math.max(o, c)), bottom = f.y(Math.min(o, c));
      g.append(el("rect", { x: x - bw / 2, y: top, width: bw, height: Math.max(bottom - top, 1), class: "body " + cls }));
    }
    const level = (v, cls, name) => {
      if (!v) return;
      g.append(el("line", { x1: PAD.l, x2: width - PAD.r, y1: f.y(v), y2: f.y(v), class: "level " + cls }));
      svg.append(el("text", { x: width - PAD.r - 4, y: f.y(v) - 4, class: "lvl " + cls, "text-anchor": "end" }, name + " " + fmt(v, D.decimals)));
    };
    if (win) { level(win.stop, "stop", "stop"); level(win.target, "target", "target"); }
    level(t[T.ep], "entry", "entry");
    tradeMarks(g, f, [t], true);
    if (caption) {
      const held = t[T.xts] - t[T.ets];
      caption.textContent = "#" + t[T.id] + " " + t[T.side] + " " + t[T.qty] + " · entry " + utc(t[T.ets]) + " at " +
        fmt(t[T.ep], D.decimals) + " · exit " + utc(t[T.xts]) + " at " + fmt(t[T.xp], D.decimals) + " (" + t[T.reason] +
        ") · held " + Math.round(held / 60000) + " min · net " + (t[T.net] >= 0 ? "+" : "") + fmt(t[T.net], 2) + " USDT" +
        (t[T.setup] ? " · setup " + t[T.setup] : "") + (per > 1 ? " · one bar = " + per + " candles" : "") +
        (win ? "" : " · (an older trade: drawn on the overview's price buckets)");
    }
  }

  const whole = document.getElementById("zoom-reset");
  if (whole) whole.addEventListener("click", () => zoom(first, last));
  let pending = 0;
  window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(drawAll, 80); });
  drawAll();
  document.documentElement.dataset.charts = "drawn";
})();
