"""Configuration models: one frozen pydantic model per component, composed by `Settings`.

Units are in field names or descriptions: `_pct` is percent (1.0 = 1 %), `_bps` basis points, `_s`
seconds, `_ms` milliseconds; prices in quote currency (USDT), quantities in base (BTC).
Secrets never live here: the exchange section names the environment variables that hold them.
"""

import itertools
import math
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from laptop_agents.core.candle import INTERVAL_MS
from laptop_agents.core.errors import InputError
from laptop_agents.core.timespec import parse_instant

Mode = Literal["backtest", "live-paper", "live-exchange", "validate", "selftest", "single"]
MODES: tuple[str, ...] = ("backtest", "live-paper", "live-exchange", "validate", "selftest")


class _Section(BaseModel):
    # No NaN or infinity (config.json would save them as null), no integer past 64 bits (orjson cannot save it)
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _fits_config_json(cls, value: Any) -> Any:
        if isinstance(value, int) and not -(2**63) <= value < 2**64:
            raise ValueError("too large: at most a 64-bit integer")
        return value


class RunConfig(_Section):
    mode: Mode = Field("backtest", description="what to run")
    run_id: str | None = Field(
        None, description="run folder name; default: UTC start time, mode and a short random suffix"
    )
    runs_dir: str = Field("runs", description="folder that holds one sub-folder per run")
    seed: int = Field(42, ge=0, description="seed for every random choice (mock data, ids)")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", description="auto: console on a terminal, JSON lines otherwise"
    )
    duration_s: float | None = Field(None, gt=0, description="live modes: stop after this many seconds")
    report_recent_events: int = Field(
        50,
        ge=0,
        le=10_000,
        description="event groups listed in summary.html (repeats grouped; breaker, kill "
        "switch, errors and resumes listed apart)",
    )
    report_max_trades: int = Field(
        500, ge=0, le=100_000, description="trades listed in summary.html, each with its candles in the trade pane"
    )
    compress_over_mb: float | None = Field(
        8.0,
        ge=0,
        description="backtest: equity.csv and events.jsonl larger than this are gzipped when the run "
        "ends (NAME.gz; pandas and zcat read them); null keeps them plain",
    )
    heartbeat_interval_s: float = Field(5.0, gt=0, le=3_600, description="live: heartbeat.json is rewritten this often")
    checkpoint_interval_s: float = Field(30.0, gt=0, le=86_400, description="live: state.json at least this often")

    @field_validator("run_id")
    @classmethod
    def _safe_run_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 100 characters)")
        return value


