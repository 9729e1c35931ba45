"""Find the strategy a config names, and build it.

`strategy.name` is one of:
- a built-in: `sma_atr` (its parameters are the `strategy.*` fields) or `supervisor` (its parameters are
  `strategy.params`, validated as `SupervisorParams`);
- a parameter file `config/strategies/NAME.json`, `{"strategy": "supervisor", "description": ...,
  "params": {...}}`; `strategy.params` given as well override single keys of the file's;
- the user's own class as 'package.module:ClassName', built as `Cls(params, *, emit, symbol)` (plus
  `funding=` when its `reads_funding` is true). It provides the whole `Strategy` protocol, best by
  subclassing `BaseStrategy` (no-op hooks) and writing `name`, `on_candle(candle, position) -> intents`,
  `warmup_candles()`, `state()` and `restore(state)`. Its module is imported from the current folder or
  anywhere on `sys.path` (docs/STRATEGIES.md).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from laptop_agents.config.loader import find_config_dir
from laptop_agents.config.models import BUILTIN_STRATEGIES, StrategyConfig
from laptop_agents.core.errors import ConfigError
from laptop_agents.core.events import Event
from laptop_agents.strategy.base import HOOKS, Strategy
from laptop_agents.strategy.sma_atr import SmaAtrStrategy

if TYPE_CHECKING:  # the supervisor's modules are imported when a run uses it
    from laptop_agents.strategy.supervisor import SupervisorParams
    from laptop_agents.strategy.supervisor.flows import FundingSource

BUILT_IN = BUILTIN_STRATEGIES


def build_strategy(
    config: StrategyConfig,
    *,
    emit: Callable[[Event], None],
    symbol: str,
    funding: FundingSource | None = None,
) -> Strategy:
    """The strategy `config` names, for `symbol`. `funding` feeds strategies that read the funding rate."""
    config = resolve(config)
    if config.name == "sma_atr":
        return SmaAtrStrategy(config, emit=emit, symbol=symbol)
    if config.name == "supervisor":
        from laptop_agents.strategy.supervisor import Supervisor

        return Supervisor(supervisor_params(config), emit=emit, symbol=symbol, funding=funding)
    cls = load_class(config.name)
    kwargs: dict[str, Any] = {"emit": emit, "symbol": symbol}
    if _reads_funding(cls):
        kwargs["funding"] = funding
    try:
        strategy = cls(config.params, **kwargs)
    except Exception as exc:  # the user's constructor: any failure is reported as bad input
        raise ConfigError(
            [f"strategy.name = {config.name!r}: building it with strategy.params failed ({type(exc).__name__}: {exc})"]
        ) from exc
    missing = [m for m in HOOKS if not callable(getattr(strategy, m, None))]
    if missing or not isinstance(getattr(strategy, "name", None), str):
        lacking = ", ".join(missing) or "a `name` string"
        raise ConfigError(
            [
                f"strategy.name = {config.name!r}: not a whole strategy (lacks {lacking}); subclass "
                "laptop_agents.strategy.base.BaseStrategy for the optional hooks (docs/STRATEGIES.md)"
            ]
        )
    return strategy  # type: ignore[no-any-return]


def reads_funding(config: StrategyConfig) -> bool:
    """Whether the strategy `config` names takes a funding source (a live session then polls the rate)."""
    name = resolve(config).name
    if name in BUILT_IN:
        return name == "supervisor"
    return _reads_funding(load_class(name))


def resolve(config: StrategyConfig) -> StrategyConfig:
    """A parameter-file name replaced by the strategy it names, with the file's params under `params`."""
    name = config.name
    if name in BUILT_IN or ":" in name:
        return config
    path = preset_path(name)
    try:
        preset = orjson.loads(path.read_bytes())  # build-time: a preset is read when the strategy is built
    except FileNotFoundError:
        known = ", ".join([*BUILT_IN, *preset_names()])
        raise ConfigError(
            [f"strategy.name = {name!r}: no such built-in or config/strategies/{name}.json; known: {known}"]
        ) from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError([f"strategy.name = {name!r}: {path} is not valid JSON ({exc})"]) from None
    if (
        not isinstance(preset, dict)
        or preset.get("strategy") not in BUILT_IN
        or not isinstance(preset.get("params", {}), dict)
    ):
        raise ConfigError(
            [f'strategy.name = {name!r}: {path} needs {{"strategy": one of {", ".join(BUILT_IN)}, "params": {{...}}}}']
        )
    params = {**preset.get("params", {}), **config.params}
    return config.model_copy(update={"name": preset["strategy"], "params": params})


def supervisor_params(config: StrategyConfig) -> SupervisorParams:
    """`strategy.params` as the supervisor's parameters, or one line per problem."""
    from laptop_agents.strategy.supervisor import SupervisorParams

    try:
        return SupervisorParams.model_validate(config.params)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            lines.append(f"strategy.params{'.' + where if where else ''}: {err['msg']}")
        raise ConfigError(lines) from None


def preset_path(name: str) -> Path:
    cdir = find_config_dir()
    base = cdir if cdir is not None else Path("config")
    return base / "strategies" / f"{name}.json"


def preset_names() -> list[str]:
    cdir = find_config_dir()
    if cdir is None:
        return []
    return sorted(p.stem for p in (cdir / "strategies").glob("*.json"))


def load_class(spec: str) -> type:
    module_name, _, class_name = spec.partition(":")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # a user's module in the folder `la` runs from, as `python -m` would find it
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module's own errors at import time
        raise ConfigError(
            [f"strategy.name = {spec!r}: cannot import {module_name} ({type(exc).__name__}: {exc}); is it on the path?"]
        ) from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ConfigError([f"strategy.name = {spec!r}: {module_name} has no class {class_name}"])
    return cls


def _reads_funding(cls: type) -> bool:
    """A user class asks for a funding source with `reads_funding = True` (declared by the protocol)."""
    return getattr(cls, "reads_funding", False) is True
