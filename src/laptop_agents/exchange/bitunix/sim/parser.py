"""`la sim-exchange`'s command line, apart from the command so that building `la`'s parser imports nothing
heavy (orjson, the candle module, the server)."""

from __future__ import annotations

import argparse
from typing import Any

from laptop_agents.core.intervals import INTERVAL_MS

DESCRIPTION = """\
`la sim-exchange`: run the simulated Bitunix exchange on 127.0.0.1 until stopped (Ctrl-C or SIGTERM).

It binds to loopback only. Accounts come from `--accounts FILE` (a JSON list of
{"api_key", "secret", "balance"}); without it there is one demo account, api key `sim-key`, secret
`sim-secret`, 10,000 USDT. `--faults FILE` holds a JSON object of fault switches (see `faults.py`); the
same switches can be changed live with `POST /admin/faults`.
"""
DEFAULT_DATA = "data/ftx_btc-perp_1m_2022-01.csv"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sim-exchange",
        help="run the simulated Bitunix exchange on 127.0.0.1",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=0, help="TCP port (0 = a free one; the URLs are printed)")
    p.add_argument(
        "--data",
        default=DEFAULT_DATA,
        help="candle CSV to replay (ts,open,high,low,close,volume), e.g. a file `la download` wrote",
    )
    p.add_argument("--symbol", help="the symbol it is served as (default: the download's, else BTCUSDT)")
    p.add_argument(
        "--interval",
        choices=[k for k in INTERVAL_MS if k != "3m"],
        help="the candles' interval (default: the download's, else the file's step between rows)",
    )
    p.add_argument(
        "--funding",
        help="a 'ts,rate' funding history to serve and charge (default: NAME.funding.csv beside a downloaded "
        "--data, else 0.01 %% every 8 h)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=600.0,
        help="market time per wall time (600: a 1m candle every 100 ms; 0: step with POST /admin/advance)",
    )
    p.add_argument("--pushes-per-candle", type=int, default=4)
    p.add_argument("--start-index", type=int, default=300, help="candles of history served before the replay")
    p.add_argument(
        "--rest-rate",
        type=int,
        default=10,
        help="REST requests a second per key or address before the rate-limit code 10006 (Bitunix's 10)",
    )
    p.add_argument("--accounts", help="JSON list of accounts [{api_key, secret, balance}]")
    p.add_argument("--faults", help="JSON object of fault switches to start with")
