"""Fault injection for the simulated exchange: switches a test, the CLI or the admin endpoint can set.

Every switch is a plain field; counters say how often each fault actually fired, so a test can prove its
fault happened. `FaultPlan.update(mapping)` applies a partial JSON object (the admin endpoint and the
`--faults FILE` option use it) and refuses unknown keys.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from laptop_agents.exchange.bitunix.sim.broken_candles import BROKEN_KINDS

DEDUPE_MODES = ("forever", "open", "window")
MALFORMED_KINDS = ("null", "list", "missing", "wrong_type", "empty_id")


@dataclass
class FaultPlan:
    # -- WebSocket ---------------------------------------------------------------------------------------
    drop_every_s: float = 0.0
    """Drop every WebSocket connection every N seconds (0 = never)."""
    silent: bool = False
    """Keep connections open but send nothing at all (no pushes, no pongs)."""
    skip_candles: int = 0
    """Send no pushes for the next N candles (the REST history still has them: a gap to backfill)."""
    skip_symbol: str = ""
    """Limit `skip_candles` to this symbol (empty: every symbol)."""
    duplicate_pushes: int = 0
    """Send each of the next N pushes twice."""
    reorder_pushes: int = 0
    """Hold back each of the next N pushes and send it after the following one."""
    late_trades: float = 0.0
    """Trades after the last push: a candle's last push carries the candle as it stood after this much
    less of its interval (0.25: three quarters of the way), not its final values; REST has the final ones."""
    drop_final_push_next: int = 0
    """Send no last push for the next N candles (per symbol push): the next candle's first push closes it."""
    malformed_frames: int = 0
    """Send N frames that are not JSON, then N frames with an unknown op, among the pushes."""
    invalid_ohlc_next: int = 0
    """Push the next N candles (from the next one on, every symbol) broken the `invalid_ohlc_kind` way, each
    push of them (the ledger still trades the true ones); REST lists them right unless `invalid_ohlc_rest`."""
    invalid_ohlc_kind: str = "high_below_low"
    """high_below_low, high_below_body, low_above_body, negative_price, nan_price or negative_volume."""
    invalid_ohlc_rest: bool = False
    """With `invalid_ohlc_next`: REST klines list those candles broken too, for good (added to `invalid_klines`)."""
    invalid_klines: list[list[int]] = field(default_factory=list)
    """REST klines list the candles opening in these `[from_ms, to_ms)` ranges broken the `invalid_ohlc_kind` way."""
    lose_candles: int = 0
    """The venue loses the next N candles (an outage in its own record): from the next candle on they are
    neither pushed nor listed by REST klines (their range is added to `missing_klines`), so no backfill can
    find them; the ledger still trades them."""
    max_connection_age_s: float = 0.0
    """Cut every WebSocket connection, abruptly, once it is this old (0 = never): a venue's fixed cutoff
    (Binance's 24 h; Bitunix documents none)."""
    shutdown_notice_s: float = 0.0
    """With `max_connection_age_s`: send `{"op":"serverShutdown","ts":...}` this long before the cut (0 = no
    notice; Bitunix documents none, Binance sends `serverShutdown`)."""
    # -- REST --------------------------------------------------------------------------------------------
    rate_limit_next: int = 0
    """Answer the next N REST requests with the rate-limit code 10006."""
    rate_limit_path: str = ""
    """Count only requests to a path ending with this for `rate_limit_next` ("/trade/place_order": the next
    N order sends); empty: every request."""
    rate_limit_until: float = 0.0
    """Answer every REST request with 10006 until this monotonic time (set via `rate_limit_for_s`)."""
    http_error_next: int = 0
    """Answer the next N REST requests with HTTP `http_error_status`."""
    http_error_status: int = 503
    """503 by default; 429 is a rate limit, 418 a ban (with `retry_after_s`, as venues send them)."""
    retry_after_s: float = 0.0
    """Send `Retry-After: N` with the `http_error_next` answers (0: no header)."""
    latency_ms: float = 0.0
    """Delay every REST answer and WebSocket push by this much."""
    slow_path: str = ""
    """Delay the REST requests whose path ends with this (e.g. `/position/get_pending_positions`) by
    `slow_path_ms` before they are answered: the answer is the state after the delay."""
    slow_path_ms: float = 0.0
    drop_order_response_next: int = 0
    """Accept the next N orders (they exist and fill) but cut the connection before answering."""
    insufficient_balance_next: int = 0
    """Reject the next N orders with 20003 insufficient balance."""
    echo_api_key: bool = False
    """Refusals name the request's API key in their message ("... (api-key K)"), as some venues' errors do:
    a secret the client must write nowhere, though it reaches it inside an exception's text."""
    refuse_order_next: int = 0
    """Refuse the next N orders with `refuse_order_code` (a definitive refusal: nothing is placed)."""
    refuse_order_code: int = 10002
    """The Bitunix code of those refusals (10002 parameter error by default); never 0."""
    partial_fill_parts: int = 0
    """Fill each of our orders (those with a client id) in this many parts (0 or 1: whole): the first part
    when it fills (at once for a market order, when the price trades through for a limit), one more on each
    following push, each its own execution; the order is PART_FILLED in between."""
    overfill_next: int = 0
    """The next N of our orders that open or add (those with a client id) fill twice their size: once
    filled, one more execution of the whole size follows, under its own trade id. A venue fault: the
    client must flag it, not book it, and let reconciliation take the venue's position."""
    fill_before_ack_next: int = 0
    """For the next N placements, send the order's private pushes (its fill included) before the REST
    answer, which comes `fill_before_ack_ms` later: the client hears of the fill before it has an order id."""
    fill_before_ack_ms: float = 300.0
    slippage_bps: float = 0.0
    """Our orders that take liquidity (those with a client id) fill this much worse than the touch: a thin
    book. The venue's own closes (TP/SL, liquidations) are not affected."""
    # -- Orders: the venue's behaviours that exactly-once must not rest on --------------------------------
    client_id_dedupe: str = "forever"
    """When a repeated `clientId` is refused (30042): "forever"; "open", only while the order with that id
    is open (a filled or cancelled one's id can be used again); "window", only within
    `client_id_dedupe_window_s` of that order's placement. Bitunix documents none of them."""
    client_id_dedupe_window_s: float = 60.0
    not_found_for_s: float = 0.0
    """Order lookups (`get_order_detail`, `get_pending_orders`) answer 20007 "order not found" for this long
    after a placement that succeeded: the venue's index lags (Bitunix calls 20007 transient)."""
    order_detail_error_next: int = 0
    """Answer the next N order lookups (`get_order_detail`) with HTTP 500."""
    malformed_reply_next: int = 0
    """Answer the next N successful requests to `malformed_reply_path` with code 0 but broken `data`,
    broken the `malformed_reply_kind` way (the request itself is carried out: an order is placed)."""
    malformed_reply_path: str = "/trade/place_order"
    malformed_reply_kind: str = "null"
    """null (`data` is null), list (the object inside a list), missing (its first field left out),
    wrong_type (every value inside a list), empty_id (`orderId` is "")."""
    missing_klines: list[list[int]] = field(default_factory=list)
    """REST klines leave out the candles opening in these `[from_ms, to_ms)` ranges, as a venue that lost
    them would (the replay still trades them): `la download` must report them as gaps, not fill them."""
    counts: dict[str, int] = field(default_factory=dict)

    def update(self, values: Mapping[str, Any]) -> None:
        known = {f.name for f in fields(self)} - {"counts", "rate_limit_until"}
        for key, value in values.items():
            if key == "rate_limit_for_s":
                self.rate_limit_until = time.monotonic() + float(value)
                continue
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known | {'rate_limit_for_s'}))}")
            current = getattr(self, key)
            if key == "client_id_dedupe" and value not in DEDUPE_MODES:
                raise ValueError(f"client_id_dedupe must be one of {', '.join(DEDUPE_MODES)}, not {value!r}")
            if key == "malformed_reply_kind" and value not in MALFORMED_KINDS:
                raise ValueError(f"malformed_reply_kind must be one of {', '.join(MALFORMED_KINDS)}, not {value!r}")
            if key in ("missing_klines", "invalid_klines"):
                value = _ranges(value, key)
            if key == "invalid_ohlc_kind" and value not in BROKEN_KINDS:
                raise ValueError(f"invalid_ohlc_kind must be one of {', '.join(BROKEN_KINDS)}, not {value!r}")
            if key == "refuse_order_code" and int(value) == 0:
                raise ValueError("refuse_order_code must be a Bitunix error code, not 0 (success)")
            setattr(self, key, type(current)(value))

    def take(self, name: str) -> bool:
        """Use one unit of a counted fault (`rate_limit_next`, ...); True when it fires."""
        left = getattr(self, name)
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        self.fired(name)
        return True

    def refusal_due(self) -> int | None:
        """The code to refuse this order with (`refuse_order_next`), or None to let it through."""
        return self.refuse_order_code if self.take("refuse_order_next") else None

    def fired(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def refuses_duplicate(self, open_: bool, placed_monotonic: float) -> bool:
        """Whether a new order repeating the client id of an earlier one (open or not, placed at that
        monotonic time) is refused with 30042."""
        mode = self.client_id_dedupe
        if mode == "open":
            refused = open_
        elif mode == "window":
            refused = time.monotonic() - placed_monotonic < self.client_id_dedupe_window_s
        else:
            refused = True
        if not refused:
            self.fired("client_id_reused")
        return refused

    def lookup_hidden(self, placed_monotonic: float) -> bool:
        """An order placed this recently is not found by lookups yet (`not_found_for_s`)."""
        if self.not_found_for_s and time.monotonic() - placed_monotonic < self.not_found_for_s:
            self.fired("not_found_for_s")
            return True
        return False

    def malform(self, path: str, data: Any) -> Any:
        """`data` broken as `malformed_reply_kind` when a malformed reply is due on `path`, else `data`."""
        if not path.endswith(self.malformed_reply_path) or not self.take("malformed_reply_next"):
            return data
        kind = self.malformed_reply_kind
        if kind == "null":
            return None
        if kind == "list":
            return [data]
        if not isinstance(data, dict):
            return None
        if kind == "missing":
            return dict(list(data.items())[1:])
        if kind == "wrong_type":
            return {k: [v] for k, v in data.items()}
        return {**data, "orderId": ""}

    def kline_missing(self, ts: int) -> bool:
        """Whether the candle opening at `ts` is one REST klines leave out (`missing_klines`)."""
        for start, end in self.missing_klines:
            if start <= ts < end:
                self.fired("missing_klines")
                return True
        return False

    def kline_broken(self, ts: int) -> bool:
        """Whether REST klines list the candle opening at `ts` broken (`invalid_klines`)."""
        for start, end in self.invalid_klines:
            if start <= ts < end:
                self.fired("invalid_klines")
                return True
        return False

    def rate_limited_now(self) -> bool:
        if time.monotonic() < self.rate_limit_until:
            self.fired("rate_limit_for_s")
            return True
        return False

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _ranges(value: Any, key: str = "missing_klines") -> list[list[int]]:
    try:
        ranges = [[int(start), int(end)] for start, end in value]
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a list of [from_ms, to_ms] pairs, not {value!r}") from None
    return ranges
