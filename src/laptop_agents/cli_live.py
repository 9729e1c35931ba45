"""`la run` in the live modes (live-paper, live-exchange), resuming a run with its own configuration, and
the operator's `la stop` / `la resume`: the parts of the CLI that act on a run folder."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from laptop_agents.config.loader import Change
from laptop_agents.config.models import Settings
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import InputError

if TYPE_CHECKING:
    from laptop_agents.runs.artifacts import RunResult
    from laptop_agents.runs.run_folder import RunFolder

EXIT_OK, EXIT_FAILED = 0, 1


def resumed_settings(
    args: argparse.Namespace, today: Settings, resume: str, cli_values: dict[str, object]
) -> tuple[Settings, list[Change]]:
    """The run's own configuration (its `config.json`), with what this command line gives on top. A change
    to it is refused in one line naming the fields, unless `--reconfigure` (then it is recorded)."""
    from laptop_agents.config.loader import resume_settings
    from laptop_agents.runs.run_ref import read_run_config, resolve_run

    folder = resolve_run(resume, today.run.runs_dir, command="--resume")
    saved = read_run_config(folder, command=f"--resume {resume}")
    saved_mode = (saved.get("run") or {}).get("mode")
    if saved_mode != today.run.mode:
        raise InputError(f"--resume {resume}: it is a {saved_mode} run; resume it with --mode {saved_mode}")
    settings, changes = resume_settings(
        saved, profile=args.profile, config_file=args.config_file, sets=args.sets, cli_values=cli_values
    )
    if changes and not args.reconfigure:
        listed = "; ".join(c.line() for c in changes[:4]) + ("; ..." if len(changes) > 4 else "")
        raise InputError(
            f"--resume {resume}: this command line changes the run's configuration ({listed}); a resume keeps "
            "the run's own config.json: drop those settings, or add --reconfigure to change them (recorded)"
        )
    return settings, changes


def _run_folder(settings: Settings, resume: str | None, wall: LiveClock) -> RunFolder:
    """The folder of a live session: the resumed run's (which must have a checkpoint), or a new one."""
    from laptop_agents.runs.run_folder import RunFolder, new_run_id
    from laptop_agents.runs.run_ref import resolve_run

    runs_dir = Path(settings.run.runs_dir)
    if resume is not None:
        path = resolve_run(resume, runs_dir, command="--resume")
        if not (path / "state.json").is_file():
            raise InputError(f"--resume {resume}: no checkpoint at {path / 'state.json'}; name an existing run")
        return RunFolder(path)
    folder = RunFolder.create(runs_dir, settings.run.run_id or new_run_id(settings.run.mode, wall.now_ms()))
    folder.point_latest()
    return folder


def live_paper(settings: Settings, *, resume: str | None, changes: list[Change]) -> int:
    import asyncio

    from laptop_agents.daemon.live_paper import run_live_paper
    from laptop_agents.monitor.service import build as watchers
    from laptop_agents.monitor.service import check_monitor_settings
    from laptop_agents.reporting.console import result_table

    check_monitor_settings(settings)  # a dashboard without its token is one line, before any folder exists
    if settings.exchange.ccxt_id is not None:
        from laptop_agents.exchange.ccxt_client import check_id

        check_id(settings.exchange.ccxt_id, field="exchange.ccxt_id")  # no ccxt, or no such venue: one line
    wall = LiveClock()
    folder = _run_folder(settings, resume, wall)
    verb = "resuming" if resume else "live-paper session"

    def announce() -> None:  # once the run folder's lock is held: a refused second daemon prints one line only
        print(
            f"{verb} {folder.run_id}: heartbeat {shown(folder.path / 'heartbeat.json')}; stop with Ctrl-C",
            file=sys.stderr,
            flush=True,
        )
        _kill_notice(folder)

    started = time.perf_counter()
    result = asyncio.run(
        run_live_paper(
            settings,
            folder=folder,
            wall_clock=wall,
            resume=resume is not None,
            on_start=announce,
            changes=changes,
            watch=watchers,
        )
    )
    elapsed = time.perf_counter() - started
    print(
        result_table(
            result,
            settings,
            elapsed_s=elapsed,
            shown_path=shown(folder.summary),
            title=f"Live-paper session ({result.stop_reason})",
        )
    )
    return _outcome(result, settings, folder)


