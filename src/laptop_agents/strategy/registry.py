"""Find the strategy a config names: a built-in, or the user's own class given as 'package.module:ClassName'.

A user strategy is a class built as `Cls(params, *, emit, symbol)` that provides the `Strategy` protocol:
`name`, `on_candle(candle, position) -> intents`, `warmup_candles()`, `state()` and `restore(state)`.
Its module is imported from the current folder or anywhere on `sys.path` (docs/STRATEGIES.md).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from laptop_agents.config.models import StrategyConfig
from laptop_agents.core.errors import ConfigError
from laptop_agents.core.events import Event
from laptop_agents.strategy.base import Strategy
from laptop_agents.strategy.sma_atr import SmaAtrStrategy

REQUIRED = ("on_candle", "warmup_candles", "state", "restore")


def build_strategy(config: StrategyConfig, *, emit: Callable[[Event], None], symbol: str) -> Strategy:
    if config.name == "sma_atr":
        return SmaAtrStrategy(config, emit=emit, symbol=symbol)
    cls = load_class(config.name)
    try:
        strategy = cls(config.params, emit=emit, symbol=symbol)
    except Exception as exc:  # the user's constructor: any failure is reported as bad input
        raise ConfigError(
            [f"strategy.name = {config.name!r}: building it with strategy.params failed ({type(exc).__name__}: {exc})"]
        ) from exc
    missing = [m for m in REQUIRED if not callable(getattr(strategy, m, None))]
    if missing or not isinstance(getattr(strategy, "name", None), str):
        lacking = ", ".join(missing) or "a `name` string"
        raise ConfigError(
            [f"strategy.name = {config.name!r}: not a strategy (lacks {lacking}); see docs/STRATEGIES.md"]
        )
    return strategy  # type: ignore[no-any-return]


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
