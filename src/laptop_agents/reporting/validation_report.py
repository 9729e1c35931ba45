"""The validation section of a validate run's `summary.html`, and its console leaderboard."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

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
        f"<td class=n>{r['train_net_pnl']:,.2f}</td><td class=n>{r['trades']}</td><td class=n>{r['folds_won']}</td>"
        f"<td>{escape(_params(r['params']))}</td></tr>"
        for r in result["leaderboard"][:25]
    )
    dropped = result["combinations_dropped_invalid"]
    dropped_note = f" ({dropped} invalid combinations dropped)" if dropped else ""
    return f"""<h2>Validation</h2>
<div class="card">{result["combinations_valid"]} candidates{dropped_note},
walk-forward over {result["candles"]:,} candles: train {result["train"]:,}, test {result["test"]:,}, objective
<b>{escape(result["objective"])}</b>. Out of sample, each fold's best parameters made
<b>{oos["net_pnl"]:+,.2f} USDT</b> in {oos["trades"]} trades;
{oos["profitable_folds"]} of {oos["folds"]} folds profitable;
worst drawdown {oos["worst_drawdown"]:,.2f}. Best overall: <code>{escape(_params(result["best_params"]))}</code>.</div>
<h2>Folds</h2>
<table><tr><th>fold</th><th>train</th><th>test</th><th>best parameters</th><th>train PnL</th><th>test PnL</th>
<th>test trades</th><th>test max DD</th></tr>{folds}</table>
<h2>Leaderboard (top 25 by mean training objective)</h2>
<table><tr><th>rank</th><th>mean objective</th><th>train PnL</th><th>trades</th><th>folds won</th>
<th>parameters</th></tr>
{board}</table>"""


def write_validation_html(path: Path, run_id: str, result: dict[str, Any], *, elapsed_s: float, jobs: int) -> None:
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(result["symbol"])} validate · {escape(run_id)}</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}}
main{{max-width:1140px;margin:0 auto;padding:18px}}
h1{{font-size:20px;margin:4px 0}} h2{{font-size:15px;margin:22px 0 8px}}
.sub{{color:#59636e}} .card{{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:10px 12px}}
table{{border-collapse:collapse;width:100%;background:#fff;font-size:13px}}
th,td{{border:1px solid #d1d9e0;padding:4px 6px;text-align:left}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}
</style></head><body><main>
<h1>{escape(result["symbol"])} · validate · {escape(result["strategy"])}</h1>
<div class="sub">run {escape(run_id)} · {escape(result["source"])} {escape(result["interval"])} ·
{fmt_ts(result["first_ts"])} → {fmt_ts(result["last_ts"])} UTC · seed {result["seed"]} ·
{elapsed_s:.1f} s on {jobs} processes</div>
{validation_section(result)}
</main></body></html>
"""
    path.write_text(page, encoding="utf-8")
