"""validate mode: the grid, the walk-forward folds, the evaluation window, and the CLI run on the bundled
data (a leaderboard; the same seed gives the same validation.json whatever the number of processes)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from laptop_agents.core.errors import ConfigError
from laptop_agents.validate.evaluate import closed_trades, evaluate
from laptop_agents.validate.folds import walk_forward
from laptop_agents.validate.grid import candidates, parse_grid
from tests.helpers import closes_to_candles, settings

REPO = Path(__file__).resolve().parents[1]


def test_grid_is_every_combination_with_invalid_ones_dropped() -> None:
    grid = parse_grid("fast=5,10,30; slow=30,50 ;tp_r=2")
    assert grid == {"fast": [5, 10, 30], "slow": [30, 50], "tp_r": [2]}
    cands, dropped = candidates(settings(), grid, max_candidates=None, seed=1)
    assert [(c.settings.strategy.fast_sma, c.settings.strategy.slow_sma) for c in cands] == [
        (5, 30), (5, 50), (10, 30), (10, 50), (30, 50)
    ]  # fmt: skip
    assert dropped == 1  # fast 30 / slow 30


def test_grid_reaches_supervisor_params_and_any_setting() -> None:
    base = settings("strategy.name=supervisor")
    cands, _ = candidates(base, parse_grid("cooldown_bars=1,2;risk.rr_min=1.5"), max_candidates=None, seed=1)
    assert [(c.settings.strategy.params["cooldown_bars"], c.settings.risk.rr_min) for c in cands] == [
        (1, 1.5),
        (2, 1.5),
    ]


def test_max_candidates_thins_deterministically() -> None:
    grid = parse_grid("fast=2,3,4,5,6,7,8,9;slow=20,30,40,50")
    a, _ = candidates(settings(), grid, max_candidates=5, seed=7)
    b, _ = candidates(settings(), grid, max_candidates=5, seed=7)
    c, _ = candidates(settings(), grid, max_candidates=5, seed=8)
    assert [x.params for x in a] == [x.params for x in b] and len(a) == 5
    assert [x.params for x in a] != [x.params for x in c]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "validation.grid: 'fast' is not 'key=value1,value2,...'"),
        ("fast=1;fast=2", "validation.grid: fast is given twice"),
        ("speed=1", "validation.grid: speed is not an sma_atr parameter"),
        ("risk.nope=1", "validation.grid: risk.nope is not a setting"),
    ],
)
def test_bad_grid_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        candidates(settings(), parse_grid(text), max_candidates=None, seed=1)
    assert str(info.value).startswith(message)


def test_walk_forward_slides_by_the_test_window() -> None:
    folds = walk_forward(100, 40, 20)
    assert [(f.train_start, f.train_end, f.test_end) for f in folds] == [(0, 40, 60), (20, 60, 80), (40, 80, 100)]
    with pytest.raises(ConfigError, match=r"validation\.train"):
        walk_forward(50, 40, 20)


def test_a_window_trades_as_it_would_inside_the_longer_run() -> None:
    """Warm-up before the window halts entries, so nothing opens before the window starts."""
    closes = [100 + 10 * ((i // 15) % 2) + (i % 15) * (1 if (i // 15) % 2 == 0 else -1) for i in range(300)]
    candles = closes_to_candles([float(c) for c in closes])
    s = settings(
        "strategy.fast_sma=2", "strategy.slow_sma=5", "strategy.min_atr_pct=0", "circuit_breaker.enabled=false"
    )
    score = evaluate(s, candles, 100, 200)
    assert score.candles == 100 and score.trades > 0
    assert evaluate(s, candles, 100, 200) == score  # deterministic
    assert score.max_drawdown >= 0


def _validate(tmp_path: Path, run_id: str, jobs: int) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "laptop_agents.cli", "run", "--mode", "validate", "--run-id", run_id,
         "--grid", "fast=5,10,20;slow=30,50;stop_atr_mult=1,2;tp_r=1.5,3", "--max-candidates", "12",
         "--train", "8000", "--test", "8000", "--jobs", str(jobs), "--set", f"run.runs_dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "rank  mean objective" in proc.stdout and "out of sample" in proc.stdout
    folder = tmp_path / run_id
    assert "<h2>Leaderboard" in (folder / "summary.html").read_text()
    result: dict[str, object] = json.loads((folder / "validation.json").read_text())
    return result


def test_validate_on_the_bundled_data_is_reproducible(tmp_path: Path) -> None:
    one = _validate(tmp_path, "one", 1)
    two = _validate(tmp_path, "two", 2)
    assert one == two
    assert one["combinations_valid"] == 12
    folds = one["folds"]
    assert isinstance(folds, list) and len(folds) == 4  # 45,031 candles: (45,031 − 8,000) // 8,000 folds
    board = one["leaderboard"]
    assert isinstance(board, list) and len(board) == 12 and board[0]["rank"] == 1
    assert board[0]["params"] == one["best_params"]


def test_the_report_sets_every_candidate_out_of_sample_and_stitches_the_winners(tmp_path: Path) -> None:
    """Each leaderboard row carries its own out-of-sample results; the fold's winner's equals the fold's
    test result (the same evaluation), its stitched curve runs from the starting balance to that result,
    and a two-parameter grid gets its heat map."""
    proc = subprocess.run(
        [sys.executable, "-m", "laptop_agents.cli", "run", "--mode", "validate", "--run-id", "heat",
         "--grid", "fast_sma=5,10;slow_sma=30,50,80", "--train", "9000", "--test", "9000", "--jobs", "1",
         "--set", f"run.runs_dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "heat" / "validation.json").read_text())
    rows = {row["candidate"]: row for row in result["leaderboard"]}
    for fold in result["folds"]:
        winner = rows[fold["best_candidate"]]
        assert winner["test_fold_net_pnl"][fold["fold"]] == fold["test_result"]["net_pnl"]
        curve = fold["test_curve"]
        assert curve[0] == [fold["test"]["from_ts"], result["starting_balance"]]
        assert curve[-1][0] == fold["test"]["to_ts"]
        assert curve[-1][1] == pytest.approx(result["starting_balance"] + fold["test_result"]["net_pnl"], abs=1e-3)
    for row in result["leaderboard"]:
        assert row["test_net_pnl"] == pytest.approx(sum(row["test_fold_net_pnl"]))
    page = (tmp_path / "heat" / "summary.html").read_text()
    start = page.index('<script type="application/json" id="validate-data">') + len(
        '<script type="application/json" id="validate-data">'
    )
    data = json.loads(page[start : page.index("</script>", start)])
    assert data["heat"]["x"] == "fast_sma" and data["heat"]["ys"] == [30, 50, 80]
    assert all(v is not None for row in data["heat"]["cells"] for v in row)
    assert len(data["candidates"]) == 6 and len(data["oos"]) == len(result["folds"])
    stitched = data["oos"]
    for before, after in itertools.pairwise(stitched):  # each window starts where the last ended
        assert after["eq"][0] == pytest.approx(before["eq"][-1], abs=1e-3)
    assert 'What "won" means' in page


MINUTES = "ftx_btc-perp_1m_2022-01.csv"
QUARTERS = "ftx_btc-perp_15m_2022-01.csv"
GRID = "fast_sma=3,10;slow_sma=30,45;stop_atr_mult=1,2.5;tp_r=1.5,3"
SMALL = "fast_sma=3,10;slow_sma=30,45;stop_atr_mult=1,2.5"
SHARED_CASES: dict[str, tuple[str, str, tuple[str, ...], set[str]]] = {
    # case: (data file, grid, settings, what the shared runs must have seen happen)
    "breaker off": (MINUTES, GRID, ("circuit_breaker.enabled=false",), {"stop", "target", "signal"}),
    "breaker that re-arms": (
        MINUTES, GRID, ("circuit_breaker.max_consecutive_losses=2", "circuit_breaker.reset_after_bars=300"),
        {"CircuitBreakerTripped", "CircuitBreakerReset"},  # each trip on a close: flat until it re-arms
    ),
    "drawdown trips while a position is held, re-armed": (
        MINUTES, SMALL,
        ("circuit_breaker.max_drawdown_pct=0.3", "circuit_breaker.max_consecutive_losses=1000",
         "circuit_breaker.reset_after_bars=60"),
        {"held CircuitBreakerTripped", "held CircuitBreakerReset"},
    ),
    "a breaker that never re-arms": (MINUTES, SMALL, ("circuit_breaker.max_consecutive_losses=3",),
                                     {"CircuitBreakerTripped"}),
    "funding and a trailing stop": (
        MINUTES, GRID,
        ("circuit_breaker.enabled=false", "broker.funding_rate=0.0003", "strategy.trail_enabled=true",
         "risk.rr_min=1.2"),
        {"FundingApplied", "held StopMoved", "trail"},
    ),
    "leverage to liquidation, funding paid to shorts, trailing": (
        MINUTES, "fast_sma=10,20;slow_sma=45,80;stop_atr_mult=10,20;tp_r=3",
        ("circuit_breaker.enabled=false", "exchange.leverage=125", "broker.funding_rate=-0.0005",
         "strategy.trail_enabled=true", "strategy.trail_activation_r=0.5", "risk.rr_min=0"),
        {"liquidation", "FundingApplied", "held StopMoved"},
    ),
    "no margin": (MINUTES, SMALL, ("broker.margin_mode=off", "circuit_breaker.enabled=false"), {"stop", "target"}),
    "15-minute candles, funding, trailing, breaker": (
        QUARTERS, "fast_sma=3,10;slow_sma=20,45;stop_atr_mult=1,2.5;tp_r=1.5,3",
        ("broker.funding_rate=0.0001", "strategy.trail_enabled=true", "circuit_breaker.max_consecutive_losses=2",
         "circuit_breaker.reset_after_bars=96"),
        {"FundingApplied", "held StopMoved", "CircuitBreakerTripped", "CircuitBreakerReset"},
    ),
}  # fmt: skip


def _shared_windows(n: int) -> list[tuple[int, int]]:
    """Training and test windows from the start of the data (the first warms up from candle 0), and two
    windows later on, the last one ending with the data."""
    first = min(n, 9_000)
    folds = walk_forward(first, first // 3, first * 2 // 9)
    windows = [w for f in folds for w in ((f.train_start, f.train_end), (f.train_end, f.test_end))]
    return [*windows, (n // 2, n // 2 + n // 15), (n - n // 12, n)]


@pytest.mark.parametrize("case", list(SHARED_CASES))
def test_candidates_sharing_their_crossings_score_as_each_run_alone(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """validate finds each window's sma_atr crossings once for every candidate with the same averages and
    ATR period, skips the candles where a candidate is flat with nothing to do, and marks the held ones where
    only the mark can change without the core: every score and curve must equal the candidate's own
    per-candle run (warm-up included) bit for bit, on windows across the real month (1-minute and 15-minute),
    longs and shorts, with the breaker off, tripping on losses or on a held position's drawdown, re-arming or
    not, funding charged at its times, trailing stops, and liquidations at high leverage."""
    from collections import Counter

    from laptop_agents.core.events import Event, PositionClosed
    from laptop_agents.feeds.csv_source import CsvCandles
    from laptop_agents.validate import shared
    from laptop_agents.validate.evaluate import evaluate_with_curve

    data, grid, sets, expected = SHARED_CASES[case]
    candles = list(CsvCandles(REPO / "data" / data))
    seen: Counter[str] = Counter()
    held = 0

    def recorded() -> tuple[list[PositionClosed], Callable[[Event], None]]:
        trades, sink = closed_trades()

        def record(event: Event) -> None:
            seen[type(event).__name__] += 1
            if type(event) is PositionClosed:
                seen[event.exit_reason] += 1
                seen[event.side] += 1
            sink(event)

        return trades, record

    def hold(*args: Any) -> int:
        nonlocal held
        before = Counter(seen)
        end = real_hold(*args)
        held += end - args[3]
        seen.update(f"held {name}" for name in seen - before)  # what happened on candles the core did not see
        return end

    real_hold = shared._hold
    monkeypatch.setattr(shared, "closed_trades", recorded)
    monkeypatch.setattr(shared, "_hold", hold)
    cands, _ = candidates(settings(*sets), parse_grid(grid), max_candidates=None, seed=1)
    windows = _shared_windows(len(candles))
    trades = total = 0
    for cand in cands:
        for start, end in windows:
            alone = evaluate_with_curve(cand.settings, candles, start, end, points=50)
            found = shared.signals(cand.settings, candles, start, end)
            assert shared.evaluate_shared(cand.settings, candles, start, end, found, points=50) == alone, (
                cand.params, start, end)  # fmt: skip
            assert shared.evaluate_shared(cand.settings, candles, start, end, found)[0] == alone[0]  # no curve
            trades += alone[0].trades
            total += end - start
    assert trades > 20 * len(cands)  # the candidates trade: the windows test something
    assert seen["long"] > 0 and seen["short"] > 0
    assert expected <= set(seen), (expected - set(seen), seen)
    assert held > total // 200, (held, total)  # the held candles' own path did its part of the work


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("level", ["stop", "target", "liquidation"])
@pytest.mark.parametrize("how", ["touched", "gapped through"])
def test_a_held_candle_that_just_reaches_a_level_is_the_cores(side: str, level: str, how: str) -> None:
    """The held candles the shared path marks on its own are those that reach neither the stop, the target
    nor the liquidation price: a candle whose extreme equals one exactly (or that opens on it) exits there,
    as the per-candle path has it, and the curve after it is the flat account's."""
    from laptop_agents.core.candle import Candle
    from laptop_agents.core.events import Event, PositionClosed
    from laptop_agents.engine.assembly import build_core
    from laptop_agents.validate.evaluate import evaluate_with_curve
    from laptop_agents.validate.shared import evaluate_shared, signals

    d = 1.0 if side == "long" else -1.0
    calm = [100.0] * 40  # equal averages: no crossing until the move
    closes = [*calm, *(100.0 + d * k for k in range(1, 4)), *([103.0 if d > 0 else 97.0] * 8)]
    prefix = closes_to_candles(closes, wick=0.3)
    far = level == "liquidation"  # the stop beyond the liquidation price, so that comes first
    s = settings(
        "strategy.fast_sma=2", "strategy.slow_sma=5", "strategy.min_atr_pct=0", "risk.rr_min=0",
        "circuit_breaker.enabled=false", f"strategy.stop_atr_mult={40 if far else 3}", "strategy.tp_r=2",
        *(("exchange.leverage=125",) if far else ()),
    )  # fmt: skip
    core = build_core(s, emit=lambda _e: None)
    for c in prefix:
        core.on_candle(c)
    position = core.broker.position
    assert position is not None and position.side == side  # the rise (fall) crossed the averages
    assert position.liquidation_price is not None and position.target is not None
    price = {"stop": position.stop, "target": position.target, "liquidation": position.liquidation_price}[level]
    assert far == (d * (position.liquidation_price - position.stop) > 0)
    ref = prefix[-1].close
    ts = prefix[-1].ts
    step = ts - prefix[-2].ts
    quiet = [Candle(ts + k * step, ref, ref + 0.1, ref - 0.1, ref, 1.0) for k in range(1, 4)]
    at = ts + 4 * step
    if how == "touched":  # the extreme lands on the level exactly, from an open inside
        lo, hi = (price, ref + 0.1) if (d > 0) == (level != "target") else (ref - 0.1, price)
        hit = Candle(at, ref, hi, lo, ref, 1.0)
    else:  # opens on the level
        hit = Candle(at, price, max(price, ref), min(price, ref), ref, 1.0)
    tail = [Candle(at + k * step, ref, ref + 0.1, ref - 0.1, ref, 1.0) for k in range(1, 4)]
    candles = [*prefix, *quiet, hit, *tail]
    closed: list[PositionClosed] = []

    def keep(event: Event) -> None:
        if type(event) is PositionClosed:
            closed.append(event)

    core = build_core(s, emit=keep)
    for c in candles:
        core.on_candle(c)
    assert [(t.ts, t.exit_reason) for t in closed] == [(at, level)]  # the core exits on that candle
    n = len(candles)
    for start in (0, 20, len(calm)):  # the window opens on the calm, or on the crossing candle itself
        alone = evaluate_with_curve(s, candles, start, n, points=n)
        assert evaluate_shared(s, candles, start, n, signals(s, candles, start, n), points=n) == alone, start


def test_a_grid_over_one_key_still_runs_in_parallel_tasks() -> None:
    from laptop_agents.validate.runner import tasks

    base = settings()
    cands, _ = candidates(base, parse_grid("stop_atr_mult=1,1.5,2,2.5,3,3.5,4,4.5"), max_candidates=None, seed=1)
    assert [len(t) for t in tasks(cands, jobs=2)] == [1] * 8  # one key, but 8 candidates over 2 processes
    cands, _ = candidates(base, parse_grid("fast_sma=3,5;slow_sma=30,40;stop_atr_mult=1,2,3"), max_candidates=None,
                          seed=1)  # fmt: skip
    groups = tasks(cands, jobs=1)
    assert sorted(i for g in groups for i in g) == list(range(12)) and all(len(g) == 3 for g in groups)
    assert {(cands[g[0]].settings.strategy.fast_sma, cands[g[0]].settings.strategy.slow_sma) for g in groups} == {
        (3, 30), (3, 40), (5, 30), (5, 40)}  # fmt: skip
