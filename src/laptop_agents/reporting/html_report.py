"""`summary.html`: one self-contained page that tells how a run went; it opens offline and fetches nothing.

The statistics and tables are HTML; the charts are drawn in the browser by the inlined `static/report.js`
(on `static/charts.js`) from the data the page embeds (`<script type="application/json" id="report-data">`),
at the page's real width, so their labels stay readable at any size and the charts zoom to any span or trade.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.core.candle import INTERVAL_MS
from laptop_agents.core.events import PositionClosed
from laptop_agents.reporting.breakdown import Breakdown, share_pct
from laptop_agents.reporting.curves import Point
from laptop_agents.reporting.events_view import RecentEvents, duration
from laptop_agents.reporting.journal_view import JournalView
from laptop_agents.reporting.metrics import RunSummary
from laptop_agents.reporting.report_tables import (
    category_tables,
    events_tables,
    journal_section,
    num,
    period_tables,
    signed_css,
    trade_table,
)
from laptop_agents.reporting.run_notes import RunNotes
from laptop_agents.reporting.timefmt import fmt_ts
from laptop_agents.reporting.trade_windows import TradeWindow


@dataclass(frozen=True, slots=True)
class ReportData:
    run_id: str
    mode: str
    symbol: str
    interval: str
    source: str
    strategy: str
    summary: RunSummary
    equity: Sequence[Point]
    prices: Sequence[tuple[int, float, float, float]]
    decimals: int
    """The price tick's decimals."""
    trades: Sequence[PositionClosed]
    windows: Sequence[TradeWindow]
    events: RecentEvents
    notes: RunNotes
    breakdown: Breakdown
    journal: JournalView | None
    error: str | None
    config: dict[str, Any]


def write_summary_html(path: Path, data: ReportData) -> None:
    atomic_write_bytes(path, render_summary(data).encode("utf-8"))


INLINE_SCRIPTS = ("charts.js", "report.js", "validate.js", "compare.js")


def script_hashes() -> str:
    """CSP sources that let exactly the reports' own inline scripts run, and nothing else (the dashboard
    serves the reports with them)."""
    digests = (hashlib.sha256(static_asset(name).encode("utf-8")).digest() for name in INLINE_SCRIPTS)
    return " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests)


def static_asset(name: str) -> str:
    """A file of `reporting/static/` (CSS and scripts the pages inline)."""
    return resources.files("laptop_agents.reporting").joinpath("static", name).read_text(encoding="utf-8")


def _stat(key: str, value: str, css: str = "", extra: str = "") -> str:
    more = f'<div class="x">{escape(extra)}</div>' if extra else ""
    return f'<div class="stat"><div class="k">{escape(key)}</div><div class="v {css}">{escape(value)}</div>{more}</div>'


def _stats(s: RunSummary, b: Breakdown) -> str:
    fee_share = share_pct(s.fees, b.gross_won)
    funding_share = share_pct(s.funding, b.gross_won)
    gross = (
        f"{share_note(fee_share)} of the winners' PnL before costs; gross PnL before fees {b.gross_pnl:+,.2f}"
        if b.total.trades
        else ""
    )
    dd_when = ""
    if s.max_drawdown_start_ts is not None and s.max_drawdown_trough_ts is not None:
        back = "not recovered"
        if s.max_drawdown_recovered_ts is not None:
            back = f"back {fmt_ts(s.max_drawdown_recovered_ts)}"
        dd_when = f"from {fmt_ts(s.max_drawdown_start_ts)}, trough {fmt_ts(s.max_drawdown_trough_ts)}, {back}"
    period = (s.last_ts - s.first_ts) if s.first_ts is not None and s.last_ts is not None else 0
    return "".join(
        (
            _stat("Net PnL", num(s.net_pnl, "+,.2f", " USDT"), signed_css(s.net_pnl)),
            _stat("Return", num(s.return_pct, "+.2f", " %"), signed_css(s.return_pct),
                  f"CAGR {num(s.cagr_pct, '+.2f', ' %')}" if s.cagr_pct is not None else "CAGR n/a (under 90 days)"),
            _stat("Trades", f"{s.trades:,}", "", f"long {b.by_side['long'].trades if 'long' in b.by_side else 0:,} · "
                  f"short {b.by_side['short'].trades if 'short' in b.by_side else 0:,}"),
            _stat("Win rate", num(s.win_rate_pct, ".1f", " %"), "",
                  f"streaks: {b.max_win_streak} won, {b.max_loss_streak} lost" if b.total.trades else ""),
            _stat("Profit factor", num(s.profit_factor, ".2f"), "", "gross won / gross lost, after fees"),
            _stat("Expectancy", num(b.expectancy, "+,.2f", " USDT"), signed_css(b.expectancy),
                  f"per trade; avg win {num(b.avg_win, ',.2f')}, avg loss {num(b.avg_loss, ',.2f')}"),
            _stat("Max drawdown", num(s.max_drawdown_pct, ".2f", " %"), "neg" if s.max_drawdown_pct else "", dd_when),
            _stat("Longest under water", duration(s.longest_drawdown_ms) if s.longest_drawdown_ms else "none", "",
                  "first candle below a peak to the one back at it"),
            _stat("Sharpe", num(s.sharpe, ".2f"), "", "daily UTC returns, ×√365, risk-free 0"),
            _stat("Sortino", num(s.sortino, ".2f"), "", "daily returns, downside deviation vs 0, ×√365"),
            _stat("Exposure", num(s.exposure_pct, ".1f", " %"), "", "of candles in a position"),
            _stat("Fees", num(s.fees, ",.2f", " USDT"), "", gross),
            _stat("Funding", num(s.funding, ",.2f", " USDT"), "", share_note(funding_share) + " of the winners' PnL "
                  "before costs" if b.total.trades else ""),
            _stat("Final equity", num(s.final_equity, ",.2f", " USDT"), "", f"from {s.starting_balance:,.2f}"),
            _stat("Candles", f"{s.candles:,}", "", duration(period) if period else ""),
        )
    )  # fmt: skip


