"""The `la` command. Bad input gets one line naming the field and the fix, and exit code 2.

Exit codes: 0 success, 1 a run or self-test failed, 2 bad input (config, data, arguments).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import orjson
import structlog

from laptop_agents import __version__
from laptop_agents.config.loader import load_settings, redacted_dump
from laptop_agents.config.models import Settings
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import ConfigError, InputError, LaptopAgentsError
from laptop_agents.runtime.logging import configure_logging

if TYPE_CHECKING:
    from laptop_agents.runtime.run_folder import RunFolder

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"la: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="la", description="laptop-agents: a trading daemon for crypto perpetual futures.")
    parser.add_argument("--version", action="version", version=f"la {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser(
        "run",
        help="run a backtest, a live session, a validation or the self-test",
        description="Run laptop-agents. Config precedence: --set > env LA_SECTION__KEY > "
        "--config FILE > --profile NAME > config/default.json.",
    )
    run.add_argument("--mode", help="backtest | live-paper | live-exchange | validate | selftest")
    run.add_argument("--source", help="candles: csv:PATH (ts,open,high,low,close,volume) or mock")
    run.add_argument("--symbol", help="symbol, e.g. BTCUSDT")
    run.add_argument("--symbols", help="live-paper: several symbols on one account, e.g. BTCUSDT,ETHUSDT")
    run.add_argument("--interval", help="candle interval, e.g. 1m, 5m, 1h")
    run.add_argument("--strategy", help="sma_atr, or your own class as package.module:ClassName")
    run.add_argument("--run-id", help="name of the run folder (default: time, mode and a random suffix)")
    run.add_argument("--resume", metavar="RUN_ID", help="live modes: continue RUN_ID (or 'latest') from its checkpoint")
    run.add_argument(
        "--resume-or-start",
        metavar="RUN_ID",
        help="live-paper: continue RUN_ID if it exists, else start it (one command for a service)",
    )
    run.add_argument("--confirm-live", action="store_true", help="live-exchange: confirm that real orders may be sent")
    run.add_argument("--preflight-only", action="store_true", help="live-exchange: run the preflight checks and exit")
    run.add_argument(
        "--flatten-on-stop",
        action="store_true",
        default=None,
        help="live-exchange: on stop, close positions with reduce-only market orders (live.flatten_on_stop)",
    )
    run.add_argument(
        "--ack-external",
        metavar="SYMBOLS",
        help="live-exchange: acknowledge the adopted outside position on these symbols, e.g. BTCUSDT",
    )
    run.add_argument("--duration", type=float, help="live modes: stop after this many seconds (run.duration_s)")
    run.add_argument("--grid", help="validate: 'key=v1,v2;key2=...' parameter grid (validation.grid)")
    run.add_argument("--train", type=int, help="validate: candles per training window (validation.train)")
    run.add_argument("--test", type=int, help="validate: candles per out-of-sample window (validation.test)")
    run.add_argument("--jobs", type=int, help="validate: parallel processes (default: the machine's cores)")
    run.add_argument("--max-candidates", type=int, help="validate: thin the grid to this many (seeded)")
    run.add_argument("--profile", help="config/profiles/NAME.json layered over the defaults")
    run.add_argument("--config", dest="config_file", help="a JSON config file layered over the profile")
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value (repeatable), e.g. --set risk.risk_pct=0.5",
    )
    run.add_argument("--print-config", action="store_true", help="print the effective config and exit")
    from laptop_agents.exchange.bitunix.sim.cli import add_parser as add_sim_parser

    add_sim_parser(sub)
    stop = sub.add_parser("stop", help="kill switch: halt a running session's entries (optionally flatten)")
    stop.add_argument("run", nargs="?", default="latest", help="run folder or 'latest'")
    stop.add_argument("--runs-dir", default="runs")
    stop.add_argument("--flatten", action="store_true", help="also close open positions at market")
    stop.add_argument("--terminate", action="store_true", help="then stop the daemon too (SIGTERM to its pid)")
    dog = sub.add_parser("watchdog", help="check a run's heartbeat: exit 0 fresh, 1 stale or halted, 2 missing")
    dog.add_argument("run", nargs="?", default="latest", help="run folder, heartbeat.json, or 'latest'")
    dog.add_argument("--runs-dir", default="runs")
    dog.add_argument("--stale-after", type=float, default=30.0, help="seconds without a heartbeat = stale")
    dog.add_argument("--loop", action="store_true", help="keep checking")
    dog.add_argument("--interval", type=float, default=10.0, help="seconds between checks with --loop")
    dog.add_argument("--restart", help="shell command to run when the daemon is stale or missing (with --loop)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "stop":
            return _stop(args)
        if args.command == "watchdog":
            from laptop_agents.runtime import watchdog

            path = watchdog.resolve_heartbeat(args.run, args.runs_dir)
            if args.loop:
                return watchdog.loop(
                    path, stale_after_s=args.stale_after, interval_s=args.interval, restart=args.restart
                )
            status = watchdog.check(path, stale_after_s=args.stale_after)
            print(status.line)
            return status.code
        if args.command == "sim-exchange":
            from laptop_agents.exchange.bitunix.sim.cli import run as run_sim

            return run_sim(args)
    except InputError as exc:
        for line in exc.lines if isinstance(exc, ConfigError) else [str(exc)]:
            print(f"la: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except LaptopAgentsError as exc:
        print(f"la: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("la: interrupted", file=sys.stderr)
        return 130
    return EXIT_FAILED  # pragma: no cover - argparse requires a command


def _settings(args: argparse.Namespace) -> Settings:
    cli: dict[str, object] = {}
    for flag, key in (
        ("mode", "run.mode"),
        ("source", "data.source"),
        ("symbol", "data.symbol"),
        ("symbols", "data.symbols"),
        ("interval", "data.interval"),
        ("strategy", "strategy.name"),
        ("run_id", "run.run_id"),
        ("duration", "run.duration_s"),
        ("flatten_on_stop", "live.flatten_on_stop"),
        ("ack_external", "live.acknowledged_external"),
        ("grid", "validation.grid"),
        ("train", "validation.train"),
        ("test", "validation.test"),
        ("jobs", "validation.jobs"),
        ("max_candidates", "validation.max_candidates"),
    ):
        value = getattr(args, flag)
        if value is not None:
            cli[key] = value
    return load_settings(profile=args.profile, config_file=args.config_file, sets=args.sets, cli_values=cli)


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.print_config:
        sys.stdout.write(orjson.dumps(redacted_dump(settings), option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    configure_logging(level=settings.run.log_level, fmt=settings.run.log_format, clock=LiveClock())
    mode = settings.run.mode
    if mode in ("backtest", "live-paper", "validate"):
        from laptop_agents.strategy.registry import build_strategy

        # Build the strategy once before any run folder exists: a bad --strategy is one line, nothing written.
        build_strategy(settings.strategy, emit=lambda _: None, symbol=settings.data.symbol)
    if mode == "backtest":
        return _backtest(settings)
    if mode == "live-paper":
        resume = args.resume
        if args.resume_or_start:
            folder = Path(settings.run.runs_dir) / args.resume_or_start
            if (folder / "state.json").is_file():
                resume = args.resume_or_start
            else:
                if folder.exists():
                    raise InputError(
                        f"--resume-or-start {args.resume_or_start}: {folder} exists but has no "
                        "checkpoint; move it away or pick another run id"
                    )
                settings = settings.model_copy(
                    update={"run": settings.run.model_copy(update={"run_id": args.resume_or_start})}
                )
        return _live_paper(settings, resume=resume)
    if mode == "live-exchange":
        return _live_exchange(
            settings, confirmed=args.confirm_live, preflight_only=args.preflight_only, resume=args.resume
        )
    if mode == "validate":
        from laptop_agents.validate.command import run_validate

        return run_validate(settings, shown_path=_shown)
    from laptop_agents.backtest.selftest import run_selftest

    return EXIT_OK if run_selftest(print) else EXIT_FAILED


def _backtest(settings: Settings) -> int:
    from laptop_agents.backtest.driver import run_backtest
    from laptop_agents.feeds.sources import open_source
    from laptop_agents.reporting.console import result_table
    from laptop_agents.runtime.run_folder import RunFolder, new_run_id

    wall = LiveClock()
    source = open_source(settings.data, seed=settings.run.seed)
    run_id = settings.run.run_id or new_run_id("backtest", wall.now_ms())
    folder = RunFolder.create(Path(settings.run.runs_dir), run_id)
    log = structlog.get_logger("la")
    log.debug("backtest started", run_id=run_id, source=source.describe(), folder=_shown(folder.path))
    started = time.perf_counter()
    try:
        result = run_backtest(settings, source=source, folder=folder, wall_clock=wall)
    except InputError as exc:
        print(f"la: {exc} (the run stopped; its files are in {_shown(folder.path)})", file=sys.stderr)
        return EXIT_BAD_INPUT
    elapsed = time.perf_counter() - started
    log.debug(
        "backtest finished",
        run_id=run_id,
        candles=result.summary.candles,
        trades=result.summary.trades,
        seconds=round(elapsed, 3),
    )
    folder.point_latest()
    print(result_table(result, settings, elapsed_s=elapsed, shown_path=_shown(folder.summary)))
    return EXIT_OK


def _run_folder(settings: Settings, resume: str | None, wall: LiveClock) -> RunFolder:
    """The folder of a live session: the resumed run's (which must have a checkpoint), or a new one."""
    from laptop_agents.runtime.run_folder import RunFolder, new_run_id

    runs_dir = Path(settings.run.runs_dir)
    if resume is not None:
        path = (runs_dir / "latest").resolve() if resume == "latest" else runs_dir / resume
        if not (path / "state.json").is_file():
            raise InputError(f"--resume {resume}: no checkpoint at {path / 'state.json'}; name an existing run")
        return RunFolder(path)
    folder = RunFolder.create(runs_dir, settings.run.run_id or new_run_id(settings.run.mode, wall.now_ms()))
    folder.point_latest()
    return folder


