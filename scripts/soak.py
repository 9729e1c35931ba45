"""Soak: a live-paper session over `--days` of simulated market, with random faults, watched for leaks.

    .venv/bin/python scripts/soak.py --days 7           # a simulated week (about 2.5 min on 2 cores)
    .venv/bin/python scripts/soak.py --days 1 --json    # a simulated day (tests/stress/test_soak.py)

Real processes: `la sim-exchange` replays the bundled 1-minute BTC month time-compressed (`--speed`, market
time per wall time; 4,000x is a candle every 15 ms, 4 pushes each) and `la run --mode live-paper` trades
it. The replay waits (`POST /admin/pause`) until the daemon is up. Faults are switched on and off at seeded
random market times (`POST /admin/faults`, `/admin/drop`): connection drops, periodic drops, gaps in the
stream, duplicated, reordered and malformed frames, lost final pushes, push latency, rate limits, 5xx.

Every `--sample-s` (0.5 s) of wall time it samples the daemon: RSS (`VmRSS` of `/proc/PID/status`), open
file descriptors (`/proc/PID/fd`) and CPU time (`/proc/PID/stat`), so Linux only; asyncio tasks, candle
queue depths and candles held behind a backfill (the heartbeat's `runtime` block); `events.jsonl` bytes
and lines; candles through the core; how far the daemon is behind the market. The first `--warmup` (20 %)
of the candles is warm-up. It passes when, after warm-up:
- RSS: max - min under `RSS_RANGE_MB`, and the slope fitted over the candles under a bound. The heap
  fills for about two simulated days (the equity curve's points, HTTP caches, the allocator's arenas:
  +3 MB, then flat), so a run of 3 days or more fits the part after `RSS_SETTLED` candles and bounds it
  by `RSS_SLOPE_MB_PER_DAY` (a leak of one candle object a candle is 0.4 MB a day); a shorter run fits
  its whole post-warm-up part, still filling, and bounds it by `RSS_FILL_SLOPE_MB_PER_DAY` (a fast leak);
- fds and tasks: the max is at most the warm-up's max plus `FD_SLACK` / `TASK_SLACK`;
- queues: never full, and the deepest no deeper than the warm-up's deepest plus a quarter of the queue;
- the event log: bytes per candle in the last third of the post-warm-up part within `EVENT_RATE_RATIO` of
  the first third's (growth per candle constant, not accelerating);
and at the end, every fault switched off, the daemon catches up with the market (its lag down to
`CAUGHT_UP_S` of wall time's worth of candles within `CATCH_UP_WITHIN_S`: it handles candles faster than
they come; while a gap is backfilled it holds them back, and at these speeds a backfill's retries of a
second or two are hours of market), SIGTERM exits 0, `equity.csv` has every candle once and in order,
and the event sequence numbers run 1, 2, 3, ... without a hole. Exit 0 on a pass, 1 otherwise; the
figures and one summary line (JSON with `--json`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

REPO = Path(__file__).resolve().parent.parent
DATA_CANDLES = 44_640
"""The bundled month (`data/ftx_btc-perp_1m_2022-01.csv`): the replay must not run out of it."""
START_INDEX = 300
CANDLES_PER_DAY = 1_440
INTERVAL_MS = 60_000
RUN_ID = "soak"
DEFAULT_SPEED = 4000.0
REPORT_TRADES = 10
"""`run.report_max_trades` here: the report keeps the last N trades with their candles in memory (at the
default 500, about 2 MB that fill in some ten simulated days at this strategy's 50 trades a day); 10 fill
within the warm-up, so what grows after it is a leak, not a cache filling."""

RSS_SETTLED = 2 * CANDLES_PER_DAY
RSS_SLOPE_MB_PER_DAY = 1.0
RSS_FILL_SLOPE_MB_PER_DAY = 5.0
RSS_RANGE_MB = 8.0
FD_SLACK = 3
TASK_SLACK = 4
EVENT_RATE_RATIO = 1.5
CAUGHT_UP_S = 0.5
CATCH_UP_WITHIN_S = 60.0

FAULTS = ("drop", "drop_every_s", "skip_candles", "duplicate_pushes", "reorder_pushes", "malformed_frames",
          "drop_final_push_next", "latency_ms", "rate_limit_next", "http_error_next")  # fmt: skip
"""The switches the soak throws: one-shot ones (a count the simulator uses up) and windows (`drop_every_s`,
`latency_ms`) that it switches off again some market time later."""


@dataclass
class Sample:
    wall_s: float
    candles: int
    rss_kb: int
    fds: int
    tasks: int
    queue: int
    """The deepest symbol queue."""
    held: int
    event_bytes: int
    event_lines: int
    lag: int
    """Candles the daemon's last candle is behind the market."""
    data_age_s: float
    cpu_s: float
    """The daemon's CPU time so far (user + system)."""


@dataclass
class SoakResult:
    days: float
    speed: float
    seed: int
    wall_s: float = 0.0
    candles: int = 0
    samples: int = 0
    warmup_samples: int = 0
    rss_start_mb: float = 0.0
    """At the end of warm-up."""
    rss_end_mb: float = 0.0
    rss_max_mb: float = 0.0
    rss_range_mb: float = 0.0
    """Max - min after warm-up."""
    rss_slope_mb_per_day: float = 0.0
    rss_fit_from: int = 0
    """The candle the RSS slope is fitted from (the warm-up's end, or `RSS_SETTLED` in a long run)."""
    rss_slope_bound: float = 0.0
    fds_warmup_max: int = 0
    fds_max: int = 0
    tasks_warmup_max: int = 0
    tasks_max: int = 0
    queue_max: int = 0
    queue_size: int = 0
    held_max: int = 0
    event_bytes: int = 0
    event_bytes_per_day: float = 0.0
    event_rate_ratio: float = 0.0
    """Bytes per candle of the event log, the last third of the post-warm-up part over the first third."""
    lag_median: float = 0.0
    lag_max: int = 0
    catch_up_s: float | None = None
    """Wall time the daemon took to catch up with the market once the faults were off (None: it did not)."""
    cpu_pct: float = 0.0
    """The daemon's CPU use after warm-up, in % of one core."""
    data_age_max_s: float = 0.0
    equity_rows: int = 0
    equity_contiguous: bool = False
    events_contiguous: bool = False
    exit_code: int | None = None
    faults_switched: dict[str, int] = field(default_factory=dict)
    faults_fired: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    gaps: int = 0
    trades: int = 0
    failures: list[str] = field(default_factory=list)
    series: list[Sample] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def fired(self) -> int:
        return sum(self.faults_fired.values())

    def figures(self) -> str:
        return "\n".join(
            [
                f"wall {self.wall_s:.1f} s, {self.candles:,} candles ({self.candles / CANDLES_PER_DAY:.2f} days at "
                f"{self.speed:g}x), {self.samples} samples ({self.warmup_samples} warm-up)",
                f"RSS {self.rss_start_mb:.1f} -> {self.rss_end_mb:.1f} MB (max {self.rss_max_mb:.1f}, range "
                f"{self.rss_range_mb:.1f}), slope {self.rss_slope_mb_per_day:+.2f} MB/simulated day from candle "
                f"{self.rss_fit_from:,} (bound {self.rss_slope_bound:g})",
                f"fds max {self.fds_max} (warm-up {self.fds_warmup_max}), tasks max {self.tasks_max} (warm-up "
                f"{self.tasks_warmup_max}), queue max {self.queue_max}/{self.queue_size}, held max {self.held_max}",
                f"events.jsonl {self.event_bytes:,} bytes, {self.event_bytes_per_day:,.0f} bytes/simulated day, "
                f"rate late/early {self.event_rate_ratio:.2f}",
                f"lag median {self.lag_median:.0f} candles (max {self.lag_max}), data age max "
                f"{self.data_age_max_s:.2f} s, caught up in {self.catch_up_s} s; daemon CPU {self.cpu_pct:.0f} %",
                f"faults switched {sum(self.faults_switched.values())} {dict(sorted(self.faults_switched.items()))}",
                f"faults fired {self.fired} {dict(sorted(self.faults_fired.items()))}, {self.reconnects} reconnects, "
                f"{self.gaps} gaps, {self.trades} trades",
                f"exit {self.exit_code}, equity rows {self.equity_rows:,} contiguous {self.equity_contiguous}, "
                f"events contiguous {self.events_contiguous}",
            ]
        )

    def summary(self) -> str:
        verdict = "PASS" if self.ok else "FAIL: " + "; ".join(self.failures)
        return (
            f"soak {self.days:g} days: {verdict} ({self.candles:,} candles, {self.wall_s:.0f} s, RSS "
            f"{self.rss_start_mb:.1f} -> {self.rss_end_mb:.1f} MB, {self.rss_slope_mb_per_day:+.2f} MB/day, fds "
            f"{self.fds_max}, tasks {self.tasks_max}, queue max {self.queue_max}, {self.event_bytes_per_day:,.0f} "
            f"event bytes/day, {self.fired} faults fired)"
        )


def _la() -> list[str]:
    la = Path(sys.executable).with_name("la")
    return [str(la)] if la.exists() else [sys.executable, "-m", "laptop_agents.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITUNIX_", "LA_"))}
    return env | {"LA_CONFIG_DIR": str(REPO / "config")}


