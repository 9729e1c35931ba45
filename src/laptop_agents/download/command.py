"""`la download`: check the request, then fetch through the venue's history and report what was written."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

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
    request, file, manifest = _checked(args)
    if args.rate is not None and not 0 < args.rate <= 1_000:
        raise InputError(f"--rate {args.rate:g}: requests per second must be in (0, 1000]")
    progress = Progress(sys.stderr, label=f"{request.symbol} {request.interval}")
    try:
        outcome = asyncio.run(_download(args, request, file, manifest, progress))
    except KeyboardInterrupt:
        print(
            f"\nla: interrupted: {file.path} holds every candle fetched so far; run the same command to continue",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(_summary(outcome, file.path, args.funding))
    return EXIT_OK


def _checked(args: argparse.Namespace) -> tuple[Request, CandleFile, Manifest]:
    """Everything that can be judged without the venue, so a typo costs no request and writes nothing."""
    exchange = args.exchange.strip().lower()
    if exchange != "bitunix":
        from laptop_agents.exchange.ccxt_client import check_id

        check_id(exchange)  # not installed, or no such venue: one line, before anything is written
    symbol = args.symbol.strip().upper()
    interval = args.interval.strip()
    if interval not in INTERVAL_MS:
        raise InputError(f"--interval {interval!r}: use one of {', '.join(INTERVAL_MS)}")
    step = INTERVAL_MS[interval]
    until = parse_instant(args.until, field="--until") if args.until else None
    out = Path(args.out) if args.out else Path("data") / exchange / f"{symbol}-{interval}.csv"
    _writable(out)
    file = CandleFile(out)
    manifest = _manifest_for(out, exchange, symbol, interval)
    if args.since:
        since = parse_instant(args.since, field="--since")
    elif file.exists() and manifest.first is not None:
        since = manifest.first
    else:
        raise InputError(f"--since: {out} does not exist yet, so say where its history starts, e.g. --since 2024-01-01")
    if until is not None and since >= until:
        raise InputError(f"--since {args.since} is not before --until {args.until}: swap them or move one")
    return Request(symbol=symbol, interval=interval, step=step, since=since, until=until), file, manifest


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
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create {folder} ({exc.strerror}); choose another --out") from None
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
