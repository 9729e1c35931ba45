/* The validate report's charts, from the data the page embeds (#validate-data): the out-of-sample equity of
   each fold's winner, stitched fold after fold; every candidate's in-sample against its out-of-sample
   result; and, for a grid of two parameters, a heat map of the mean training objective. */
(function () {
  "use strict";
  const { PAD, el, fmt, utc, valueTicks, frame, path, clip } = window.LaCharts;
  const D = JSON.parse(document.getElementById("validate-data").textContent);

  function stitched() {
    const box = document.getElementById("oos-chart");
    if (!box || !D.oos.length) return;
    const svg = el("svg", { role: "img", "aria-label": "out-of-sample equity, folds stitched" });
    box.replaceChildren(svg);
    const width = Math.max(320, box.clientWidth), height = 260;
    let lo = D.start, hi = D.start;
    for (const f of D.oos) for (const v of f.eq) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const t0 = D.oos[0].ts[0], t1 = D.oos[D.oos.length - 1].ts[D.oos[D.oos.length - 1].ts.length - 1];
    const fr = frame(svg, width, height, t0, t1, lo, hi, "USDT");
    const g = clip(svg, width, height, "clip-oos");
    g.append(el("line", { x1: PAD.l, x2: width - PAD.r, y1: fr.y(D.start), y2: fr.y(D.start), class: "base" }));
    for (const f of D.oos) {
      const x = fr.x(f.ts[0]);
      g.append(el("line", { x1: x, x2: x, y1: PAD.t, y2: height - PAD.b, class: "fold" }));
      const label = el("text", { x: x + 4, y: PAD.t + 12, class: "foldlab" }, "fold " + f.fold);
      label.append(el("title", {}, "fold " + f.fold + ": " + f.params + " · net " + fmt(f.net, 2) + " USDT"));
      svg.append(label);
      const line = el("path", { d: path(f.ts.map((t, i) => [t, f.eq[i]]), fr), class: f.net >= 0 ? "eq" : "eq lossfold" });
      line.append(el("title", {}, "fold " + f.fold + " (" + utc(f.ts[0]) + " → " + utc(f.ts[f.ts.length - 1]) + "): " + f.params));
      g.append(line);
    }
  }

  function xy(svg, width, height, xlo, xhi, ylo, yhi, xunit, yunit) {
    const pad = (lo, hi) => (hi > lo ? [lo - (hi - lo) * 0.06, hi + (hi - lo) * 0.06] : [lo - 1, hi + 1]);
    [xlo, xhi] = pad(xlo, xhi);
    [ylo, yhi] = pad(ylo, yhi);
    const f = {
      x: (v) => PAD.l + ((v - xlo) / (xhi - xlo)) * (width - PAD.l - PAD.r),
      y: (v) => PAD.t + ((yhi - v) / (yhi - ylo)) * (height - PAD.t - PAD.b - 14),
    };
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const vy = valueTicks(ylo, yhi, Math.max(3, Math.floor(height / 55)));
    for (const v of vy.ticks) {
      svg.append(el("line", { class: "grid", x1: PAD.l, x2: width - PAD.r, y1: f.y(v), y2: f.y(v) }));
      svg.append(el("text", { class: "ylab", x: PAD.l - 6, y: f.y(v) + 4 }, fmt(v, vy.digits)));
    }
    const vx = valueTicks(xlo, xhi, Math.max(2, Math.floor((width - PAD.l - PAD.r) / 90)));
    for (const v of vx.ticks) {
      svg.append(el("line", { class: "grid", x1: f.x(v), x2: f.x(v), y1: PAD.t, y2: height - PAD.b - 14 }));
      svg.append(el("text", { class: "xlab", x: f.x(v), y: height - PAD.b + 2, "text-anchor": "middle" }, fmt(v, vx.digits)));
    }
    svg.append(el("text", { class: "unit", x: 4, y: 12 }, yunit));
    svg.append(el("text", { class: "unit", x: width - PAD.r, y: height - 6, "text-anchor": "end" }, xunit));
    return f;
  }

  function scatter() {
    const box = document.getElementById("is-oos-chart");
    if (!box || !D.candidates.length) return;
    const svg = el("svg", { role: "img", "aria-label": "in-sample against out-of-sample, per candidate" });
    box.replaceChildren(svg);
    const width = Math.max(320, box.clientWidth), height = 300;
    const xs = D.candidates.map((c) => c[0]), ys = D.candidates.map((c) => c[1]);
    const f = xy(svg, width, height, Math.min(...xs), Math.max(...xs), Math.min(0, ...ys), Math.max(0, ...ys),
      "in sample: mean training objective", "out of sample: net PnL over every test window (USDT)");
    svg.append(el("line", { x1: PAD.l, x2: width - PAD.r, y1: f.y(0), y2: f.y(0), class: "base" }));
    for (const [x, y, params, won] of D.candidates) {
      const dot = el("circle", { cx: f.x(x), cy: f.y(y), r: won ? 5 : 3.2, class: won ? "dot won" : "dot" });
      dot.append(el("title", {}, params + " · in sample " + fmt(x, 2) + " · out of sample " + fmt(y, 2) + " USDT" + (won ? " · won " + won + " fold(s)" : "")));
      svg.append(dot);
    }
  }

  function heat() {
    const box = document.getElementById("heat-chart");
    if (!box || !D.heat) return;
    const H = D.heat;
    const svg = el("svg", { role: "img", "aria-label": "mean training objective by " + H.x + " and " + H.y });
    box.replaceChildren(svg);
    const width = Math.min(Math.max(320, box.clientWidth), 140 + 90 * H.xs.length), rowH = 34;
    const height = PAD.t + rowH * H.ys.length + 44;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const cellW = (width - PAD.l - PAD.r) / H.xs.length;
    const values = H.cells.flat().filter((v) => v !== null);
    const top = Math.max(...values.map(Math.abs), 1e-9);
    H.ys.forEach((yv, r) => {
      svg.append(el("text", { class: "ylab", x: PAD.l - 6, y: PAD.t + r * rowH + rowH / 2 + 4 }, String(yv)));
      H.xs.forEach((xv, c) => {
        const v = H.cells[r][c];
        const a = v === null ? 0 : Math.min(1, Math.abs(v) / top);
        const fill = v === null ? "#eaeef2" : v >= 0 ? `rgba(26,127,55,${0.12 + 0.75 * a})` : `rgba(207,34,46,${0.12 + 0.75 * a})`;
        const rect = el("rect", { x: PAD.l + c * cellW, y: PAD.t + r * rowH, width: cellW - 2, height: rowH - 2, fill, class: "cell" });
        rect.append(el("title", {}, H.x + "=" + xv + ", " + H.y + "=" + yv + ": " + (v === null ? "no candidate" : fmt(v, 2))));
        svg.append(rect);
        if (v !== null) svg.append(el("text", { class: "cellv", x: PAD.l + c * cellW + cellW / 2 - 1, y: PAD.t + r * rowH + rowH / 2 + 4, "text-anchor": "middle" }, fmt(v, 0)));
      });
    });
    H.xs.forEach((xv, c) => svg.append(el("text", { class: "xlab", x: PAD.l + c * cellW + cellW / 2, y: PAD.t + rowH * H.ys.length + 16, "text-anchor": "middle" }, String(xv))));
    svg.append(el("text", { class: "unit", x: 4, y: 12 }, H.y));
    svg.append(el("text", { class: "unit", x: width - PAD.r, y: height - 6, "text-anchor": "end" }, H.x));
  }

  function drawAll() { stitched(); scatter(); heat(); }
  let pending = 0;
  window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(drawAll, 80); });
  drawAll();
  document.documentElement.dataset.charts = "drawn";
})();
