"""A validate run's `summary.html` and its console leaderboard.

The page explains what winning a fold means, then charts (by `static/validate.js`) the winners'
out-of-sample windows stitched, every candidate's in-sample against out-of-sample result, and for a grid of
two parameters a heat map; the folds and the leaderboard follow as tables."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.reporting.html_report import embed_json, static_asset
from laptop_agents.reporting.timefmt import fmt_ts


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def leaderboard_table(result: dict[str, Any], top: int = 10) -> str:
    oos = result["out_of_sample"]
    lines = [
        f"Validation · {result['strategy']} · {result['candles']:,} candles · {len(result['folds'])} folds "
        f"(train {result['train']:,} / test {result['test']:,}) · objective {result['objective']}",
        "─" * 100,
        f"{'rank':>4}  {'mean objective':>14}  {'train PnL':>11}  {'trades':>6}  {'won':>3}  params",
    ]
    for row in result["leaderboard"][:top]:
        lines.append(
            f"{row['rank']:>4}  {row['mean_objective']:>14,.2f}  {row['train_net_pnl']:>11,.2f}  "
            f"{row['trades']:>6}  {row['folds_won']:>3}  {_params(row['params'])}"
        )
    lines.append("─" * 100)
    lines.append(
        f"out of sample (each fold's best on the next window): net PnL {oos['net_pnl']:+,.2f} USDT · "
        f"{oos['trades']} trades · {oos['profitable_folds']}/{oos['folds']} folds profitable · "
        f"worst drawdown {oos['worst_drawdown']:,.2f}"
    )
    return "\n".join(lines)


def _objective_text(result: dict[str, Any]) -> str:
    objective = result["objective"]
    if objective == "net_pnl":
        return "net PnL"
    if objective == "return_over_dd":
        return "net PnL ÷ maximum drawdown (net PnL alone when there was no drawdown)"
    return f"net PnL − {result.get('dd_penalty', 1.0):g} × maximum drawdown (USDT)"


def stitched_oos(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each fold's winner's out-of-sample equity, one fold after another: each window starts where the
    previous ended (its net PnL carried), so the line is what trading the winners in turn would have made."""
    carried = 0.0
    out = []
    for f in result["folds"]:
        curve = f.get("test_curve") or []
        out.append({
            "fold": f["fold"],
            "params": _params(f["best_params"]),
            "net": f["test_result"]["net_pnl"],
            "ts": [p[0] for p in curve],
            "eq": [round(p[1] + carried, 4) for p in curve],
        })  # fmt: skip
        carried += float(f["test_result"]["net_pnl"])
    return out


def heat_map(result: dict[str, Any]) -> dict[str, Any] | None:
    """The mean training objective over a grid of exactly two varying parameters (None otherwise)."""
    varying = [k for k, values in result["grid"].items() if len(values) > 1]
    if len(varying) != 2:
        return None
    kx, ky = varying
    xs, ys = list(result["grid"][kx]), list(result["grid"][ky])
    cells: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    for row in result["leaderboard"]:
        params = row["params"]
        if params.get(kx) in xs and params.get(ky) in ys:
            cells[ys.index(params[ky])][xs.index(params[kx])] = round(float(row["mean_objective"]), 4)
    return {"x": kx, "y": ky, "xs": xs, "ys": ys, "cells": cells}


def validation_payload(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "start": float(result.get("starting_balance", 10_000.0)),
        "oos": stitched_oos(result),
        "candidates": [
            [
                round(float(r["mean_objective"]), 4),
                round(float(r.get("test_net_pnl", 0.0)), 4),
                _params(r["params"]),
                r["folds_won"],
            ]
            for r in result["leaderboard"]
        ],
        "heat": heat_map(result),
    }


