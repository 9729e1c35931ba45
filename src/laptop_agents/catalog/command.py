"""`la runs`: the runs under a runs folder as one table; one run in full; runs side by side; pruning.

la runs [--runs-dir runs]                 every run: id, mode, strategy, symbols, period, trades, PnL, DD, state
la runs show ID                           one run's statistics and breakdown headline, and where its report is
la runs compare ID ID... [--out FILE]     one table, and an HTML page with the equity curves on one chart
la runs prune --keep N [--force] [--dry-run]
                                          delete all but the newest N; never a running run, nor a live-exchange
                                          one without --force (its journal is the record of real orders)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from laptop_agents.catalog.compare_page import write_compare_page
from laptop_agents.catalog.listing import RunInfo, list_runs, run_info
from laptop_agents.core.errors import InputError
from laptop_agents.reporting.events_view import duration
from laptop_agents.reporting.timefmt import fmt_ts
from laptop_agents.runs.run_ref import latest_run, resolve_run


def run(args: argparse.Namespace) -> int:
    runs_dir = Path(args.runs_dir)
    action = args.action or "list"
    if action == "list":
        return _list(runs_dir)
    if action == "show":
        return _show(run_info(resolve_run(args.run, runs_dir, command="la runs show")))
    if action == "compare":
        return _compare(runs_dir, args.runs, args.out)
    return _prune(runs_dir, args.keep, force=args.force, dry_run=args.dry_run)


def _period(info: RunInfo) -> str:
    if info.first_ts is None or info.last_ts is None:
        return "no candles"
    return f"{fmt_ts(info.first_ts)} → {fmt_ts(info.last_ts)}"


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} %"


def _list(runs_dir: Path) -> int:
    infos = list_runs(runs_dir)
    if not infos:
        print(f"no runs under {runs_dir}/ yet; start one with la run")
        return 0
    head = ("run", "mode", "strategy", "symbols", "period (UTC)", "trades", "net PnL", "max DD", "state")
    rows: list[tuple[str, ...]] = [
        (
            i.run_id,
            i.mode,
            i.strategy,
            ",".join(i.symbols),
            _period(i),
            f"{i.trades:,}",
            _money(i.net_pnl),
            _pct(i.max_drawdown_pct),
            i.state,
        )
        for i in infos
    ]
    _print_table(head, rows, right=(5, 6, 7))
    return 0


def _print_table(head: tuple[str, ...], rows: list[tuple[str, ...]], *, right: tuple[int, ...] = ()) -> None:
    widths = [max(len(head[c]), *(len(r[c]) for r in rows)) for c in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(head))
    print("  ".join("─" * w for w in widths))
    for r in rows:
        print(line(r))


_SHOWN = (
    ("net PnL", "net_pnl", "{:+,.2f} USDT"),
    ("return", "return_pct", "{:+.2f} %"),
    ("CAGR", "cagr_pct", "{:+.2f} %"),
    ("trades", "trades", "{:,}"),
    ("win rate", "win_rate_pct", "{:.1f} %"),
    ("profit factor", "profit_factor", "{:.2f}"),
    ("max drawdown", "max_drawdown_pct", "{:.2f} %"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("fees", "fees", "{:,.2f} USDT"),
    ("funding", "funding", "{:,.2f} USDT"),
    ("exposure", "exposure_pct", "{:.1f} %"),
    ("final equity", "final_equity", "{:,.2f} USDT"),
    ("candles", "candles", "{:,}"),
)


def _stat(stats: dict[str, Any] | None, key: str, fmt: str) -> str:
    value = None if stats is None else stats.get(key)
    return "n/a" if value is None else fmt.format(value)


def _show(info: RunInfo) -> int:
    rows = [
        ("run", info.run_id),
        ("folder", str(info.path)),
        ("state", info.state),
        ("mode", info.mode),
        ("strategy", info.strategy),
        ("symbols", ",".join(info.symbols) + (f" · {info.interval}" if info.interval else "")),
        ("period", _period(info) + " UTC"),
    ]
    s = info.summary
    if s is None:
        rows += [("trades", f"{info.trades:,} so far"), ("net PnL", _money(info.net_pnl) + " USDT realised"),
                 ("max drawdown", _pct(info.max_drawdown_pct))]  # fmt: skip
    else:
        rows += [(label, _stat(s, key, fmt)) for label, key, fmt in _SHOWN]
        if s.get("longest_drawdown_ms"):
            rows.append(("longest under water", duration(float(s["longest_drawdown_ms"]))))
        reasons = s.get("exit_reasons") or {}
        rows.append(("exits", ", ".join(f"{k} {v:,}" for k, v in reasons.items()) or "none"))
    report = info.path / "summary.html"
    rows.append(("report", str(report) if report.exists() else "none yet (written when the run ends)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _compare(runs_dir: Path, refs: list[str], out: str | None) -> int:
    if len(refs) < 2:
        raise InputError("la runs compare: give two or more runs to compare")
    infos = [run_info(resolve_run(ref, runs_dir, command="la runs compare")) for ref in refs]
    head = ("", *(i.run_id for i in infos))
    rows: list[tuple[str, ...]] = [
        ("mode", *(i.mode for i in infos)),
        ("strategy", *(i.strategy for i in infos)),
        ("symbols", *(",".join(i.symbols) for i in infos)),
        ("period (UTC)", *(_period(i) for i in infos)),
        ("state", *(i.state for i in infos)),
    ]
    rows += [(label, *(_stat(i.summary, key, fmt) for i in infos)) for label, key, fmt in _SHOWN]
    _print_table(head, rows, right=tuple(range(1, len(head))))
    target = Path(out) if out else runs_dir / "compare.html"
    try:
        write_compare_page(target, infos, rows)
    except OSError as exc:
        raise InputError(
            f"la runs compare: --out: cannot write {target} ({exc.strerror}); pick a writable path"
        ) from None
    print(f"\nequity curves on one chart: {target}")
    return 0


def _prune(runs_dir: Path, keep: int, *, force: bool, dry_run: bool) -> int:
    if keep < 0:
        raise InputError("la runs prune: --keep must be 0 or more (how many of the newest runs to keep)")
    infos = list_runs(runs_dir)
    latest = latest_run(runs_dir)
    doomed = infos[: max(0, len(infos) - keep)]
    deleted = kept = 0
    for info in doomed:
        why = None
        if info.live:
            why = f"its daemon is {info.state} (stop it first)"
        elif info.mode == "live-exchange" and not force:
            why = "a live-exchange run (its order journal is the record of real orders; --force to delete)"
        elif latest is not None and latest.resolve() == info.path.resolve():
            why = "runs/latest points at it"
        if why:
            print(f"kept    {info.run_id}: {why}")
            kept += 1
            continue
        print(f"{'would delete' if dry_run else 'deleted'} {info.run_id}")
        if not dry_run:
            shutil.rmtree(info.path)
        deleted += 1
    verb = "would delete" if dry_run else "deleted"
    print(f"{verb} {deleted:,} of {len(infos):,} runs; kept the newest {min(keep, len(infos)):,}"
          + (f" and {kept:,} more (above)" if kept else ""), file=sys.stdout)  # fmt: skip
    return 0