def live_exchange(
    settings: Settings, *, confirmed: bool, preflight_only: bool, resume: str | None, changes: list[Change]
) -> int:
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
    from laptop_agents.monitor.service import build as watchers
    from laptop_agents.monitor.service import check_monitor_settings

    credentials = load_credentials(settings.exchange, os.environ)
    check_monitor_settings(settings)
    wall = LiveClock()
    folder = _run_folder(settings, None if preflight_only else resume, wall)
    if preflight_only:
        print(f"live-exchange {folder.run_id}: preflight, events in {shown(folder.events)}", flush=True)
        asyncio.run(run_preflight(settings, credentials, folder=folder, wall_clock=wall, say=print))
        print("preflight passed: nothing was sent")
        return EXIT_OK

    def announce() -> None:
        verb = "resuming" if resume else "live-exchange session"
        print(
            f"{verb} {folder.run_id}: REAL ORDERS; heartbeat {shown(folder.path / 'heartbeat.json')}; "
            "stop with Ctrl-C or 'la stop'",
            file=sys.stderr,
            flush=True,
        )
        _kill_notice(folder)

    started = time.perf_counter()
    result = asyncio.run(
        run_live_exchange(
            settings,
            credentials,
            folder=folder,
            wall_clock=wall,
            resume=resume is not None,
            on_start=announce,
            changes=changes,
            watch=watchers,
        )
    )
    print(
        result_table(
            result,
            settings,
            elapsed_s=time.perf_counter() - started,
            shown_path=shown(folder.summary),
            title=f"Live-exchange session ({result.stop_reason})",
        )
    )
    return _outcome(result, settings, folder)


def _outcome(result: RunResult, settings: Settings, folder: RunFolder) -> int:
    """0 for a session that stopped; 1, and one line naming what failed, for one that failed."""
    if result.error is None:
        return EXIT_OK
    task = result.failed_task
    what = f"strategy {settings.strategy.name} ({task})" if task.startswith("core:") else f"task {task}"
    print(f"la: {what} failed: {result.error}; the session stopped (traceback in "
          f"{shown(folder.path / 'daemon.log')})", file=sys.stderr)  # fmt: skip
    return EXIT_FAILED


def control(args: argparse.Namespace) -> int:
    """`la stop` and `la resume`: one line per thing that happened, exit 1 when the daemon did not confirm."""
    from laptop_agents.daemon import controls
    from laptop_agents.runs.run_ref import resolve_run

    folder = resolve_run(args.run, args.runs_dir, command=f"la {args.command}")
    if args.command == "stop":
        outcome = controls.stop(
            folder, flatten=args.flatten, terminate=args.terminate, wait_s=args.wait, shown=shown(folder)
        )
    else:
        outcome = controls.resume(folder, wait_s=args.wait, shown=shown(folder))
    for line in outcome.lines:
        print(line, file=sys.stdout if outcome.code == 0 else sys.stderr)
    return outcome.code


def _kill_notice(folder: RunFolder) -> None:
    """A run whose kill switch is still set starts halted, and says so once."""
    from laptop_agents.daemon.kill_switch import KILL_FILE, read_kill

    order = read_kill(folder.path)
    if order is not None:
        print(
            f"kill switch set ({shown(folder.path / KILL_FILE)}, by {order.by}): entries are halted, exits and stops "
            f"still work; `la resume {folder.run_id}` to trade again",
            file=sys.stderr,
            flush=True,
        )


def shown(path: Path) -> str:
    """A path as a user would type it: relative to the current folder when it is below it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