def _live_paper(settings: Settings, *, resume: str | None) -> int:
    import asyncio

    from laptop_agents.reporting.console import result_table
    from laptop_agents.runtime.live_paper import run_live_paper

    wall = LiveClock()
    folder = _run_folder(settings, resume, wall)
    verb = "resuming" if resume else "live-paper session"

    def announce() -> None:  # once the run folder's lock is held: a refused second daemon prints one line only
        print(
            f"{verb} {folder.run_id}: heartbeat {_shown(folder.path / 'heartbeat.json')}; stop with Ctrl-C",
            file=sys.stderr,
            flush=True,
        )

    started = time.perf_counter()
    result = asyncio.run(
        run_live_paper(settings, folder=folder, wall_clock=wall, resume=resume is not None, on_start=announce)
    )
    elapsed = time.perf_counter() - started
    print(
        result_table(
            result,
            settings,
            elapsed_s=elapsed,
            shown_path=_shown(folder.summary),
            title=f"Live-paper session ({result.stop_reason})",
        )
    )
    return EXIT_OK


def _live_exchange(settings: Settings, *, confirmed: bool, preflight_only: bool, resume: str | None) -> int:
    """Opt-in first (confirmation and keys, before any network call), then the preflight and the session."""
    import asyncio

    from laptop_agents.live.credentials import load_credentials
    from laptop_agents.live.session import run_preflight
    from laptop_agents.live.trading import run_live_exchange
    from laptop_agents.reporting.console import result_table

    if not confirmed:
        raise InputError(
            "live-exchange sends real orders: add --confirm-live to confirm (or rehearse with --mode live-paper)"
        )
    credentials = load_credentials(settings.exchange, os.environ)
    wall = LiveClock()
    folder = _run_folder(settings, None if preflight_only else resume, wall)
    if preflight_only:
        print(f"live-exchange {folder.run_id}: preflight, events in {_shown(folder.events)}", flush=True)
        asyncio.run(run_preflight(settings, credentials, folder=folder, wall_clock=wall, say=print))
        print("preflight passed: nothing was sent")
        return EXIT_OK

    def announce() -> None:
        verb = "resuming" if resume else "live-exchange session"
        print(
            f"{verb} {folder.run_id}: REAL ORDERS; heartbeat {_shown(folder.path / 'heartbeat.json')}; "
            "stop with Ctrl-C or 'la stop'",
            file=sys.stderr,
            flush=True,
        )

    started = time.perf_counter()
    result = asyncio.run(
        run_live_exchange(
            settings, credentials, folder=folder, wall_clock=wall, resume=resume is not None, on_start=announce
        )
    )
    print(
        result_table(
            result,
            settings,
            elapsed_s=time.perf_counter() - started,
            shown_path=_shown(folder.summary),
            title=f"Live-exchange session ({result.stop_reason})",
        )
    )
    return EXIT_OK


def _stop(args: argparse.Namespace) -> int:
    import os
    import signal

    from laptop_agents.runtime.atomic import atomic_write_bytes
    from laptop_agents.runtime.runner import KILL_FILE

    folder = Path(args.runs_dir) / "latest" if args.run == "latest" else Path(args.run)
    if not (folder / "events.jsonl").exists():
        raise InputError(f"la stop: {folder} is not a run folder (no events.jsonl)")
    atomic_write_bytes(folder / KILL_FILE, orjson.dumps({"flatten": args.flatten, "source": "cli"}))
    said = f"kill switch set for {_shown(folder)}: entries halted" + (", positions flattened" if args.flatten else "")
    if args.terminate:
        try:
            pid = int(orjson.loads((folder / "heartbeat.json").read_bytes())["pid"])
            os.kill(pid, signal.SIGTERM)
            said += f"; SIGTERM sent to pid {pid}"
        except (OSError, KeyError, ValueError, orjson.JSONDecodeError) as exc:
            said += f"; could not signal the daemon ({exc})"
    print(said)
    return EXIT_OK


def _shown(path: Path) -> str:
    """A path as a user would type it: relative to the current folder when it is below it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