class DataConfig(_Section):
    source: str = Field(
        "csv:data/ftx_btc-perp_1m_2022-01.csv",
        description="'csv:PATH' (columns ts,open,high,low,close,volume; ts = open time, epoch ms) or 'mock'",
    )
    mark_source: str | None = Field(
        None,
        description="backtest: 'csv:PATH' of mark-price candles (same columns); stops, targets, liquidations and "
        "funding then go by the mark, as on the venue; none = by the last price",
    )
    symbol: str = Field("BTCUSDT", min_length=1, max_length=40, description="the symbol a run trades")
    symbols: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="live-paper: several symbols in one session and one account (replaces `symbol`)",
    )
    interval: str = Field("1m", description="candle interval: " + ", ".join(INTERVAL_MS))
    sort: bool = Field(False, description="load the whole file, sort it and drop exact duplicates before the run")
    start: str | None = Field(
        None,
        description="backtest, validate: only candles opening at or after this UTC time (2024-01-01, 20240101, "
        "2024-01-01T12:30 or epoch ms); --timerange START-END sets start and end",
    )
    end: str | None = Field(None, description="backtest, validate: only candles opening before this UTC time")
    mock_candles: int = Field(10_000, ge=1, le=100_000_000, description="candles the mock source makes")
    mock_start_price: float = Field(30_000.0, gt=0, description="first mock price, quote currency")
    mock_volatility_bps: float = Field(
        20.0, gt=0, le=2_000, description="standard deviation of one mock candle's return, basis points"
    )
    mock_start_ts: int = Field(1_640_995_200_000, ge=0, description="first mock open time, epoch ms")
    stale_after_intervals: float = Field(
        3.0, gt=1, le=1_000, description="live: no closed candle for this many intervals = stale data"
    )
    stale_after_s: float | None = Field(
        None, gt=0, description="live: stale-data threshold in seconds; overrides stale_after_intervals when set"
    )

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value == "mock" or (value.startswith("csv:") and len(value) > 4):
            return value
        raise ValueError("use 'csv:PATH' or 'mock'")

    @field_validator("mark_source")
    @classmethod
    def _csv_marks(cls, value: str | None) -> str | None:
        if value is None or (value.startswith("csv:") and len(value) > 4):
            return value
        raise ValueError("use 'csv:PATH' (mark-price candles: ts,open,high,low,close,volume) or null")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _digits_as_text(cls, value: Any) -> Any:
        """`--set data.start=20240101` and epoch ms arrive as numbers: they are the same instants as text."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("start", "end")
    @classmethod
    def _instant(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_instant(value, field="")
            except InputError:
                raise ValueError(
                    "use a UTC date like 2024-01-01 or 20240101, a time like 2024-01-01T12:30, or epoch ms"
                ) from None
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> "DataConfig":
        if self.start_ms is not None and self.end_ms is not None and self.start_ms >= self.end_ms:
            raise ValueError(f"data.start ({self.start}) must be before data.end ({self.end})")
        return self

    @property
    def start_ms(self) -> int | None:
        return None if self.start is None else parse_instant(self.start, field="data.start")

    @property
    def end_ms(self) -> int | None:
        return None if self.end is None else parse_instant(self.end, field="data.end")

    @field_validator("interval")
    @classmethod
    def _known_interval(cls, value: str) -> str:
        if value not in INTERVAL_MS:
            raise ValueError("allowed: " + ", ".join(INTERVAL_MS))
        return value

    @field_validator("symbols", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """`--set data.symbols=BTCUSDT,ETHUSDT` and `LA_DATA__SYMBOLS=BTCUSDT,ETHUSDT` work as lists."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("symbols")
    @classmethod
    def _distinct_symbols(cls, value: list[str]) -> list[str]:
        tags: dict[str, str] = {}
        for symbol in value:
            if not re.fullmatch(r"[A-Z0-9]{2,40}", symbol):
                raise ValueError(f"{symbol!r}: use upper-case exchange symbols such as BTCUSDT")
            tag = symbol.lower()[:11]
            if tag in tags:
                raise ValueError(f"{tags[tag]!r} and {symbol!r} are the same symbol to the order ids; list each once")
            tags[tag] = symbol
        return value

    @property
    def trading_symbols(self) -> tuple[str, ...]:
        """The symbols a run trades: `symbols` when given, else `symbol`."""
        return tuple(self.symbols) if self.symbols else (self.symbol,)


BUILTIN_STRATEGIES = ("sma_atr", "supervisor")


class StrategyConfig(_Section):
    name: str = Field(
        "sma_atr",
        description="a built-in (sma_atr, supervisor), a parameter file config/strategies/NAME.json (its name), "
        "or your own class as 'package.module:ClassName'",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="the supervisor's parameters (docs/STRATEGIES.md), or those handed to your own class; "
        "over a parameter file they override single keys; sma_atr uses the fields below",
    )
    fast_sma: int = Field(10, ge=1, le=10_000, description="fast SMA of close, candles")
    slow_sma: int = Field(30, ge=2, le=10_000, description="slow SMA of close, candles")
    atr_period: int = Field(14, ge=1, le=10_000, description="Wilder ATR period, candles")
    min_atr_pct: float = Field(
        0.05, ge=0, le=100, description="no entry when ATR / close × 100 is below this (percent)"
    )
    stop_atr_mult: float = Field(1.5, gt=0, le=100, description="stop distance = this × ATR")
    tp_r: float = Field(2.0, gt=0, le=100, description="target distance = this × R (R = |entry − stop|)")
    trail_enabled: bool = Field(False, description="trail the stop once the trade is in profit")
    trail_activation_r: float = Field(
        1.0, ge=0, le=100, description="start trailing once the close is this many R in favour"
    )
    trail_distance_r: float = Field(1.0, gt=0, le=100, description="trail this many R behind the best close")

    @field_validator("name")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value in BUILTIN_STRATEGIES:
            return value
        module, sep, attr = value.partition(":")
        if sep and re.fullmatch(r"[A-Za-z_][\w.]*", module) and attr.isidentifier():
            return value
        if not sep and re.fullmatch(r"[A-Za-z0-9][\w-]{0,99}", value):
            return value  # a parameter file's name; the registry checks that config/strategies/ has it
        raise ValueError(
            f"use a built-in ({', '.join(BUILTIN_STRATEGIES)}), a config/strategies/ name or 'package.module:ClassName'"
        )

    @model_validator(mode="after")
    def _fast_below_slow(self) -> "StrategyConfig":
        if self.fast_sma >= self.slow_sma:
            raise ValueError(
                f"strategy.fast_sma ({self.fast_sma}) must be smaller than strategy.slow_sma ({self.slow_sma})"
            )
        return self


