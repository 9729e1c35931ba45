"""`la dashboard [RUNS_DIR]`: the dashboard for a whole runs folder, live and finished runs alike, from
their files (a live daemon's page follows its heartbeat and events as they are written)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import signal
import sys
from pathlib import Path

from aiohttp import web

from laptop_agents.config.loader import load_settings
from laptop_agents.core.errors import InputError
from laptop_agents.dashboard.app import Dashboard, build_app
from laptop_agents.dashboard.security import Guard, check_bind, dashboard_token


def serve(args: argparse.Namespace) -> int:
    sets = [
        f"dashboard.{key}={value}" for key, value in (("host", args.host), ("port", args.port)) if value is not None
    ]
    if args.token_file is not None:
        sets.append(f"dashboard.token_file={args.token_file!s}")
    config = load_settings(sets=[_quoted(s) for s in sets]).dashboard
    runs_dir = Path(args.runs_dir)
    if not runs_dir.is_dir():
        raise InputError(f"la dashboard {args.runs_dir}: no such folder; give the runs folder (default: runs)")
    token = dashboard_token(config)
    check_bind(config.host, token)
    guard = Guard(config.host, config.port, token=token, allowed_hosts=tuple(config.allowed_hosts))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(Dashboard(runs_dir, guard), config.host, config.port))
    return 0


def _quoted(assignment: str) -> str:
    """`--set` parses values as JSON when they are: a path or host stays a string."""
    key, _, value = assignment.partition("=")
    return assignment if value.lstrip("-").isdigit() else f'{key}="{value}"'


async def _serve(dashboard: Dashboard, host: str, port: int) -> None:
    runner = web.AppRunner(build_app(dashboard), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
        raise InputError(f"dashboard.port: {host}:{port} {why}; pick another (--port 0 takes a free one)") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    dashboard.guard.port = int(bound)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"dashboard http://{shown}:{bound}/ for {dashboard.runs_dir}/ (Ctrl-C stops it)", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        dashboard.stopping.set()
        await runner.cleanup()
