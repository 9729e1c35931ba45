"""`la sim-exchange`: run the simulated Bitunix exchange on 127.0.0.1 until stopped (Ctrl-C or SIGTERM).

It binds to loopback only. Accounts come from `--accounts FILE` (a JSON list of
{"api_key", "secret", "balance"}); without it there is one demo account, api key `sim-key`, secret
`sim-secret`, 10,000 USDT. `--faults FILE` holds a JSON object of fault switches (see `faults.py`); the
same switches can be changed live with `POST /admin/faults`.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from laptop_agents.core.candle import INTERVAL_MS
from laptop_agents.core.errors import InputError

if TYPE_CHECKING:  # the server (aiohttp) is imported when it runs, not when `la`'s parser is built
    from laptop_agents.exchange.bitunix.sim.server import SimAccountConfig, SimExchange

DEFAULT_DATA = "data/ftx_btc-perp_1m_2022-01.csv"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sim-exchange",
        help="run the simulated Bitunix exchange on 127.0.0.1",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=0, help="TCP port (0 = a free one; the URLs are printed)")
    p.add_argument("--data", default=DEFAULT_DATA, help="candle CSV to replay (ts,open,high,low,close,volume)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--interval", default="1m", choices=[k for k in INTERVAL_MS if k != "3m"])
    p.add_argument(
        "--speed",
        type=float,
        default=600.0,
        help="market time per wall time (600: a 1m candle every 100 ms; 0: step with POST /admin/advance)",
    )
    p.add_argument("--pushes-per-candle", type=int, default=4)
    p.add_argument("--start-index", type=int, default=300, help="candles of history served before the replay")
    p.add_argument("--accounts", help="JSON list of accounts [{api_key, secret, balance}]")
    p.add_argument("--faults", help="JSON object of fault switches to start with")


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
    if args.speed < 0:
        raise InputError(f"--speed {args.speed}: must be >= 0")
    candles = load_candles(resolve_data_path(args.data.removeprefix("csv:")))
    if len(candles) <= args.start_index + 1:
        raise InputError(f"--start-index {args.start_index}: the data has only {len(candles)} candles")
    config = SimConfig(
        port=args.port,
        interval=args.interval,
        speed=args.speed,
        pushes_per_candle=args.pushes_per_candle,
        start_index=args.start_index,
        accounts=_accounts(args.accounts),
    )
    exchange = SimExchange(config, {args.symbol.upper(): candles})
    if args.faults:
        try:
            exchange.faults.update(orjson.loads(Path(args.faults).read_bytes()))
        except FileNotFoundError:
            raise InputError(f"--faults: file {args.faults} not found") from None
        except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
            raise InputError(f"--faults {args.faults}: {exc}") from None
    return exchange


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