def share_note(pct: float | None) -> str:
    return "n/a" if pct is None else f"{pct:.1f} %"


def _notes(d: ReportData) -> str:
    n = d.notes
    tripped = n.tripped_ms(d.summary.last_ts)
    prevented = n.refused.get("circuit_breaker", 0)
    breaker = escape(n.breaker_line())
    if n.trips:
        period = (d.summary.last_ts or 0) - (d.summary.first_ts or 0)
        share = f" ({100 * tripped / period:.0f} % of the run)" if period > 0 else ""
        breaker += f"; halted entries for {escape(duration(tripped))}{share} and refused {prevented:,} of them"
        counterfactual = n.prevented_line()
        if counterfactual:
            breaker += (
                '; <span title="from each trip, a paper account starting at the real cash takes every refused entry '
                "as it would have been taken, one at a time, closed only by its own stop, target or trailing stop; "
                f"the strategy's own exits are not modelled\">{escape(counterfactual)}</span>"
            )
    items = (
        ("Circuit breaker", breaker),
        ("Entries refused", escape(n.refused_line())),
        ("Gaps", f"{n.gaps:,} ({n.missing:,} candles missing)"),
        ("Sessions", escape(n.sessions_line())),
        ("Margin", escape(n.margin_line(d.config))),
    )
    return '<ul class="card notes">' + "".join(f"<li><b>{k}:</b> {v}</li>" for k, v in items) + "</ul>"


def _r(value: float, digits: int) -> float:
    return round(value, digits)


def chart_payload(d: ReportData) -> dict[str, Any]:
    """What report.js draws: equity and price buckets, the trades, and the candles around recent trades."""
    pd = d.decimals + 2
    priced = d.symbol.split(",")[0]
    step = INTERVAL_MS.get(d.interval, 60_000)
    windows = {str(w.trade_id): _window(w, step, d.decimals) for w in d.windows if w.bars}
    return {
        "symbol": priced,
        "step": step,
        "decimals": d.decimals,
        "start": d.summary.starting_balance,
        "equity": [[t, _r(e, 4), _r(dd, 4), _r(lo, 4), _r(hi, 4)] for t, e, dd, lo, hi in d.equity],
        "prices": [[t, _r(c, pd), _r(h, pd), _r(lo, pd)] for t, c, h, lo in d.prices],
        "trades": [_trade(t, pd) for t in d.trades],
        "windows": windows,
    }


def _trade(t: PositionClosed, digits: int) -> list[Any]:
    """[id, symbol, side, entry ts, entry price, exit ts, exit price, net, reason, setup, qty] (report.js)."""
    return [
        t.trade_id, t.symbol, t.side, t.entry_ts, _r(t.entry_price, digits), t.ts, _r(t.exit_price, digits),
        _r(t.net_pnl, 4), t.exit_reason, t.setup, t.qty,
    ]  # fmt: skip


