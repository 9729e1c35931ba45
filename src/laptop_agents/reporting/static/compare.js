/* The runs comparison page: each run's return (%) over time on one chart, from the data the page embeds. */
(function () {
  "use strict";
  const { PAD, el, fmt, utc, frame, path, clip } = window.LaCharts;
  const D = JSON.parse(document.getElementById("compare-data").textContent);
  const COLORS = ["#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#1b7c83", "#9a6700", "#bf3989"];
  const box = document.getElementById("compare-chart");
  function draw() {
    const svg = el("svg", { role: "img", "aria-label": "return of each run (%)" });
    box.replaceChildren(svg);
    const runs = D.runs.filter((r) => r.ts.length);
    if (!runs.length) return;
    let t0 = Infinity, t1 = -Infinity, lo = 0, hi = 0;
    for (const r of runs) {
      t0 = Math.min(t0, r.ts[0]); t1 = Math.max(t1, r.ts[r.ts.length - 1]);
      for (const v of r.ret) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    const width = Math.max(320, box.clientWidth), height = 320;
    const f = frame(svg, width, height, t0, t1, lo, hi, "return %");
    const g = clip(svg, width, height, "clip-cmp");
    g.append(el("line", { x1: PAD.l, x2: width - PAD.r, y1: f.y(0), y2: f.y(0), class: "base" }));
    runs.forEach((r, i) => {
      const line = el("path", { d: path(r.ts.map((t, k) => [t, r.ret[k]]), f), class: "run", stroke: COLORS[i % COLORS.length] });
      line.append(el("title", {}, r.run_id + ": " + fmt(r.ret[r.ret.length - 1], 2) + " % at " + utc(r.ts[r.ts.length - 1])));
      g.append(line);
    });
    for (const [i, r] of D.runs.entries()) {
      const key = document.querySelector('[data-run-key="' + i + '"]');
      if (key) key.style.background = COLORS[i % COLORS.length];
    }
  }
  let pending = 0;
  window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(draw, 80); });
  draw();
  document.documentElement.dataset.charts = "drawn";
})();
