"""`la download`: check the request, then fetch through the venue's history and report what was written."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from laptop_agents.base.lock import RunLock
from laptop_agents.core.candle import INTERVAL_MS
from laptop_agents.core.errors import InputError
from laptop_agents.core.timespec import format_ms, parse_instant
from laptop_agents.download.candle_file import CandleFile, Manifest, check_header, funding_path, manifest_path
from laptop_agents.download.engine import Outcome, Request, download
from laptop_agents.download.funding_file import update_funding
from laptop_agents.download.gaps import describe
from laptop_agents.download.progress import Progress

EXIT_OK, EXIT_INTERRUPTED = 0, 130


def run(args: argparse.Namespace) -> int:
    if args.rate is not None and not 0 < args.rate <= 1_000:
        raise InputError(f"--rate {args.rate:g}: requests per second must be in (0, 1000]")
    exchange, symbol, interval, out = _market(args)
    created = _folders_for(out)
    lock = RunLock(
        out.parent,
        path=out.with_name(f".{out.name}.lock"),
        busy=f"--out {out} is being written by pid {{pid}} (another la download): wait for it, or choose another --out",
    )
    try:
        _writable(out)
        with lock:  # two downloads into one file would interleave their rows
            request, file, manifest = _checked(args, exchange, symbol, interval, out)
            progress = Progress(sys.stderr, label=f"{symbol} {interval}")
            try:
                outcome = asyncio.run(_download(args, request, file, manifest, progress))
            except KeyboardInterrupt:
                print(
                    f"\nla: interrupted: {out} holds every candle fetched so far; run the same command to continue",
                    file=sys.stderr,
                )
                return EXIT_INTERRUPTED
    except BaseException:
        _tidy(out, created)
        raise
    print(_summary(outcome, file.path, args.funding))
    return EXIT_OK


def _market(args: argparse.Namespace) -> tuple[str, str, str, Path]:
    """Exchange, symbol, interval and the file, as given (checked without touching the disk or the venue)."""
    exchange = args.exchange.strip().lower()
    if exchange != "bitunix":
        from laptop_agents.exchange.ccxt_client import check_id

        check_id(exchange)  # not installed, or no such venue: one line, before anything is written
    symbol = args.symbol.strip() if "/" in args.symbol else args.symbol.strip().upper()
    interval = args.interval.strip()
    if interval not in INTERVAL_MS:
        raise InputError(f"--interval {interval!r}: use one of {', '.join(INTERVAL_MS)}")
    for flag in ("since", "until"):
        if getattr(args, flag):
            parse_instant(getattr(args, flag), field=f"--{flag}")
    name = symbol.replace("/", "").replace(":", "-")  # CCXT's BTC/USDT:USDT is one file, BTCUSDT-USDT-1m.csv
    out = Path(args.out) if args.out else Path("data") / exchange / f"{name}-{interval}.csv"
    return exchange, symbol, interval, out


def _checked(
    args: argparse.Namespace, exchange: str, symbol: str, interval: str, out: Path
) -> tuple[Request, CandleFile, Manifest]:
    """What the file already holds decides the rest: its market must be this one, and without `--since` the
    download starts where the file does."""
    step = INTERVAL_MS[interval]
    until = parse_instant(args.until, field="--until") if args.until else None
    file = CandleFile(out)
    manifest = _manifest_for(out, exchange, symbol, interval)
    span = file.span() if file.exists() else None
    if args.since:
        since = parse_instant(args.since, field="--since")
    elif span is not None:
        since = span[0]
    else:
        raise InputError(
            f"--since: {out} holds no candles yet, so say where its history starts, e.g. --since 2024-01-01"
        )
    if until is not None and since >= until:
        raise InputError(f"--since {args.since} is not before --until {args.until}: swap them or move one")
    return Request(symbol=symbol, interval=interval, step=step, since=since, until=until), file, manifest


def _folders_for(out: Path) -> list[Path]:
    """Create `out`'s folder; the folders this made (to remove again when nothing was written)."""
    missing = [folder for folder in (out.parent, *out.parent.parents) if not folder.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create {out.parent} ({exc.strerror}); choose another --out") from None
    return missing


def _tidy(out: Path, created: list[Path]) -> None:
    """After a refusal or a failure before the first row: leave no lock file or empty folder behind."""
    if out.exists():
        return
    with contextlib.suppress(OSError):
        out.with_name(f".{out.name}.lock").unlink()
    for folder in created:  # innermost first
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty


def _manifest_for(out: Path, exchange: str, symbol: str, interval: str) -> Manifest:
    """The existing file's manifest when it holds the same market; an `InputError` when it holds another."""
    beside = manifest_path(out)
    existing = Manifest.load(beside)
    if existing is not None and out.exists():
        if (existing.exchange, existing.symbol, existing.interval) != (exchange, symbol, interval):
            raise InputError(
                f"--out {out} holds {existing.market()} ({beside.name}), not {symbol} {interval} from {exchange}: "
                "choose another --out"
            )
        check_header(out)
        return existing
    if out.exists():
        raise InputError(
            f"--out {out} exists, but no {beside.name} beside it says which market it holds: choose another --out "
            "or move the file away"
        )
    return Manifest(exchange=exchange, symbol=symbol, interval=interval)


def _writable(out: Path) -> None:
    folder = out.parent
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name such as {out / 'BTCUSDT-1m.csv'}")
    probe = folder / f".{out.name}.probe-{os.getpid()}"
    try:  # a real write, not os.access: root, read-only mounts and ACLs all answer honestly
        probe.touch(exist_ok=False)
        probe.unlink()
        if out.exists():
            with out.open("ab"):
                pass
    except OSError as exc:
        raise InputError(f"--out {out}: not writable ({exc.strerror}); choose another --out") from None


async def _download(
    args: argparse.Namespace, request: Request, file: CandleFile, manifest: Manifest, progress: Progress
) -> Outcome:
    from laptop_agents.download.venues import open_venue

    async with open_venue(manifest.exchange, rest_url=args.rest_url, rate=args.rate, step=request.step) as venue:
        outcome = await download(venue, file, manifest, request, progress)
        if args.funding:
            manifest.funding = await update_funding(venue, funding_path(file.path), request, outcome.manifest)
            manifest.save_beside(file.path)
    return outcome


def _summary(outcome: Outcome, path: Path, funding: bool) -> str:
    m = outcome.manifest
    held = f"{m.rows:,} candles from {format_ms(m.first)} to {format_ms(m.last)}" if m.first and m.last else "empty"
    what = "already up to date" if outcome.up_to_date else f"{outcome.added:,} candles added"
    lines = [f"{m.market()}: {what} · {path} holds {held} · {describe(m.gaps)}"]
    if m.history_starts is not None:
        lines.append(f"  the venue's history starts at {format_ms(m.history_starts)}")
    if m.rejected:
        lines.append(f"  {m.rejected:,} rows the venue sent were not valid candles (skipped: they are gaps)")
    if m.gaps.get("missing"):
        lines.append(f"  gaps listed in {manifest_path(path)}")
    if funding and m.funding:
        lines.append(
            f"  funding: {m.funding['rows']:,} settlements in {funding_path(path)} "
            f"(broker.funding_csv={funding_path(path)})"
        )
    return "\n".join(lines)