class RiskConfig(_Section):
    risk_pct: float = Field(1.0, gt=0, le=100, description="equity risked per trade, percent (1.0 = 1 %)")
    max_leverage: float = Field(5.0, gt=0, le=125, description="position notional at most equity × this")
    lot_step: float = Field(0.001, gt=0, description="quantity step, base currency; qty is floored to it")
    min_notional: float = Field(5.0, ge=0, description="smallest order notional, quote currency")
    max_notional: float | None = Field(
        None, gt=0, description="largest position notional, quote currency; null = only max_leverage caps it"
    )
    rr_min: float = Field(
        1.0, ge=0, le=100, description="entries with reward/risk below this are rejected (rr_below_min); 0 = off"
    )
    cancel_resting_on_halt: bool = Field(
        True, description="cancel resting entries while the breaker is tripped or entries are halted"
    )


class PositionTier(_Section):
    """One risk-limit tier, as `/position/get_position_tiers` gives them (endValue, maintenanceMarginRate,
    leverage)."""

    max_notional: float = Field(gt=0, description="positions up to this notional, quote currency")
    maintenance_rate: float = Field(gt=0, lt=1, description="maintenance margin as a fraction of the notional")
    max_leverage: int = Field(ge=1, le=125, description="the highest leverage this tier allows")


DEFAULT_POSITION_TIERS = (
    PositionTier(max_notional=200_000.0, maintenance_rate=0.004, max_leverage=125),
    PositionTier(max_notional=1_000_000.0, maintenance_rate=0.005, max_leverage=100),
    PositionTier(max_notional=5_000_000.0, maintenance_rate=0.01, max_leverage=50),
    PositionTier(max_notional=20_000_000.0, maintenance_rate=0.025, max_leverage=25),
    PositionTier(max_notional=50_000_000.0, maintenance_rate=0.05, max_leverage=10),
)


def _ascending_tiers(tiers: tuple[PositionTier, ...]) -> tuple[PositionTier, ...]:
    if not tiers:
        raise ValueError("give at least one tier")
    if any(b.max_notional <= a.max_notional for a, b in itertools.pairwise(tiers)):
        raise ValueError("tiers must be in ascending order of max_notional")
    return tiers


class SymbolBrokerConfig(_Section):
    """One symbol's own fees and tiers; a field left out (none) is the broker section's."""

    taker_fee_bps: float | None = Field(None, ge=0, le=1_000)
    maker_fee_bps: float | None = Field(None, ge=-100, le=1_000)
    liquidation_fee_bps: float | None = Field(None, ge=0, le=1_000)
    position_tiers: tuple[PositionTier, ...] | None = None

    @field_validator("position_tiers")
    @classmethod
    def _ascending(cls, tiers: tuple[PositionTier, ...] | None) -> tuple[PositionTier, ...] | None:
        return None if tiers is None else _ascending_tiers(tiers)