def validation_section(result: dict[str, Any]) -> str:
    oos = result["out_of_sample"]
    folds = "".join(
        f"<tr><td>{f['fold']}</td><td>{fmt_ts(f['train']['from_ts'])} → {fmt_ts(f['train']['to_ts'])}</td>"
        f"<td>{fmt_ts(f['test']['from_ts'])} → {fmt_ts(f['test']['to_ts'])}</td>"
        f"<td>{escape(_params(f['best_params']))}</td><td class=n>{f['train_result']['net_pnl']:,.2f}</td>"
        f"<td class=n>{f['test_result']['net_pnl']:,.2f}</td><td class=n>{f['test_result']['trades']}</td>"
        f"<td class=n>{f['test_result']['max_drawdown']:,.2f}</td></tr>"
        for f in result["folds"]
    )
    board = "".join(
        f"<tr><td class=n>{r['rank']}</td><td class=n>{r['mean_objective']:,.2f}</td>"
        f"<td class=n>{r['train_net_pnl']:,.2f}</td><td class=n>{r.get('test_net_pnl', 0.0):,.2f}</td>"
        f"<td class=n>{r['trades']}</td><td class=n>{r['folds_won']}</td>"
        f"<td>{escape(_params(r['params']))}</td></tr>"
        for r in result["leaderboard"][:25]
    )
    dropped = result["combinations_dropped_invalid"]
    dropped_note = f" ({dropped} invalid combinations dropped)" if dropped else ""
    heat = heat_map(result)
    heat_html = (
        f"<h2>Mean training objective by {escape(heat['x'])} and {escape(heat['y'])}</h2>"
        '<div class="card"><div class="chart" id="heat-chart"></div><div class="muted">green above zero, red '
        "below; a lone bright cell among dull ones is a fluke more often than an edge</div></div>"
        if heat
        else ""
    )
    return f"""<h2>Validation</h2>
<div class="card">{result["combinations_valid"]} candidates{dropped_note},
walk-forward over {result["candles"]:,} candles: train {result["train"]:,}, test {result["test"]:,}, objective
<b>{escape(result["objective"])}</b>. Out of sample, each fold's best parameters made
<b>{oos["net_pnl"]:+,.2f} USDT</b> in {oos["trades"]} trades;
{oos["profitable_folds"]} of {oos["folds"]} folds profitable;
worst drawdown {oos["worst_drawdown"]:,.2f}. Best overall: <code>{escape(_params(result["best_params"]))}</code>.</div>
<div class="card"><b>What "won" means.</b> On each fold every candidate trades the training window; the one
with the highest objective ({escape(_objective_text(result))}) <i>wins the fold</i> and is then traded on the
next window, which no candidate was chosen on. Those out-of-sample windows, stitched below, are the
validation's result; "folds won" counts how often a candidate was chosen, and the leaderboard ranks by the
mean training objective, which by itself says nothing about the future.</div>
<h2>Out of sample: each fold's winner on its next window, stitched</h2>
<div class="card"><div class="chart" id="oos-chart"></div><div class="muted">each window starts where the
previous one ended; a red segment is a fold whose winner lost out of sample</div></div>
<h2>In sample against out of sample, every candidate</h2>
<div class="card"><div class="chart" id="is-oos-chart"></div><div class="muted">x: mean training objective;
y: net PnL over every test window (blue: won a fold). Points along a rising line mean training results carry
over; a cloud means the grid is fitting noise.</div></div>
{heat_html}
<h2>Folds</h2>
<table><tr><th>fold</th><th>train</th><th>test</th><th>best parameters</th><th>train PnL</th><th>test PnL</th>
<th>test trades</th><th>test max DD</th></tr>{folds}</table>
<h2>Leaderboard (top 25 by mean training objective)</h2>
<table><tr><th>rank</th><th>mean objective</th><th>train PnL</th><th>test PnL</th><th>trades</th><th>folds won</th>
<th>parameters</th></tr>
{board}</table>"""


def write_validation_html(path: Path, run_id: str, result: dict[str, Any], *, elapsed_s: float, where: str) -> None:
    payload = embed_json(validation_payload(result))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(result["symbol"])} validate · {escape(run_id)}</title>
<style>{static_asset("report.css")}
th,td{{border:1px solid #d1d9e0;text-align:left}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}</style>
</head><body><main>
<h1>{escape(result["symbol"])} · validate · {escape(result["strategy"])}</h1>
<div class="sub">run {escape(run_id)} · {escape(result["source"])} {escape(result["interval"])} ·
{fmt_ts(result["first_ts"])} → {fmt_ts(result["last_ts"])} UTC · seed {result["seed"]} ·
{elapsed_s:.1f} s {escape(where)}</div>
{validation_section(result)}
</main>
<script type="application/json" id="validate-data">{payload}</script>
<script>{static_asset("charts.js")}</script>
<script>{static_asset("validate.js")}</script>
</body></html>
"""
    atomic_write_bytes(path, page.encode("utf-8"))