def _window(w: TradeWindow, step: int, decimals: int) -> dict[str, Any]:
    """A trade's bars, compact (500 trades' windows in a few hundred KB): flat [dt, o, h, l, c, ...] with
    `dt` in candles from `t0` and prices in ticks (10^-decimals) from `p0`."""
    t0, p0, k = w.bars[0][0], w.bars[0][1], 10**decimals
    flat: list[int] = []
    for ts, o, h, lo, c in w.bars:
        flat += ((ts - t0) // step, round((o - p0) * k), round((h - p0) * k), round((lo - p0) * k), round((c - p0) * k))
    return {
        "t0": t0,
        "p0": p0,
        "k": k,
        "per_bar": w.per_bar,
        "stop": round(w.stop_price, decimals + 2),
        "target": None if w.target_price is None else round(w.target_price, decimals + 2),
        "b": flat,
    }


def embed_json(payload: dict[str, Any]) -> str:
    r"""`payload` as JSON to put inside a <script> element: "</" would end it early, and JSON allows
    "<\/" for the same text."""
    return orjson.dumps(payload).decode().replace("</", "<\\/")


def render_summary(d: ReportData) -> str:
    s, b = d.summary, d.breakdown
    priced = d.symbol.split(",")[0]
    charted = sum(1 for t in d.trades if t.symbol == priced)
    period = f"{fmt_ts(s.first_ts)} → {fmt_ts(s.last_ts)} UTC" if s.first_ts is not None and s.last_ts else "no candles"
    error = f'<div class="error"><b>This run failed:</b> {escape(d.error)}</div>' if d.error else ""
    shown = f"the last {len(d.trades):,} of {s.trades:,}" if len(d.trades) < s.trades else f"all {s.trades:,}"
    config = escape(orjson.dumps(d.config, option=orjson.OPT_INDENT_2).decode())
    several = f" (the charts show {escape(priced)}'s {charted:,})" if priced != d.symbol else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(d.symbol)} {escape(d.mode)} · {escape(d.run_id)}</title>
<style>{static_asset("report.css")}</style></head><body><main>
<h1>{escape(d.symbol)} · {escape(d.strategy)} · {escape(d.mode)}</h1>
<div class="sub">run <b>{escape(d.run_id)}</b> · {escape(d.interval)} candles from {escape(d.source)} · {period}</div>
{error}
<div class="stats">{_stats(s, b)}</div>
{_notes(d)}
<noscript><div class="error">The charts are drawn by the page's own script; every table below is complete
without it.</div></noscript>
<h2>Equity, drawdown and price <span class="muted" id="span">whole run</span></h2>
<div class="card">
<div class="toolbar muted">drag across a chart to zoom all three; double-click or
<button id="zoom-reset" type="button">whole run</button></div>
<div class="chart" id="equity-chart" data-label="equity (USDT): last, and each bucket's low and high"></div>
<div class="chart" id="drawdown-chart" data-label="drawdown (%)"></div>
<div class="legend muted"><span style="color:#0969da">▲ long entry</span>
<span style="color:#bc4c00">▼ short entry</span><span style="color:#1a7f37">● winning exit</span>
<span style="color:#cf222e">● losing exit</span><span>dashed: entry → exit</span>
<span>markers for {shown} trades{several}</span></div>
<div class="chart" id="price-chart" data-label="{escape(priced)} price (USDT) with every trade"></div></div>
<h2>Trade</h2>
<div class="card"><div class="toolbar"><button id="trade-prev" type="button">◀ earlier</button>
<select id="trade-pick" aria-label="trade"></select><button id="trade-next" type="button">later ▶</button></div>
<div class="muted" id="trade-caption"></div>
<div class="chart" id="trade-chart" data-label="the trade's candles, entry, stop, target and exit"></div></div>
<h2>Breakdown</h2>
<div class="card">{period_tables(b)}{category_tables(b)}</div>
{journal_section(d.journal, d.decimals)}
<h2>Trades ({shown}; exits: {escape(", ".join(f"{k} {v:,}" for k, v in s.exit_reasons.items()) or "none")})</h2>
<div class="scroll">{trade_table(d.trades, d.decimals)}</div>
<h2>Events</h2>
<div class="events">{events_tables(d.events, d.decimals)}</div>
<h2>Configuration</h2>
<details><summary>effective configuration (secrets redacted)</summary><pre>{config}</pre></details>
</main>
<script type="application/json" id="report-data">{embed_json(chart_payload(d))}</script>
<script>{static_asset("charts.js")}</script>
<script>{static_asset("report.js")}</script>
</body></html>
"""


def add_section(path: Path, key: str, title: str, body_html: str) -> None:
    """Put (or replace) the section `key` in a written report, before its configuration: for what is
    computed after the run (`la parity`). `body_html` must be escaped already."""
    page = path.read_text(encoding="utf-8")
    start, end = f"<!-- section:{key} -->", f"<!-- /section:{key} -->"
    block = f'{start}<h2 id="{escape(key)}">{escape(title)}</h2>{body_html}{end}'
    if start in page and end in page:
        page = page[: page.index(start)] + block + page[page.index(end) + len(end) :]
    elif "<h2>Configuration</h2>" in page:
        page = page.replace("<h2>Configuration</h2>", block + "<h2>Configuration</h2>", 1)
    else:
        page = page.replace("</main>", block + "</main>", 1)
    atomic_write_bytes(path, page.encode("utf-8"))
