"""`la runs compare`'s page: the comparison table and every run's return over time on one chart.

Self-contained like summary.html (inline CSS and scripts, the data embedded), so it opens offline. Each
curve is the run's equity.csv in at most 1,200 buckets, as a return on the run's starting balance, so runs
with different balances or periods share one axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.catalog.listing import RunInfo
from laptop_agents.dashboard.run_view import RunView
from laptop_agents.reporting.html_report import embed_json, static_asset


def _curve(info: RunInfo) -> dict[str, Any]:
    view = RunView(info.path)
    points = view.equity(1200)
    broker = view.config().get("broker") or {}
    start = float(broker.get("starting_balance") or (points["equity"][0] if points["equity"] else 1.0))
    return {
        "run_id": info.run_id,
        "ts": [int(t) for t in points["ts"]],
        "ret": [round((e / start - 1.0) * 100.0, 4) for e in points["equity"]],
    }


def render_compare_page(infos: Sequence[RunInfo], rows: Sequence[tuple[str, ...]]) -> str:
    payload = embed_json({"runs": [_curve(i) for i in infos]})
    head = "".join(
        f'<th><span class="key" data-run-key="{k}"></span>{escape(i.run_id)}</th>' for k, i in enumerate(infos)
    )
    body = "".join(
        f'<tr><td class="l">{escape(r[0])}</td>' + "".join(f"<td>{escape(c)}</td>" for c in r[1:]) + "</tr>"
        for r in rows
    )
    title = " vs ".join(i.run_id for i in infos)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>compare · {escape(title)}</title>
<style>{static_asset("report.css")}</style></head><body><main>
<h1>{len(infos)} runs compared</h1>
<div class="sub">{escape(title)}</div>
<h2>Return on the starting balance (%)</h2>
<div class="card"><div class="chart" id="compare-chart"></div></div>
<h2>Side by side</h2>
<div class="scroll"><table><thead><tr><th class="l"></th>{head}</tr></thead><tbody>{body}</tbody></table></div>
</main>
<script type="application/json" id="compare-data">{payload}</script>
<script>{static_asset("charts.js")}</script>
<script>{static_asset("compare.js")}</script>
</body></html>
"""


def write_compare_page(path: Path, infos: Sequence[RunInfo], rows: Sequence[tuple[str, ...]]) -> None:
    atomic_write_bytes(path, render_compare_page(infos, rows).encode("utf-8"))