class BrokerConfig(_Section):
    starting_balance: float = Field(10_000.0, gt=0, description="cash at the start, quote currency")
    half_spread_bps: float = Field(5.0, ge=0, le=1_000, description="market orders cross half the spread")
    slippage_bps: float = Field(1.0, ge=0, le=1_000, description="added to market and stop fills")
    taker_fee_bps: float = Field(
        6.0, ge=0, le=1_000, description="fee on market, stop and trigger fills (Bitunix's default: 0.06 %)"
    )
    maker_fee_bps: float = Field(
        2.0, ge=-100, le=1_000, description="fee on resting limit and target fills (Bitunix's default: 0.02 %)"
    )
    margin_mode: Literal["isolated", "off"] = Field(
        "isolated",
        description="isolated: each position holds notional / exchange.leverage as margin and is liquidated "
        "where that margin plus its loss is its maintenance margin; off: no margin, no liquidation",
    )
    liquidation_fee_bps: float = Field(6.0, ge=0, le=1_000, description="fee on a liquidation's close")
    position_tiers: tuple[PositionTier, ...] = Field(
        DEFAULT_POSITION_TIERS,
        min_length=1,
        description="risk-limit tiers for the maintenance margin (default: the simulated exchange's BTCUSDT "
        "tiers; take yours from the venue's /position/get_position_tiers)",
    )
    symbols: dict[str, SymbolBrokerConfig] = Field(
        default_factory=dict, description='per-symbol fees and tiers, e.g. {"ETHUSDT": {"taker_fee_bps": 5}}'
    )

    @field_validator("position_tiers")
    @classmethod
    def _ascending(cls, tiers: tuple[PositionTier, ...]) -> tuple[PositionTier, ...]:
        return _ascending_tiers(tiers)

    funding_rate: float = Field(
        0.0, ge=-0.05, le=0.05, description="funding per 8 h as a fraction (0.0001 = 0.01 %); longs pay > 0"
    )
    funding_csv: str | None = Field(
        None,
        description="the venue's funding record, CSV 'ts,rate' (rate a fraction, as `la download --funding` "
        "writes it): funding is exchanged at each row's time at its rate; overrides funding_rate",
    )


class CircuitBreakerConfig(_Section):
    enabled: bool = True
    max_drawdown_pct: float = Field(10.0, gt=0, le=100, description="trip at this drawdown from the peak")
    max_consecutive_losses: int = Field(5, ge=1, le=1_000, description="trip after this many losing trades")
    reset_after_bars: int = Field(0, ge=0, description="re-arm after this many candles; 0 = never")


BITUNIX_REST_URL = "https://fapi.bitunix.com"
BITUNIX_WS_PUBLIC_URL = "wss://fapi.bitunix.com/public/"
BITUNIX_WS_PRIVATE_URL = "wss://fapi.bitunix.com/private/"


