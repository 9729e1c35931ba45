"""`la sim-exchange`: build the simulated Bitunix exchange from the command line's options and serve it
until stopped. The options themselves are in `sim/parser.py`."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from laptop_agents.core.candle import INTERVAL_MS, Candle, interval_name, usual_step
from laptop_agents.core.errors import InputError

if TYPE_CHECKING:  # the server (aiohttp) is imported when it runs, not when `la`'s parser is built
    from laptop_agents.exchange.bitunix.sim.server import SimAccountConfig, SimExchange

Funding = tuple[int, float]
"""One settlement: time (ms), rate (a fraction)."""


def _accounts(path: str | None) -> list[SimAccountConfig]:
    from laptop_agents.exchange.bitunix.sim.server import SimAccountConfig

    if path is None:
        return [SimAccountConfig("sim-key", "sim-secret", 10_000.0)]
    try:
        rows = orjson.loads(Path(path).read_bytes())
        return [SimAccountConfig(str(r["api_key"]), str(r["secret"]), float(r.get("balance", 10_000.0))) for r in rows]
    except FileNotFoundError:
        raise InputError(f"--accounts: file {path} not found") from None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"--accounts {path}: expected a JSON list of {{api_key, secret, balance}} ({exc})") from None


def build(args: argparse.Namespace) -> SimExchange:
    from laptop_agents.exchange.bitunix.sim import load_candles
    from laptop_agents.exchange.bitunix.sim.server import SimConfig, SimExchange
    from laptop_agents.feeds.sources import resolve_data_path

    if not 0 <= args.port <= 65_535:
        raise InputError(f"--port {args.port}: use 0..65535 (0 picks a free port)")
    if args.rest_rate < 1:
        raise InputError(f"--rest-rate {args.rest_rate}: must be at least 1 request a second")
    if args.speed < 0:
        raise InputError(f"--speed {args.speed}: must be >= 0")
    path = resolve_data_path(args.data.removeprefix("csv:"))
    candles = load_candles(path)
    if len(candles) <= args.start_index + 1:
        raise InputError(f"--start-index {args.start_index}: the data has only {len(candles)} candles")
    symbol, interval, funding = _market(args, path, candles)
    _warn_gaps(path, candles, INTERVAL_MS[interval])
    config = SimConfig(
        port=args.port,
        interval=interval,
        funding=funding,
        rest_rate_per_s=args.rest_rate,
        speed=args.speed,
        pushes_per_candle=args.pushes_per_candle,
        start_index=args.start_index,
        accounts=_accounts(args.accounts),
    )
    exchange = SimExchange(config, {symbol: candles})
    if args.faults:
        try:
            exchange.faults.update(orjson.loads(Path(args.faults).read_bytes()))
        except FileNotFoundError:
            raise InputError(f"--faults: file {args.faults} not found") from None
        except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
            raise InputError(f"--faults {args.faults}: {exc}") from None
    return exchange


def _market(
    args: argparse.Namespace, path: Path, candles: list[Candle]
) -> tuple[str, str, tuple[tuple[int, float], ...]]:
    """Symbol, interval and funding record: as given, else as the download that wrote `path` recorded them
    (its `NAME.gaps.json` and `NAME.funding.csv`), else BTCUSDT, the file's own step and a constant rate."""
    from laptop_agents.core.funding_rows import read_funding_rows

    manifest: dict[str, Any] = {}
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        loaded = orjson.loads(path.with_suffix(".gaps.json").read_bytes())
        manifest = loaded if isinstance(loaded, dict) else {}
    symbol = str(args.symbol or manifest.get("symbol") or "BTCUSDT").upper()
    interval = args.interval or manifest.get("interval") or interval_name(usual_step([c.ts for c in candles]) or 60_000)
    if interval not in INTERVAL_MS or interval == "3m":
        raise InputError(
            f"--interval: {path} has {interval} candles, which Bitunix's REST does not serve; pass --interval"
        )
    funding_file = Path(args.funding) if args.funding else path.with_suffix(".funding.csv")
    if args.funding or funding_file.exists():
        return symbol, interval, tuple(sorted(read_funding_rows(funding_file, setting="--funding")))
    return symbol, interval, ()


def _warn_gaps(path: Path, candles: list[Candle], step: int) -> None:
    """The replay plays candles back to back (candle i opens at the first one's time + i intervals): a file
    with gaps is served with its later candles moved earlier. Said once, on stderr, so a rehearsal on a
    downloaded market with gaps is not taken for that market's own timeline."""
    gaps = [(a.ts, b.ts) for a, b in itertools.pairwise(candles) if b.ts - a.ts != step]
    if gaps:
        missing = sum(max((b - a) // step - 1, 0) for a, b in gaps)
        print(
            f"la sim-exchange: {path} has {len(gaps)} gap{'s' if len(gaps) != 1 else ''} ({missing} candles "
            "missing); the replay serves its "
            "candles back to back, so from the first gap on their times are earlier than in the file",
            file=sys.stderr,
        )


async def serve(exchange: SimExchange) -> None:
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still raises KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    async with exchange:
        keys = ", ".join(a.api_key for a in exchange.config.accounts)
        print(
            f"sim-exchange ready  REST {exchange.rest_url}  WS {exchange.ws_public_url} "
            f"{exchange.ws_private_url}  admin {exchange.rest_url}/admin/state  accounts: {keys}",
            flush=True,
        )
        await stop.wait()
    print("sim-exchange stopped", flush=True)


def run(args: argparse.Namespace) -> int:
    import asyncio

    exchange = build(args)
    try:
        asyncio.run(serve(exchange))
    except KeyboardInterrupt:
        print("sim-exchange stopped", file=sys.stderr)
    return 0