def _admin(rest: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None and path == "/admin/state" else orjson.dumps(body or {})
    request = urllib.request.Request(rest + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return orjson.loads(reply.read())


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _beat(run: Path) -> dict[str, Any] | None:
    try:
        beat = orjson.loads((run / "heartbeat.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return beat if isinstance(beat, dict) else None


class _Faults:
    """Seeded fault switching on market time: the next fault `gap` candles after the last one."""

    def __init__(self, rng: random.Random, rest: str, mean_gap: int) -> None:
        self.rng, self.rest, self.mean_gap = rng, rest, mean_gap
        self.next_at = self._gap()
        self.off: list[tuple[int, str]] = []
        self.switched: Counter[str] = Counter()
        self.drops = 0

    def _gap(self) -> int:
        return max(1, int(self.rng.expovariate(1 / self.mean_gap)))

    def step(self, market_candles: int) -> None:
        for at, name in list(self.off):
            if market_candles >= at:
                _admin(self.rest, "/admin/faults", {name: 0})
                self.off.remove((at, name))
        if market_candles < self.next_at:
            return
        self.next_at = market_candles + self._gap()
        name = self.rng.choice(FAULTS)
        r = self.rng
        if name == "drop":
            self.drops += _admin(self.rest, "/admin/drop", {})["dropped"]
        elif name in ("drop_every_s", "latency_ms"):
            if any(n == name for _, n in self.off):
                return
            value = r.uniform(0.4, 1.5) if name == "drop_every_s" else r.uniform(1.0, 6.0)
            _admin(self.rest, "/admin/faults", {name: value})
            self.off.append((market_candles + r.randint(10, 120), name))
        else:
            count = {"skip_candles": r.randint(3, 90), "duplicate_pushes": r.randint(5, 200),
                     "reorder_pushes": r.randint(5, 200), "malformed_frames": r.randint(1, 30),
                     "drop_final_push_next": r.randint(1, 8), "rate_limit_next": r.randint(1, 3),
                     "http_error_next": r.randint(1, 3)}[name]  # fmt: skip
            _admin(self.rest, "/admin/faults", {name: count})
        self.switched[name] += 1

    def all_off(self) -> None:
        """Every switch off, the counts not used up yet too."""
        _admin(self.rest, "/admin/faults", {name: 0 for name in FAULTS if name != "drop"})
        self.off.clear()


def _slope(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2 or len(set(xs)) < 2:
        return 0.0
    return statistics.linear_regression(xs, ys).slope


def _thirds(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    third = max(len(samples) // 3, 1)
    return samples[:third], samples[-third:]


def _rate(part: list[Sample]) -> float:
    """Event-log bytes per candle over a stretch of samples."""
    candles = part[-1].candles - part[0].candles
    return (part[-1].event_bytes - part[0].event_bytes) / candles if candles > 0 else 0.0


def judge(result: SoakResult, warmup: float) -> None:
    """The figures and the flatness checks from `result.series` (see the docstring)."""
    series = result.series
    result.samples = len(series)
    if len(series) < 10:
        result.failures.append(f"only {len(series)} samples")
        return
    target = series[-1].candles
    warm = [s for s in series if s.candles < warmup * target]
    after = [s for s in series if s.candles >= warmup * target]
    if len(warm) < 3 or len(after) < 6:
        result.failures.append(f"too few samples: {len(warm)} in warm-up, {len(after)} after it")
        return
    result.warmup_samples = len(warm)
    mb = [s.rss_kb / 1024 for s in after]
    result.rss_start_mb, result.rss_end_mb = mb[0], mb[-1]
    result.rss_max_mb = max(mb)
    result.rss_range_mb = max(mb) - min(mb)
    settled = [s for s in after if s.candles >= RSS_SETTLED]
    long_run = bool(settled) and settled[-1].candles - settled[0].candles >= CANDLES_PER_DAY
    fitted = settled if long_run else after
    result.rss_fit_from = fitted[0].candles
    result.rss_slope_bound = RSS_SLOPE_MB_PER_DAY if long_run else RSS_FILL_SLOPE_MB_PER_DAY
    result.rss_slope_mb_per_day = _slope(
        [s.candles / CANDLES_PER_DAY for s in fitted], [s.rss_kb / 1024 for s in fitted]
    )
    result.fds_warmup_max, result.fds_max = max(s.fds for s in warm), max(s.fds for s in after)
    result.tasks_warmup_max, result.tasks_max = max(s.tasks for s in warm), max(s.tasks for s in after)
    result.queue_max = max(s.queue for s in series)
    result.held_max = max(s.held for s in series)
    days = (series[-1].candles - series[0].candles) / CANDLES_PER_DAY
    result.event_bytes = series[-1].event_bytes
    result.event_bytes_per_day = (series[-1].event_bytes - series[0].event_bytes) / days if days > 0 else 0.0
    early, late = _thirds(after)
    result.event_rate_ratio = _rate(late) / _rate(early) if _rate(early) > 0 else 0.0
    result.lag_median = statistics.median(s.lag for s in after)
    result.lag_max = max(s.lag for s in after)
    wall = after[-1].wall_s - after[0].wall_s
    result.cpu_pct = 100 * (after[-1].cpu_s - after[0].cpu_s) / wall if wall > 0 else 0.0
    result.data_age_max_s = max(s.data_age_s for s in after)
    f = result.failures
    if result.rss_slope_mb_per_day > result.rss_slope_bound:
        f.append(f"RSS grows {result.rss_slope_mb_per_day:.2f} MB/simulated day from candle {result.rss_fit_from:,} "
                 f"(bound {result.rss_slope_bound:g})")  # fmt: skip
    if result.rss_range_mb > RSS_RANGE_MB:
        f.append(f"RSS moved {result.rss_range_mb:.1f} MB after warm-up (bound {RSS_RANGE_MB:g})")
    if result.fds_max > result.fds_warmup_max + FD_SLACK:
        f.append(f"fds rose to {result.fds_max} after warm-up (warm-up max {result.fds_warmup_max} + {FD_SLACK})")
    if result.tasks_max > result.tasks_warmup_max + TASK_SLACK:
        f.append(f"tasks rose to {result.tasks_max} (warm-up max {result.tasks_warmup_max} + {TASK_SLACK})")
    if result.queue_size and result.queue_max >= result.queue_size:
        f.append(f"a candle queue was full ({result.queue_max}/{result.queue_size})")
    warm_queue = max(s.queue for s in warm)
    if max(s.queue for s in after) > warm_queue + result.queue_size // 4:
        f.append(f"queues deepened after warm-up ({max(s.queue for s in after)}, warm-up max {warm_queue})")
    if result.event_rate_ratio > EVENT_RATE_RATIO:
        f.append(f"event log grows faster per candle late than early (x{result.event_rate_ratio:.2f})")
    if result.catch_up_s is None:
        f.append(f"the daemon did not catch up with the market within {CATCH_UP_WITHIN_S:g} s of the faults' end")


def _check_files(run: Path, result: SoakResult) -> None:
    rows = (run / "equity.csv").read_text().splitlines()[1:]
    ts = [int(r.split(",", 1)[0]) for r in rows]
    result.equity_rows = len(ts)
    holes = [(a, b) for a, b in itertools.pairwise(ts) if b - a != INTERVAL_MS]
    result.equity_contiguous = bool(ts) and not holes
    if holes:
        a, b = holes[0]
        result.failures.append(f"equity.csv not contiguous: {len(holes)} breaks, first {a} -> {b}")
    seqs = [orjson.loads(line)["seq"] for line in (run / "events.jsonl").read_bytes().splitlines()]
    result.events_contiguous = seqs == list(range(1, len(seqs) + 1))
    if not result.events_contiguous:
        result.failures.append("the event sequence has a hole or a repeat")
    trades = run / "trades.csv"
    result.trades = max(len(trades.read_text().splitlines()) - 1, 0) if trades.exists() else 0


def _start_sim(speed: float, workdir: Path, err: IO[str]) -> tuple[subprocess.Popen[str], str, str]:
    sim = subprocess.Popen(
        [*_la(), "sim-exchange", "--speed", f"{speed:g}", "--start-index", str(START_INDEX), "--port", "0"],
        env=_env(), stdout=subprocess.PIPE, stderr=err, text=True,
    )  # fmt: skip
    assert sim.stdout is not None
    ready = sim.stdout.readline()
    rest, ws = re.search(r"REST (\S+)", ready), re.search(r"WS (\S+)", ready)
    if rest is None or ws is None:
        sim.kill()
        sim.communicate()
        raise RuntimeError(f"la sim-exchange did not start: {ready!r} {(workdir / 'sim.err').read_text()[-500:]}")
    return sim, rest.group(1), ws.group(1)


def _start_daemon(workdir: Path, rest: str, ws: str, heartbeat_s: float, err: IO[str]) -> subprocess.Popen[str]:
    settings = [
        f'run.runs_dir="{workdir / "runs"}"', f'exchange.rest_url="{rest}"', f'exchange.ws_public_url="{ws}"',
        f"run.heartbeat_interval_s={heartbeat_s:g}", "run.checkpoint_interval_s=2", "circuit_breaker.enabled=false",
        f"run.report_max_trades={REPORT_TRADES}",
    ]  # fmt: skip
    return subprocess.Popen(
        [*_la(), "run", "--mode", "live-paper", "--run-id", RUN_ID, *[f"--set={s}" for s in settings]],
        cwd=workdir, env=_env(), stdout=subprocess.DEVNULL, stderr=err, text=True,
    )  # fmt: skip


def _wait(condition: Any, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class _Sampler:
    """One sample of the daemon (process, heartbeat, event log) against the market's time now."""

    def __init__(self, pid: int, run: Path, rest: str) -> None:
        self.pid, self.run, self.rest = pid, run, rest
        self.t0 = time.monotonic()
        self.offset = self.lines = 0
        self.market_ms = 0
        self.queue_size = 0
        self.beat: dict[str, Any] = {}

    def take(self) -> Sample | None:
        beat = _beat(self.run)
        if beat is None:
            return None
        self.beat = beat
        self.market_ms = now_ms = int(_admin(self.rest, "/admin/state")["now_ms"])
        with (self.run / "events.jsonl").open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        self.offset, self.lines = self.offset + len(chunk), self.lines + chunk.count(b"\n")
        runtime = beat.get("runtime", {})
        self.queue_size = int(runtime.get("queue_size", 0))
        last_ts = max((t for t in beat["last_candle_ts"].values() if t is not None), default=now_ms)
        stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return Sample(
            wall_s=round(time.monotonic() - self.t0, 3),
            candles=int(beat["candles"]),
            rss_kb=_rss_kb(self.pid),
            fds=_fds(self.pid),
            tasks=int(runtime.get("tasks", 0)),
            queue=max(runtime.get("queues", {}).values(), default=0),
            held=max(runtime.get("held", {}).values(), default=0),
            event_bytes=self.offset,
            event_lines=self.lines,
            lag=max((now_ms - last_ts) // INTERVAL_MS - 1, 0),
            data_age_s=float(beat.get("data_age_s", 0.0)),
            cpu_s=(int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK"),
        )


def run_soak(
    days: float = 1.0,
    *,
    speed: float = DEFAULT_SPEED,
    seed: int = 20260301,
    workdir: Path | None = None,
    sample_s: float = 0.5,
    warmup: float = 0.2,
    fault_every: int = 90,
) -> SoakResult:
    """The whole soak (see the docstring); `fault_every`: market minutes between two faults on average."""
    result = SoakResult(days=days, speed=speed, seed=seed)
    target = int(days * CANDLES_PER_DAY)
    if target < 100 or START_INDEX + target + 3_000 > DATA_CANDLES:
        raise ValueError(f"--days {days:g}: use 0.07..{(DATA_CANDLES - START_INDEX - 3_000) / CANDLES_PER_DAY:.0f}")
    if not Path("/proc/self/status").exists():
        raise RuntimeError("the soak reads RSS, fds and CPU time from /proc: Linux only")
    workdir = Path(tempfile.mkdtemp(prefix="soak-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    run = workdir / "runs" / RUN_ID
    err, sim_err = (workdir / "daemon.err").open("w"), (workdir / "sim.err").open("w")
    try:
        sim, rest, ws = _start_sim(speed, workdir, sim_err)
    except BaseException:
        err.close()
        sim_err.close()
        raise
    daemon: subprocess.Popen[str] | None = None
    try:
        _admin(rest, "/admin/pause", {})  # the market waits for the daemon
        daemon = _start_daemon(workdir, rest, ws, sample_s / 2, err)
        _wait(lambda: (b := _beat(run)) is not None and b.get("stream", {}).get("connects", 0) >= 1, 60,
              "the daemon's first heartbeat with its socket connected")  # fmt: skip
        market0 = int(_admin(rest, "/admin/state")["now_ms"])
        _admin(rest, "/admin/play", {})
        faults = _Faults(random.Random(seed), rest, fault_every)
        sampler = _Sampler(daemon.pid, run, rest)
        deadline = sampler.t0 + 3 * target * INTERVAL_MS / 1000 / speed + 60
        while daemon.poll() is None:
            time.sleep(sample_s)
            sample = sampler.take()
            if sample is None:
                continue
            result.series.append(sample)
            if sample.candles >= target:
                break
            if time.monotonic() > deadline:
                result.failures.append(f"only {sample.candles} of {target} candles by the deadline")
                break
            faults.step((sampler.market_ms - market0) // INTERVAL_MS)
        faults.all_off()
        result.wall_s = round(time.monotonic() - sampler.t0, 1)
        result.queue_size = sampler.queue_size
        result.faults_switched = dict(faults.switched)
        fired = dict(_admin(rest, "/admin/state")["faults"]["counts"])
        result.faults_fired = fired | ({"drop": faults.drops} if faults.drops else {})
        caught_up = max(int(CAUGHT_UP_S * speed * 1000 / INTERVAL_MS), 5)
        end = time.monotonic()
        while daemon.poll() is None and time.monotonic() - end < CATCH_UP_WITHIN_S:
            sample = sampler.take()
            if sample is not None and sample.lag <= caught_up:
                result.catch_up_s = round(time.monotonic() - end, 1)
                break
            time.sleep(0.1)
        result.reconnects = int(sampler.beat.get("stream", {}).get("reconnects", 0))
        result.gaps = int(sampler.beat.get("gaps", 0))
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                result.exit_code = daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                result.failures.append("the daemon did not exit within 30 s of SIGTERM")
        else:
            result.exit_code = daemon.returncode
            result.failures.append(f"the daemon exited {daemon.returncode} by itself")
        if result.exit_code != 0:
            result.failures.append(f"exit code {result.exit_code}: {(workdir / 'daemon.err').read_text()[-300:]}")
    finally:
        for proc in (daemon, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if sim.stdout is not None:
            sim.stdout.close()
        err.close()
        sim_err.close()
    result.candles = result.series[-1].candles if result.series else 0
    (workdir / "samples.jsonl").write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in result.series))
    judge(result, warmup)
    if (run / "equity.csv").exists():
        _check_files(run, result)
    else:
        result.failures.append("no equity.csv")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=7.0, help="simulated days of market (1,440 candles each)")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="market time per wall time")
    parser.add_argument("--seed", type=int, default=20260301, help="the faults' random choices")
    parser.add_argument("--sample-s", type=float, default=0.5, help="wall seconds between two samples")
    parser.add_argument("--warmup", type=float, default=0.2, help="the share of the candles that is warm-up")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the run folder here")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    result = run_soak(
        args.days, speed=args.speed, seed=args.seed, workdir=args.workdir, sample_s=args.sample_s, warmup=args.warmup
    )
    if args.json:
        data = asdict(result)
        data.pop("series")
        print(orjson.dumps(data | {"ok": result.ok}).decode())
    else:
        print(result.figures())
        print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