def _url(value: str | None, schemes: tuple[str, ...], example: str) -> str | None:
    """A URL the clients can use, refused at config time rather than at the first request."""
    if value is None:
        return None
    parsed = urlsplit(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise ValueError(
            f"{value!r} must start with {' or '.join(f'{x}://' for x in schemes)} and name a host, e.g. {example}"
        )
    try:
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{value!r} has a port that is not a number, e.g. {example}") from None
    return value


class ExchangeConfig(_Section):
    name: Literal["bitunix"] = "bitunix"
    rest_url: str | None = Field(
        None,
        description="REST base URL; none = the embedded simulated exchange (live-paper) or "
        f"{BITUNIX_REST_URL} (live-exchange)",
    )
    ws_public_url: str | None = Field(None, description=f"public WebSocket URL; live-exchange: {BITUNIX_WS_PUBLIC_URL}")
    ccxt_id: str | None = Field(
        None,
        description="live-paper: trade on paper on another venue's candles through CCXT (its id, e.g. binanceusdm; "
        "the ccxt extra), polled over its REST API; exchange.rest_url then points that API elsewhere",
    )
    ccxt_poll_s: float | None = Field(
        None, gt=0, le=300, description="with ccxt_id: seconds between polls; none = a sixth of the interval, 1-15 s"
    )
    ws_private_url: str | None = Field(
        None, description=f"private WebSocket URL; live-exchange: {BITUNIX_WS_PRIVATE_URL}"
    )
    leverage: int | None = Field(
        None,
        ge=1,
        le=125,
        description="leverage set on each symbol (live-exchange) and the paper broker's isolated margin; "
        "none = ceil(risk.max_leverage / 0.95), so an entry at the sizing cap fits",
    )

    @field_validator("rest_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return _url(value, ("http", "https"), "http://127.0.0.1:18777 or https://fapi.bitunix.com")

    @field_validator("ccxt_id")
    @classmethod
    def _ccxt_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9_]{2,40}", value):
            raise ValueError("a CCXT exchange id in lower case, e.g. binanceusdm, bybit, okx")
        return value

    @field_validator("ws_public_url", "ws_private_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        return _url(value, ("ws", "wss"), "ws://127.0.0.1:18777/public/ or wss://fapi.bitunix.com/public/")

    margin_mode: Literal["ISOLATION", "CROSS"] = Field(
        "ISOLATION", description="live-exchange: margin mode set on each symbol"
    )
    max_clock_offset_ms: int = Field(
        5_000, ge=100, le=60_000, description="live-exchange: refuse to start when the server clock is further off"
    )
    api_key_env: str = Field("BITUNIX_API_KEY", description="environment variable that holds the API key")
    api_secret_env: str = Field("BITUNIX_API_SECRET", description="environment variable with the secret")
    credentials_file_env: str = Field(
        "BITUNIX_CREDENTIALS_FILE", description="environment variable naming a 0600 file with key and secret"
    )
    rate_limit_per_s: float = Field(
        7.0,
        gt=0,
        le=1_000,
        description="requests per second, shared by REST and WebSocket control messages; with the burst at most "
        "rate + burst in any second (default 9, under Bitunix's 10/s per key, so a restart's calls fit too)",
    )
    rate_limit_burst: int = Field(2, ge=1, le=1_000, description="requests allowed at once")
    request_timeout_s: float = Field(10.0, gt=0, le=300)
    ws_ping_interval_s: float = Field(
        5.0, gt=0, le=60, description="JSON ping period; 3 periods without any message = a dead socket"
    )
    ws_max_connection_age_s: float = Field(
        82_800.0,
        ge=0,
        le=86_400,
        description="a WebSocket this old (monotonic clock) is replaced before a venue's 24 h cutoff: a second "
        "connection does the handshake, takes over once both streams overlap, and the first is closed, with no "
        "gap (a shutdown notice does the same at once); 0 = never",
    )
    funding_poll_s: float = Field(
        60.0, ge=1, le=3_600, description="live modes: how often the strategies' funding rate is read, seconds"
    )
    funding_max_age_s: float = Field(
        900.0, ge=1, le=86_400, description="live modes: an older funding answer counts as unknown (funding_missing)"
    )
    sim_data: str = Field(
        "csv:data/ftx_btc-perp_1m_2022-01.csv", description="embedded simulated exchange: candles it replays"
    )
    sim_data_by_symbol: dict[str, str] = Field(
        default_factory=dict,
        description="embedded simulated exchange: 'csv:PATH' per symbol; symbols not listed replay sim_data",
    )

    @field_validator("sim_data_by_symbol")
    @classmethod
    def _csv_per_symbol(cls, value: dict[str, str]) -> dict[str, str]:
        for symbol, source in value.items():
            if not source.startswith("csv:") or len(source) < 5:
                raise ValueError(f"{symbol}: use 'csv:PATH', not {source!r}")
        return value

    @model_validator(mode="after")
    def _funding_age_covers_a_poll(self) -> "ExchangeConfig":
        if self.funding_max_age_s < self.funding_poll_s:
            raise ValueError(
                f"exchange.funding_max_age_s ({self.funding_max_age_s:g}) must be at least exchange.funding_poll_s "
                f"({self.funding_poll_s:g}), or every answer would age out before the next one"
            )
        return self

    sim_speed: float = Field(600.0, gt=0, le=1_000_000, description="embedded simulated exchange: replay speed")
    sim_start_index: int = Field(300, ge=1, description="embedded simulated exchange: candles of history served")
    confirm_candles: Literal["auto", "on", "off"] = Field(
        "auto",
        description="replace each candle the public socket closes by its REST kline before a strategy sees it "
        "(trades land after a candle's last push); auto = in live-exchange only",
    )


class LiveConfig(_Section):
    """live-exchange: hard limits checked before every order, and how unknown orders are resolved."""

    max_order_notional: float = Field(5_000.0, gt=0, description="largest notional of one order, quote currency")
    max_position_notional: float = Field(
        10_000.0, gt=0, description="largest open notional per symbol (at entry price), quote currency"
    )
    max_daily_loss: float = Field(
        500.0, gt=0, description="no new entries once today's (UTC) net realized loss reaches this, quote currency"
    )
    max_daily_loss_pct: float = Field(
        5.0, gt=0, le=100, description="no new entries once today's net realized loss reaches this % of equity"
    )
    max_orders_per_minute: int = Field(10, ge=1, le=1_000, description="orders sent in any 60 s, all symbols")
    max_decision_age_s: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description="an entry decided on a candle that closed longer ago than this (on the exchange's clock) is "
        "refused as stale_decision; exits still go out; null = one candle interval",
    )
    unknown_window_s: float = Field(
        30.0, gt=0, le=3_600, description="an UNKNOWN order is looked up by client id this long before NOT_FOUND"
    )
    lookup_interval_s: float = Field(1.0, gt=0, le=60, description="between lookups of an UNKNOWN order")
    resend_window_s: float = Field(
        60.0,
        ge=0,
        le=3_600,
        description="after a restart, an order journaled but never sent (INTENT) and younger than this is sent "
        "with its client id; a SENT one is always looked up first, never sent again",
    )
    poll_interval_s: float = Field(
        2.0, gt=0, le=300, description="REST polling of orders, trades and positions while the private socket is down"
    )
    stream_poll_interval_s: float = Field(
        15.0, gt=0, le=3_600, description="REST polling while the private socket is up (it backs up the pushes)"
    )
    contract_refresh_s: float = Field(
        3_600.0,
        gt=0,
        le=86_400,
        description="the contracts' rules (tick, lot, min and max qty, max leverage) are read again this often "
        "(monotonic clock), and at once after the exchange refuses an order for one of them",
    )
    refusal_backoff_s: float = Field(
        300.0,
        gt=0,
        le=3_600,
        description="after the exchange refuses an entry for margin (20003), or a second time in a row for a "
        "filter its contract read again does not explain, that symbol's entries wait this long (twice as long for "
        "each further such refusal in a row, at most an hour); a margin wait ends sooner once the exchange's "
        "available margin grew enough",
    )
    flatten_on_stop: bool = Field(False, description="on stop, close open positions with reduce-only market orders")
    shutdown_timeout_s: float = Field(
        8.0,
        gt=0,
        le=600,
        description="a stop waits at most this long for the send in flight, cancels and closes to be answered; "
        "what is still unknown then is looked up after a restart (keep it under the service's stop timeout)",
    )
    acknowledged_external: list[str] = Field(
        default_factory=list, description="symbols whose adopted (external) position the operator acknowledged"
    )

    @field_validator("acknowledged_external", mode="before")
    @classmethod
    def _comma_symbols(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip().upper() for s in value.split(",") if s.strip()]
        return value


class ValidateConfig(_Section):
    grid: str = Field(
        "fast_sma=5,10,20;slow_sma=30,50;stop_atr_mult=1,1.5,2;tp_r=1.5,2,3",
        description="validate: 'key=v1,v2;key2=...' over strategy parameters (sma_atr fields or strategy.params "
        "keys; 'section.key' for any setting); every combination is a candidate",
    )
    train: int = Field(10_000, ge=10, description="validate: candles in each training window")
    test: int = Field(5_000, ge=10, description="validate: candles in each out-of-sample window (and the slide)")
    jobs: int | None = Field(None, ge=1, le=256, description="validate: parallel processes; null = the machine's cores")
    scheduler: str | None = Field(
        None,
        description="validate: a Dask scheduler, tcp://HOST:8786, whose workers run the candidates instead of "
        "local processes (the distributed extra; docs/STRATEGIES.md); null = this machine",
    )

    @field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"(tcp|tls|inproc|ucx)://\S+", value):
            raise ValueError("a Dask scheduler address such as tcp://10.0.0.5:8786")
        return value

    max_candidates: int | None = Field(
        None, ge=1, description="validate: thin a larger grid to this many candidates (a seeded, sorted sample)"
    )
    objective: Literal["pnl_minus_dd", "net_pnl", "return_over_dd"] = Field(
        "pnl_minus_dd", description="validate: net PnL minus dd_penalty × max drawdown (quote), net PnL, or return/DD"
    )
    dd_penalty: float = Field(1.0, ge=0, le=100, description="validate: weight of the drawdown in pnl_minus_dd")


