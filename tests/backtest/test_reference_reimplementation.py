"""An independent implementation of the `sma_atr` rules must reproduce our `trades.csv`.

The reference below is written from the issue text alone, deliberately naive (lists and slices, no
incremental state, none of the package's code), and run on the bundled real candles. Both must agree
on every trade: times, sides, reasons, quantities exactly, prices and PnL to 1e-9 relative.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.config.models import Settings
from laptop_agents.core.clock import LiveClock
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.run_folder import RunFolder
from tests.helpers import settings


def reference_trades(path: Path, s: Settings) -> list[dict[str, Any]]:
    st, rk, br, cb = s.strategy, s.risk, s.broker, s.circuit_breaker
    cost = (br.half_spread_bps + br.slippage_bps) / 1e4
    slip = br.slippage_bps / 1e4
    taker, maker = br.taker_fee_bps / 1e4, br.maker_fee_bps / 1e4
    with path.open() as f:
        rows = [
            (int(r["ts"]), float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]))
            for r in csv.DictReader(f)
        ]
    cash = br.starting_balance
    peak = cash
    tripped = False
    losses = 0
    pos: dict[str, Any] | None = None
    trades: list[dict[str, Any]] = []
    closes: list[float] = []
    trs: list[float] = []
    atr: float | None = None
    prev_fast = prev_slow = None

    def close(ts: int, price: float, fee_rate: float, reason: str) -> None:
        nonlocal cash, pos, losses, tripped
        assert pos is not None
        sign = 1 if pos["side"] == "long" else -1
        pnl = sign * pos["qty"] * (price - pos["entry"])
        fee = pos["qty"] * price * fee_rate
        cash += pnl - fee
        fees = pos["fee"] + fee
        trades.append(
            {
                "trade_id": len(trades) + 1,
                "side": pos["side"],
                "entry_ts": pos["ts"],
                "entry_price": pos["entry"],
                "exit_ts": ts,
                "exit_price": price,
                "qty": pos["qty"],
                "pnl": pnl,
                "fees": fees,
                "net_pnl": pnl - fees,
                "exit_reason": reason,
            }
        )
        losses = losses + 1 if pnl - fees < 0 else 0
        if cb.enabled and losses >= cb.max_consecutive_losses:
            tripped = True
        pos = None

    for ts, o, h, low, c in rows:
        # 1. exits from this candle's open/high/low
        if pos is not None:
            reason = "trail" if pos["moved"] else "stop"
            if pos["side"] == "long":
                if low <= pos["stop"]:
                    close(ts, (o if o <= pos["stop"] else pos["stop"]) * (1 - slip), taker, reason)
                elif h >= pos["target"]:
                    close(ts, o if o >= pos["target"] else pos["target"], maker, "target")
            elif h >= pos["stop"]:
                close(ts, (o if o >= pos["stop"] else pos["stop"]) * (1 + slip), taker, reason)
            elif low <= pos["target"]:
                close(ts, o if o <= pos["target"] else pos["target"], maker, "target")
        # 2. indicators
        if closes:
            trs.append(max(h - low, abs(h - closes[-1]), abs(low - closes[-1])))
            if len(trs) == st.atr_period:
                atr = sum(trs) / st.atr_period
            elif len(trs) > st.atr_period:
                assert atr is not None
                atr = (atr * (st.atr_period - 1) + trs[-1]) / st.atr_period
        closes.append(c)
        fast = sum(closes[-st.fast_sma :]) / st.fast_sma if len(closes) >= st.fast_sma else None
        slow = sum(closes[-st.slow_sma :]) / st.slow_sma if len(closes) >= st.slow_sma else None
        # 3. trailing stop from the close
        if pos is not None and st.trail_enabled:
            sign = 1 if pos["side"] == "long" else -1
            if sign * (c - pos["best"]) > 0:
                pos["best"] = c
            if sign * (pos["best"] - pos["entry"]) >= st.trail_activation_r * pos["r"]:
                new_stop = pos["best"] - sign * st.trail_distance_r * pos["r"]
                if sign * (new_stop - pos["stop"]) > 0:
                    pos["stop"], pos["moved"] = new_stop, True
        # 4. signals and entries at the close
        if None not in (fast, slow, prev_fast, prev_slow, atr):
            assert fast is not None and slow is not None and atr is not None
            bull = fast > slow and prev_fast <= prev_slow  # type: ignore[operator]
            bear = fast < slow and prev_fast >= prev_slow  # type: ignore[operator]
            if bull or bear:
                side = "long" if bull else "short"
                if pos is not None and pos["side"] != side:
                    close(ts, c * (1 - cost) if pos["side"] == "long" else c * (1 + cost), taker, "signal")
                if pos is None and atr / c * 100 >= st.min_atr_pct and not tripped:
                    entry = c * (1 + cost) if side == "long" else c * (1 - cost)
                    dist = st.stop_atr_mult * atr
                    qty = min(cash * rk.risk_pct / 100 / dist, cash * rk.max_leverage / entry)
                    qty = round(math.floor(qty / rk.lot_step + 1e-9) * rk.lot_step, 3)
                    if qty > 0 and qty * entry >= rk.min_notional:
                        sign = 1 if side == "long" else -1
                        stop = entry - sign * dist
                        pos = {
                            "side": side,
                            "ts": ts,
                            "entry": entry,
                            "qty": qty,
                            "stop": stop,
                            "target": entry + sign * st.tp_r * dist,
                            "fee": qty * entry * taker,
                            "r": abs(entry - stop),
                            "best": entry,
                            "moved": False,
                        }
                        cash -= pos["fee"]
        prev_fast, prev_slow = fast, slow
        # mark at the close for the drawdown breaker
        equity = cash
        if pos is not None:
            equity += (1 if pos["side"] == "long" else -1) * pos["qty"] * (c - pos["entry"])
        peak = max(peak, equity)
        if cb.enabled and not tripped and (peak - equity) / peak * 100 >= cb.max_drawdown_pct:
            tripped = True
    if pos is not None:
        last_ts, last_c = rows[-1][0], rows[-1][4]
        close(last_ts, last_c * (1 - cost) if pos["side"] == "long" else last_c * (1 + cost), taker, "end")
    return trades


def _ours(tmp_path: Path, s: Settings) -> list[dict[str, str]]:
    folder = RunFolder.create(tmp_path, "ours")
    run_backtest(s, source=open_source(s.data, seed=s.run.seed), folder=folder, wall_clock=LiveClock())
    with folder.trades.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param((), id="defaults"),
        pytest.param(("circuit_breaker.enabled=false",), id="no-breaker"),
        pytest.param(
            (
                "circuit_breaker.enabled=false",
                "strategy.trail_enabled=true",
                "strategy.trail_activation_r=0.5",
                "strategy.trail_distance_r=0.8",
            ),
            id="trailing",
        ),
        pytest.param(
            ("circuit_breaker.max_consecutive_losses=100", "circuit_breaker.max_drawdown_pct=3"), id="drawdown-breaker"
        ),
        pytest.param(
            (
                "circuit_breaker.enabled=false",
                "strategy.fast_sma=20",
                "strategy.slow_sma=60",
                "strategy.min_atr_pct=0.08",
                "strategy.tp_r=1.5",
                "risk.risk_pct=2",
            ),
            id="other-params",
        ),
    ],
)
def test_independent_reference_reproduces_trades(tmp_path: Path, bundled_csv: Path, overrides: tuple[str, ...]) -> None:
    s = settings(f'data.source="csv:{bundled_csv}"', *overrides)
    ours = _ours(tmp_path, s)
    ref = reference_trades(bundled_csv, s)
    assert len(ours) > 0
    assert len(ours) == len(ref)
    for mine, theirs in zip(ours, ref, strict=True):
        for key in ("trade_id", "entry_ts", "exit_ts"):
            assert int(mine[key]) == theirs[key], (key, mine, theirs)
        assert (mine["side"], mine["exit_reason"], mine["symbol"]) == (theirs["side"], theirs["exit_reason"], "BTCUSDT")
        assert float(mine["qty"]) == theirs["qty"]
        for key in ("entry_price", "exit_price", "pnl", "fees", "net_pnl"):
            assert float(mine[key]) == pytest.approx(theirs[key], rel=1e-9, abs=1e-9), (key, mine, theirs)
