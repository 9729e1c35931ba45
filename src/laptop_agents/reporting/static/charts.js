/* Chart helpers shared by summary.html and the runs comparison page: SVG drawn in real pixels (labels stay
   12 px at any width), round-number value ticks, round UTC time ticks. No library, no request. */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const PAD = { l: 76, r: 14, t: 18, b: 26 };
  const DAY = 86400000;

  function el(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(v, digits) {
    return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function pad2(n) { return String(n).padStart(2, "0"); }
  function utc(ms, withTime) {
    const d = new Date(ms);
    const day = d.getUTCFullYear() + "-" + pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate());
    return withTime === false ? day : day + " " + pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes());
  }

  /* round-number value ticks: 1, 2, 2.5 or 5 times a power of ten */
  function valueTicks(lo, hi, count) {
    const raw = (hi - lo) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    let step = 10 * mag;
    for (const m of [1, 2, 2.5, 5]) if (m * mag >= raw) { step = m * mag; break; }
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (step / mag === 2.5 ? 1 : 0));
    return { ticks, digits };
  }

  /* round-time ticks in UTC: minutes, hours, days, weeks, months or years, whichever gives about `count` */
  const STEPS = [60e3, 300e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, DAY, 2 * DAY, 7 * DAY, 14 * DAY];
  function timeTicks(t0, t1, count) {
    const span = t1 - t0, out = [];
    const step = STEPS.find((s) => span / s <= count);
    if (step !== undefined) {
      const offset = step >= 7 * DAY ? 4 * DAY : 0; /* weeks start on Monday (1970-01-05 was one) */
      for (let t = Math.ceil((t0 - offset) / step) * step + offset; t <= t1; t += step) out.push(t);
      return { ticks: out, label: (t) => (step >= DAY ? utc(t, false) : utc(t).slice(5)) };
    }
    const months = [1, 2, 3, 6, 12, 24, 60].find((m) => span / (m * 30.44 * DAY) <= count) || 120;
    const d = new Date(t0);
    let y = d.getUTCFullYear(), m = d.getUTCMonth() + 1;
    m = Math.ceil(m / months) * months;
    for (;;) {
      while (m >= 12) { m -= 12; y += 1; }
      const t = Date.UTC(y, m, 1);
      if (t > t1) break;
      if (t >= t0) out.push(t);
      m += months;
    }
    return { ticks: out, label: (t) => utc(t, false).slice(0, months >= 12 ? 4 : 7) };
  }

  /* A chart: a frame (time × value), its axes, and layers drawn by the caller through `x` and `y`. */
  function frame(svg, width, height, t0, t1, lo, hi, unit, digitsHint) {
    if (hi <= lo) { hi += 1; lo -= 1; }
    const air = (hi - lo) * 0.05;
    lo = lo >= 0 && lo - air < 0 ? 0 : lo - air;
    hi = hi <= 0 && hi + air > 0 ? 0 : hi + air;
    if (t1 <= t0) t1 = t0 + 1;
    const f = {
      t0, t1, lo, hi,
      x: (t) => PAD.l + ((t - t0) / (t1 - t0)) * (width - PAD.l - PAD.r),
      y: (v) => PAD.t + ((hi - v) / (hi - lo)) * (height - PAD.t - PAD.b),
    };
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const vt = valueTicks(lo, hi, Math.max(3, Math.floor(height / 55)));
    const digits = digitsHint === undefined ? vt.digits : Math.max(vt.digits, 0);
    for (const v of vt.ticks) {
      svg.append(el("line", { class: "grid", x1: PAD.l, x2: width - PAD.r, y1: f.y(v), y2: f.y(v) }));
      svg.append(el("text", { class: "ylab", x: PAD.l - 6, y: f.y(v) + 4 }, fmt(v, digits)));
    }
    svg.append(el("text", { class: "unit", x: 4, y: 12 }, unit));
    const tt = timeTicks(t0, t1, Math.max(2, Math.floor((width - PAD.l - PAD.r) / 110)));
    for (const t of tt.ticks) {
      const x = f.x(t);
      svg.append(el("line", { class: "grid", x1: x, x2: x, y1: PAD.t, y2: height - PAD.b }));
      svg.append(el("text", { class: "xlab", x, y: height - 8, "text-anchor": "middle" }, tt.label(t)));
    }
    return f;
  }

  function path(points, f) {
    let d = "";
    for (let i = 0; i < points.length; i++) d += (i ? "L" : "M") + f.x(points[i][0]).toFixed(1) + "," + f.y(points[i][1]).toFixed(1);
    return d;
  }
  function band(rows, f, hiIdx, loIdx) {
    if (!rows.length) return "";
    let d = "M" + rows.map((r) => f.x(r[0]).toFixed(1) + "," + f.y(r[hiIdx]).toFixed(1)).join("L");
    d += "L" + rows.slice().reverse().map((r) => f.x(r[0]).toFixed(1) + "," + f.y(r[loIdx]).toFixed(1)).join("L") + "Z";
    return d;
  }
  function within(rows, t0, t1) {
    /* the rows in [t0, t1] plus one on each side, so a line reaches the edges */
    let a = 0, b = rows.length;
    while (a < rows.length && rows[a][0] < t0) a++;
    while (b > 0 && rows[b - 1][0] > t1) b--;
    return rows.slice(Math.max(0, a - 1), Math.min(rows.length, b + 1));
  }
  function clip(svg, width, height, id) {
    const defs = el("defs", {});
    const cp = el("clipPath", { id });
    cp.append(el("rect", { x: PAD.l, y: 0, width: width - PAD.l - PAD.r, height: height - PAD.b }));
    defs.append(cp);
    svg.append(defs);
    const g = el("g", { "clip-path": "url(#" + id + ")" });
    svg.append(g);
    return g;
  }

  window.LaCharts = { NS, PAD, DAY, el, fmt, utc, valueTicks, timeTicks, frame, path, band, within, clip };
})();
