"""The parity report as a trader reads it: the printed table, `parity.json`, and the run report's section."""

from __future__ import annotations

from html import escape
from typing import Any

from laptop_agents.replay.parity import ParityResult
from laptop_agents.reporting.timefmt import fmt_ts


def summary_lines(result: ParityResult) -> list[str]:
    out = [f"parity of {result.run_id} ({result.mode}) with a backtest of the candles it traded, same "
           "configuration and warm-up"]  # fmt: skip
    missing = f", {result.missing_at_venue} the venue does not have" if result.missing_at_venue else ""
    out.append(f"candles: {result.candles} traded; {len(result.candle_diffs)} differ from the venue's candles{missing}")
    keys = ("signals", "entries", "refusals", "trades")
    out.append("live:     " + ", ".join(f"{result.live[k]} {k}" for k in keys))
    out.append("backtest: " + ", ".join(f"{result.backtest[k]} {k}" for k in keys))
    out += [f"note: {note}" for note in result.notes]
    if not result.differences:
        out.append("no differences: every decision live was the backtest's")
        return out
    causes = result.by_cause()
    out.append(
        f"{len(result.differences)} differences, by cause: " + ", ".join(f"{k} {v}" for k, v in sorted(causes.items()))
    )
    out.append(f"{'time (UTC)':<17} {'symbol':<8} {'what':<7} {'live':<34} {'backtest':<34} cause")
    for d in result.differences:
        out.append(f"{fmt_ts(d.ts):<17} {d.symbol:<8} {d.what:<7} {d.live[:34]:<34} {d.backtest[:34]:<34} "
                   f"{d.cause}: {d.detail}")  # fmt: skip
    return out


def as_json(result: ParityResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "mode": result.mode,
        "candles": result.candles,
        "candles_differing": len(result.candle_diffs),
        "missing_at_venue": result.missing_at_venue,
        "live": result.live,
        "backtest": result.backtest,
        "by_cause": result.by_cause(),
        "notes": result.notes,
        "differences": [
            {
                "ts": d.ts,
                "symbol": d.symbol,
                "what": d.what,
                "live": d.live,
                "backtest": d.backtest,
                "cause": d.cause,
                "detail": d.detail,
                "layer": d.layer,
            }
            for d in result.differences
        ],
    }


def section_html(result: ParityResult) -> str:
    """The run report's parity section: the counts, the causes, every difference."""
    counts = " · ".join(f"{k}: live {result.live[k]}, backtest {result.backtest[k]}" for k in result.live)
    rows = "".join(
        f"<tr><td>{fmt_ts(d.ts)}</td><td>{escape(d.symbol)}</td><td>{escape(d.what)}</td>"
        f"<td>{escape(d.live)}</td><td>{escape(d.backtest)}</td><td>{escape(d.cause)}</td>"
        f"<td>{escape(d.detail)}</td></tr>"
        for d in result.differences
    )
    causes = ", ".join(f"{escape(k)} {v}" for k, v in sorted(result.by_cause().items())) or "none"
    notes = "".join('<p class="muted">Note: ' + escape(n) + ".</p>" for n in result.notes)
    table = (
        "<style>.parity th,.parity td{text-align:left;white-space:normal;vertical-align:top}"
        ".parity td:first-child{white-space:nowrap}.parity td:last-child{min-width:24em}</style>"
        '<div class="scroll"><table class="parity"><thead><tr><th>time (UTC)</th><th>symbol</th><th>what</th>'
        f"<th>live</th><th>backtest</th><th>cause</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table></div>"
        if rows
        else '<p class="muted">No differences: every decision live was the backtest\'s.</p>'
    )
    return (
        f'<p class="muted">A backtest of the {result.candles} candles this session traded, with its configuration '
        f"and warm-up; {len(result.candle_diffs)} of them differ from the venue's REST candles. {escape(counts)}."
        f"</p>{notes}"
        f"<p>Differences by cause: {causes}.</p>{table}"
    )
