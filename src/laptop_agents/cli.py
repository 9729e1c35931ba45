"""The `la` command. Bad input gets one line naming the field and the fix, and exit code 2.

Exit codes: 0 success, 1 a run or self-test failed, 2 bad input (config, data, arguments).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from laptop_agents import __version__
from laptop_agents.core.errors import ConfigError, InputError, LaptopAgentsError

if TYPE_CHECKING:
    from laptop_agents.config.loader import Change
    from laptop_agents.config.models import Settings

# Building the parser imports nothing else: `la --help` and a typo cost what argparse costs. Each command
# imports what it runs (pydantic and the config models, structlog, aiohttp) when it runs.

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
    run.add_argument(
        "--mode",
        help="backtest | live-paper | live-exchange | validate | selftest | single (what the strategy would do now)",
    )
    run.add_argument("--source", help="candles: csv:PATH (ts,open,high,low,close,volume) or mock")
    run.add_argument("--symbol", help="symbol, e.g. BTCUSDT")
    run.add_argument("--symbols", help="live-paper: several symbols on one account, e.g. BTCUSDT,ETHUSDT")
    run.add_argument("--interval", help="candle interval, e.g. 1m, 5m, 1h")
    run.add_argument("--strategy", help="sma_atr, or your own class as package.module:ClassName")
    run.add_argument(
        "--timerange",
        metavar="START-END",
        help="backtest, validate: only candles in [START, END), e.g. 20240101-20240301 or 20240101- (data.start, "
        "data.end)",
    )
    run.add_argument("--run-id", help="name of the run folder (default: time, mode and a random suffix)")
    run.add_argument("--resume", metavar="RUN_ID", help="live modes: continue RUN_ID (or 'latest') from its checkpoint")
    run.add_argument(
        "--resume-or-start",
        metavar="RUN_ID",
        help="live-paper: continue RUN_ID if it exists, else start it (one command for a service)",
    )
    run.add_argument(
        "--reconfigure",
        action="store_true",
        help="with --resume: let this command line change the run's configuration (recorded as ConfigChanged)",
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
    run.add_argument(
        "--dashboard",
        action="store_const",
        const=True,
        help="live modes: serve the run's dashboard and /metrics (dashboard.enabled; 127.0.0.1:8765)",
    )
    run.add_argument("--grid", help="validate: 'key=v1,v2;key2=...' parameter grid (validation.grid)")
    run.add_argument("--train", type=int, help="validate: candles per training window (validation.train)")
    run.add_argument("--test", type=int, help="validate: candles per out-of-sample window (validation.test)")
    run.add_argument("--jobs", type=int, help="validate: parallel processes (default: the machine's cores)")
    run.add_argument("--max-candidates", type=int, help="validate: thin the grid to this many (seeded)")
    run.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="validate: run the candidates on this Dask cluster (validation.scheduler)",
    )
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
    from laptop_agents.exchange.bitunix.sim.parser import add_parser as add_sim_parser

    add_sim_parser(sub)
    stop = sub.add_parser(
        "stop", help="kill switch: halt a running session's entries (exits still work); optionally flatten, terminate"
    )
    stop.add_argument("run", nargs="?", default="latest", help="run id, run folder, or 'latest'")
    stop.add_argument("--runs-dir", default="runs")
    stop.add_argument("--flatten", action="store_true", help="also close open positions at market")
    stop.add_argument(
        "--terminate", action="store_true", help="then stop the daemon (SIGTERM to the process holding the run's lock)"
    )
    stop.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the daemon to confirm (30)")
    res = sub.add_parser("resume", help="lift the kill switch: the running session takes entries again")
    res.add_argument("run", nargs="?", default="latest", help="run id, run folder, or 'latest'")
    res.add_argument("--runs-dir", default="runs")
    res.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the daemon to confirm (30)")
    rep = sub.add_parser(
        "replay",
        help="re-run a run's recorded inputs through a fresh core: 0 identical, 1 the first divergence",
        description="Rebuild the core from the run's config.json and feed it every input the run recorded "
        "(a backtest: its data files, checked by SHA-256); compare every decision. --set changes the "
        "configuration for the replay (to see where a parameter would have decided otherwise).",
    )
    rep.add_argument("run", nargs="?", default="latest", help="run id, run folder, or 'latest'")
    rep.add_argument("--runs-dir", default="runs")
    rep.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="replay with this config value changed (repeatable)")  # fmt: skip
    rep.add_argument("--from-checkpoint", action="store_true",
                     help="live runs: start from the run's checkpoint (state.json), not its first input")  # fmt: skip
    par = sub.add_parser(
        "parity",
        help="a live session against the backtest of the candles it traded: every difference, with its cause",
        description="Backtest the candles a live session traded (same configuration and warm-up) on the "
        "venue's own candles and on the candles as the session saw them, and list every decision that "
        "differs with its cause (a candle, a refusal only live has, a fill price, latency, funding). "
        "Written to parity.json and the run's summary.html.",
    )
    par.add_argument("run", nargs="?", default="latest", help="run id, run folder, or 'latest'")
    par.add_argument("--runs-dir", default="runs")
    par.add_argument("--candles", action="append", default=[], metavar="[SYMBOL=]FILE.csv",
                     help="the venue's candles (default: the simulator's file, or the venue's REST)")  # fmt: skip
    board = sub.add_parser(
        "dashboard", help="serve the dashboard for a runs folder: every run's page, live or finished, and its report"
    )
    board.add_argument("runs_dir", nargs="?", default="runs", help="the runs folder (default: runs)")
    board.add_argument("--host", help="bind address (dashboard.host; anything but loopback needs a token)")
    board.add_argument("--port", type=int, help="port (dashboard.port, default 8765; 0 = a free one)")
    board.add_argument("--token-file", help="a 0600 file holding the token (dashboard.token_file)")
    from laptop_agents.catalog.parser import add_parser as add_runs_parser

    add_runs_parser(sub)
    from laptop_agents.download.parser import add_parsers as add_data_parsers

    add_data_parsers(sub)
    dog = sub.add_parser(
        "watchdog", help="check a run's heartbeat: 0 running or halted, 1 stale or dead, 2 missing, 3 stopped"
    )
    dog.add_argument("run", nargs="?", default="latest", help="run id, run folder, heartbeat.json, or 'latest'")
    dog.add_argument("--runs-dir", default="runs")
    dog.add_argument("--stale-after", type=float, default=30.0, help="seconds without a heartbeat = stale")
    dog.add_argument("--loop", action="store_true", help="keep checking")
    dog.add_argument("--interval", type=float, default=10.0, help="seconds between checks with --loop")
    dog.add_argument("--restart", help="shell command to run when the daemon is stale, dead or missing (with --loop)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command in ("stop", "resume"):
            from laptop_agents import cli_live

            return cli_live.control(args)
        if args.command == "replay":
            from laptop_agents.replay.command import run as run_replay

            return run_replay(args.run, args.runs_dir, args.sets, from_checkpoint=args.from_checkpoint)
        if args.command == "parity":
            from laptop_agents.replay.parity_command import run as run_parity

            return run_parity(args.run, args.runs_dir, args.candles)
        if args.command == "dashboard":
            from laptop_agents.dashboard.command import serve

            return serve(args)
        if args.command == "runs":
            from laptop_agents.catalog.command import run as run_catalog

            return run_catalog(args)
        if args.command == "watchdog":
            from laptop_agents.daemon import watchdog

            path = watchdog.resolve_heartbeat(args.run, args.runs_dir)
            if args.loop:
                return watchdog.loop(
                    path, stale_after_s=args.stale_after, interval_s=args.interval, restart=args.restart
                )
            status = watchdog.check(path, stale_after_s=args.stale_after)
            print(status.line)
            return status.code
        if args.command == "download":
            from laptop_agents.download.command import run as run_download

            return run_download(args)
        if args.command == "data":
            from laptop_agents.download.listing import run as run_listing

            return run_listing(args)
        if args.command == "sim-exchange":
            from laptop_agents.exchange.bitunix.sim.cli import run as run_sim

            return run_sim(args)
    except InputError as exc:
        from laptop_agents.base.scrub import scrub  # a secret's value never reaches the terminal either

        for line in exc.lines if isinstance(exc, ConfigError) else [str(exc)]:
            print(f"la: {scrub(line)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except LaptopAgentsError as exc:
        from laptop_agents.base.scrub import scrub

        print(f"la: {scrub(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("la: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # piped into head: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return EXIT_OK
    return EXIT_FAILED  # pragma: no cover - argparse requires a command


def _cli_values(args: argparse.Namespace) -> dict[str, object]:
    """The `la run` flags that set a config value, as dotted keys."""
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
        ("dashboard", "dashboard.enabled"),
        ("flatten_on_stop", "live.flatten_on_stop"),
        ("ack_external", "live.acknowledged_external"),
        ("grid", "validation.grid"),
        ("train", "validation.train"),
        ("test", "validation.test"),
        ("jobs", "validation.jobs"),
        ("max_candidates", "validation.max_candidates"),
        ("scheduler", "validation.scheduler"),
    ):
        value = getattr(args, flag)
        if value is not None:
            cli[key] = value
    if getattr(args, "timerange", None) is not None:
        from laptop_agents.core.timespec import split_timerange

        start, end = split_timerange(args.timerange)
        cli["data.start"], cli["data.end"] = start, end
    return cli


def _settings(args: argparse.Namespace) -> Settings:
    from laptop_agents.config.loader import load_settings

    return load_settings(
        profile=args.profile, config_file=args.config_file, sets=args.sets, cli_values=_cli_values(args)
    )


def _run(args: argparse.Namespace) -> int:
    if args.mode == "live":  # the plan's name for it
        print("la: --mode live is live-paper (its old name): running live-paper", file=sys.stderr)
        args.mode = "live-paper"
    settings = _settings(args)
    mode = settings.run.mode
    resume: str | None = None
    changes: list[Change] = []
    if mode in ("live-paper", "live-exchange"):
        settings, resume, changes = _live_target(args, settings)
    else:
        for flag, given in (("--resume", args.resume), ("--resume-or-start", args.resume_or_start),
                            ("--duration", args.duration), ("--reconfigure", args.reconfigure or None)):  # fmt: skip
            if given is not None:
                raise InputError(f"{flag} is for the live modes (live-paper, live-exchange), not {mode}; drop it")
    if args.print_config:  # a resume prints the run's own configuration, as it would run
        import orjson

        from laptop_agents.config.loader import redacted_dump

        sys.stdout.write(orjson.dumps(redacted_dump(settings), option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    from laptop_agents.core.clock import LiveClock
    from laptop_agents.daemon.logging import configure_logging

    configure_logging(level=settings.run.log_level, fmt=settings.run.log_format, clock=LiveClock())
    if mode in ("backtest", "live-paper", "validate", "single"):
        from laptop_agents.strategy.registry import build_strategy

        # Build the strategy once before any run folder exists: a bad --strategy is one line, nothing written.
        build_strategy(settings.strategy, emit=lambda _: None, symbol=settings.data.symbol)
    if mode == "backtest":
        return _backtest(settings)
    if mode in ("live-paper", "live-exchange"):
        from laptop_agents import cli_live

        if mode == "live-paper":
            return cli_live.live_paper(settings, resume=resume, changes=changes)
        return cli_live.live_exchange(
            settings, confirmed=args.confirm_live, preflight_only=args.preflight_only, resume=resume, changes=changes
        )
    if mode == "single":
        from laptop_agents.backtest.single import run_single

        run_single(settings)
        return EXIT_OK
    if mode == "validate":
        from laptop_agents.cli_live import shown
        from laptop_agents.validate.command import run_validate

        return run_validate(settings, shown_path=shown)
    from laptop_agents.backtest.selftest import run_selftest

    return EXIT_OK if run_selftest(print) else EXIT_FAILED


def _live_target(args: argparse.Namespace, settings: Settings) -> tuple[Settings, str | None, list[Change]]:
    """Which run a live session continues (`--resume`, or `--resume-or-start` when its checkpoint exists),
    with that run's own configuration; or a new run."""
    from pathlib import Path

    from laptop_agents import cli_live

    resume = args.resume
    if args.resume_or_start:
        if settings.run.mode != "live-paper":
            raise InputError("--resume-or-start is for live-paper; live-exchange resumes with --resume RUN_ID")
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
    if resume is None:
        if args.reconfigure:
            raise InputError("--reconfigure changes a resumed run's configuration: use it with --resume RUN_ID")
        return settings, None, []
    settings, changes = cli_live.resumed_settings(args, settings, resume, _cli_values(args))
    return settings, resume, changes


def _backtest(settings: Settings) -> int:
    from pathlib import Path

    import structlog

    from laptop_agents.backtest.driver import run_backtest
    from laptop_agents.cli_live import shown as _shown
    from laptop_agents.core.clock import LiveClock
    from laptop_agents.feeds.sources import open_marks, open_source
    from laptop_agents.reporting.console import result_table
    from laptop_agents.runs.run_folder import RunFolder, new_run_id

    wall = LiveClock()
    source = open_source(settings.data, seed=settings.run.seed)
    marks = open_marks(settings.data)  # both checked before the run folder exists
    run_id = settings.run.run_id or new_run_id("backtest", wall.now_ms())
    folder = RunFolder.create(Path(settings.run.runs_dir), run_id)
    log = structlog.get_logger("la")
    log.debug("backtest started", run_id=run_id, source=source.describe(), folder=_shown(folder.path))
    started = time.perf_counter()
    try:
        result = run_backtest(settings, source=source, folder=folder, wall_clock=wall, marks=marks)
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


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
