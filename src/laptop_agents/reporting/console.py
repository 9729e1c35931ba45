"""The compact result table printed at the end of a run."""

from __future__ import annotations

from typing import Protocol

from laptop_agents.config.models import Settings
from laptop_agents.reporting.metrics import RunSummary
from laptop_agents.reporting.run_notes import RunNotes
from laptop_agents.reporting.timefmt import fmt_ts


class _Folder(Protocol):
    @property
    def run_id(self) -> str: ...


class RunResult(Protocol):
    """What a backtest or a live session reports at its end."""

    @property
    def folder(self) -> _Folder: ...
    @property
    def summary(self) -> RunSummary: ...
    @property
    def notes(self) -> RunNotes: ...
    @property
    def source(self) -> str: ...
    @property
    def first_ts(self) -> int | None: ...
    @property
    def last_ts(self) -> int | None: ...
    @property
    def gaps(self) -> int: ...
    @property
    def missing_candles(self) -> int: ...


def _opt(value: float | None, fmt: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{fmt}}{suffix}"


def _gaps_text(gaps: int, missing: int, backfilled: int) -> str:
    """A backtest's gaps are candles the data lacks; a live session's are fetched over REST, and says so."""
    if not gaps:
        return "no gaps"
    text = f"{gaps:,} gap{'' if gaps == 1 else 's'} ({missing:,} candle{'' if missing == 1 else 's'})"
    if backfilled >= missing:
        return f"{text}, backfilled"
    return f"{text}, {backfilled:,} backfilled" if backfilled else text


def result_table(
    result: RunResult, settings: Settings, *, elapsed_s: float, shown_path: str, title: str = "Backtest result"
) -> str:
    s = result.summary
    period = (
        f"{fmt_ts(result.first_ts)} → {fmt_ts(result.last_ts)} UTC"
        if result.first_ts is not None and result.last_ts is not None
        else "no candles"
    )
    speed = s.candles / elapsed_s if elapsed_s > 0 else 0.0
    gaps = _gaps_text(result.gaps, result.missing_candles, result.notes.backfilled)
    rows = [
        ("run", f"{result.folder.run_id}"),
        ("data", f"{','.join(settings.data.trading_symbols)} {settings.data.interval} · {result.source}"),
        ("period", f"{period} · {s.candles:,} candles · {gaps}"),
        ("strategy", strategy_label(settings)),
        ("net PnL", f"{s.net_pnl:+,.2f} USDT ({s.return_pct:+.2f} %)"),
        (
            "trades",
            f"{s.trades:,}{result.notes.per_symbol_line(settings.data.trading_symbols)} · "
            f"win rate {_opt(s.win_rate_pct, '.1f', ' %')} · profit factor "
            f"{_opt(s.profit_factor, '.2f')}",
        ),
        ("exits", ", ".join(f"{k} {v}" for k, v in s.exit_reasons.items()) or "none"),
        ("max drawdown", f"{s.max_drawdown_pct:.2f} %"),
        ("breaker", result.notes.breaker_line()),
        ("refused", f"entries refused: {result.notes.refused_line()}"),
        ("prevented", result.notes.prevented_line()),
        ("sharpe", f"{_opt(s.sharpe, '.2f')} (daily returns, annualised)"),
        ("fees · funding", f"{s.fees:,.2f} · {s.funding:,.2f} USDT"),
        ("exposure", f"{s.exposure_pct:.1f} % of candles in a position"),
        ("equity", f"{s.starting_balance:,.2f} → {s.final_equity:,.2f} USDT"),
        ("speed", f"{speed:,.0f} candles/s ({elapsed_s:.2f} s)"),
        ("summary", shown_path),
    ]
    rows = [(k, v) for k, v in rows if v]  # rows that have nothing to say this run (prevented) are left out
    if result.notes.resumes:  # a resumed run: the table counts every session, and says how many
        rows.insert(3, ("sessions", result.notes.sessions_line()))
    width = max(len(k) for k, _ in rows)
    lines = [title, "─" * max(len(title), 60)]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def strategy_label(settings: Settings) -> str:
    """The strategy and the parameters a reader checks first."""
    st = settings.strategy
    if st.name == "sma_atr":
        return f"sma_atr (fast {st.fast_sma}, slow {st.slow_sma}, ATR {st.atr_period})"
    if st.params:
        shown = ", ".join(f"{k} {v}" for k, v in list(st.params.items())[:4])
        more = f", +{len(st.params) - 4} more" if len(st.params) > 4 else ""
        return f"{st.name} ({shown}{more})"
    return st.name
