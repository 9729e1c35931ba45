"""`la download` and `la data` on the command line, apart from the commands so that building `la`'s parser
imports nothing heavy."""

from __future__ import annotations

from typing import Any


def add_parsers(sub: Any) -> None:
    down = sub.add_parser(
        "download",
        help="download a venue's candles (and funding) into data/EXCHANGE/SYMBOL-INTERVAL.csv; resumable",
        description="Download candle history into our CSV format (open time ms, ascending, no duplicates). "
        "Run it again to add only what is missing: newer candles, or older ones with an earlier --since; an "
        "interrupted download continues where it stopped. Gaps the venue did not fill are listed in "
        "NAME.gaps.json, never filled in.",
    )
    down.add_argument(
        "--exchange",
        default="bitunix",
        help="bitunix (default), or any CCXT exchange id, e.g. binanceusdm (pip install 'laptop-agents[ccxt]')",
    )
    down.add_argument("--symbol", required=True, help="the venue's symbol, e.g. BTCUSDT")
    down.add_argument("--interval", default="1m", help="candle interval, e.g. 1m, 15m, 1h, 1d (default 1m)")
    down.add_argument(
        "--since",
        help="first UTC time, e.g. 2024-01-01 (default: the file's first candle: a second run adds newer ones)",
    )
    down.add_argument("--until", help="UTC time to stop before (default: the newest closed candle)")
    down.add_argument("--out", help="the CSV to write or extend (default data/EXCHANGE/SYMBOL-INTERVAL.csv)")
    down.add_argument("--funding", action="store_true", help="also the funding history, into NAME.funding.csv")
    down.add_argument(
        "--rest-url", help="the venue's REST base URL (default: the venue's own, e.g. https://fapi.bitunix.com)"
    )
    down.add_argument(
        "--rate", type=float, help="requests per second (default: 9 on Bitunix, which allows 10; CCXT's own limit)"
    )
    data = sub.add_parser("data", help="the candle files you have: symbol, interval, first/last, rows, gaps")
    actions = data.add_subparsers(dest="action", required=True, metavar="{list}")
    listing = actions.add_parser("list", help="every candle CSV under a folder (default: data)")
    listing.add_argument("folder", nargs="?", default="data", help="the folder to look in (default: data)")