class DashboardConfig(_Section):
    enabled: bool = Field(False, description="serve the run's dashboard, its JSON API and /metrics (or --dashboard)")
    host: str = Field("127.0.0.1", description="bind address; anything but loopback needs a token")
    port: int = Field(8765, ge=0, le=65_535, description="0 = a free port (the heartbeat's dashboard.url says which)")
    token: SecretStr | None = Field(
        None, description="bearer token: from the environment only (LA_DASHBOARD__TOKEN), never a config file"
    )
    token_file: str | None = Field(None, description="a file holding the token, readable by its owner only (0600)")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="names the Host header may carry besides the bound address (a proxy's)"
    )


class MetricsConfig(_Section):
    enabled: bool = Field(False, description="serve Prometheus /metrics on its own port when the dashboard is off")
    host: str = Field("127.0.0.1", description="bind address of the metrics port (scraped without a token)")
    port: int = Field(9464, ge=0, le=65_535)


class AlertsConfig(_Section):
    urls: list[str] = Field(
        default_factory=list,
        description="Apprise URLs (json://, tgram://, discord://, ntfy://, mailto://...); write secrets as ${VAR}, "
        "read from the environment when the session starts",
    )
    fills: bool = Field(True, description="send a message for every fill")
    window_s: float = Field(900.0, ge=0, description="the same condition pages at most once in this window")
    max_per_hour: int = Field(30, ge=1, description="messages per hour at most; the rest are counted, not sent")
    unknown_order_after_s: float = Field(60.0, gt=0, description="alert on an order UNKNOWN for longer than this")
    reconnect_storm: int = Field(5, ge=2, description="this many reconnects within window_s is a reconnect storm")
    daily_summary: bool = Field(True, description="a summary of the UTC day, sent after midnight UTC")
    timeout_s: float = Field(10.0, gt=0, le=120, description="one delivery's connect and read timeout")

    @field_validator("urls", mode="before")
    @classmethod
    def _comma_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [u.strip() for u in value.split(",") if u.strip()]
        return value


class Settings(_Section):
    """The whole effective configuration."""

    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    strategy: StrategyConfig = StrategyConfig()
    risk: RiskConfig = RiskConfig()
    broker: BrokerConfig = BrokerConfig()
    circuit_breaker: CircuitBreakerConfig = CircuitBreakerConfig()
    exchange: ExchangeConfig = ExchangeConfig()
    live: LiveConfig = LiveConfig()
    validation: ValidateConfig = ValidateConfig()
    dashboard: DashboardConfig = DashboardConfig()
    metrics: MetricsConfig = MetricsConfig()
    alerts: AlertsConfig = AlertsConfig()

    @model_validator(mode="after")
    def _one_symbol_unless_live(self) -> "Settings":
        if len(self.data.symbols) > 1 and self.run.mode not in ("live-paper", "live-exchange"):
            raise ValueError(
                f"data.symbols lists {len(self.data.symbols)} symbols, but {self.run.mode} trades one: "
                "set data.symbol (several symbols are for live sessions)"
            )
        if self.exchange.ccxt_id is not None and self.run.mode != "live-paper":
            raise ValueError(
                f"exchange.ccxt_id is for live-paper (paper trading on another venue's candles), not {self.run.mode}: "
                "remove it (real orders go to Bitunix only; a backtest reads a file: la download --exchange)"
            )
        if (self.data.start or self.data.end) and self.run.mode not in ("backtest", "validate"):
            raise ValueError(
                f"data.start and data.end choose a backtest's or validate's candles, not {self.run.mode}'s: "
                "remove them (or --timerange)"
            )
        if self.data.mark_source is not None and self.run.mode not in ("backtest", "selftest"):
            raise ValueError(
                f"data.mark_source is read by backtests only, not by {self.run.mode}: remove it (live sessions "
                "and validate go by the last price)"
            )
        return self


MARGIN_USE = 0.95
"""At most this share of equity goes to initial margin: the rest pays fees and absorbs the spread."""


def effective_leverage(settings: Settings) -> int:
    """The leverage of every symbol: `exchange.leverage`, else enough for what sizing may use
    (`risk.max_leverage`) to need at most `MARGIN_USE` of equity as margin. The live-exchange preflight sets
    it on the venue and the paper broker margins positions at it, so the two agree."""
    return settings.exchange.leverage or default_leverage(settings.risk.max_leverage)


def default_leverage(max_leverage: float) -> int:
    """The leverage at which a position at the sizing cap needs `MARGIN_USE` of equity as margin, rounded up,
    and at most 125x (Bitunix's highest)."""
    return min(125, max(1, math.ceil(max_leverage / MARGIN_USE - 1e-9)))
