"""The parameter grid: `'fast=5,10,20;slow=30,50'` → every combination, as settings overrides.

A key names a strategy parameter: a `strategy.*` field for sma_atr (`fast`/`slow` are short for
`fast_sma`/`slow_sma`), a `strategy.params` key for the supervisor or a user's class, or any setting as
`section.key` (`risk.rr_min`). Values are JSON when they parse (`2`, `1.5`, `true`), text otherwise.
Candidates whose settings do not validate (fast ≥ slow) are dropped and counted, never run.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

import orjson

from laptop_agents.config.models import Settings, StrategyConfig
from laptop_agents.core.errors import ConfigError

ALIASES = {"fast": "fast_sma", "slow": "slow_sma"}


@dataclass(frozen=True, slots=True)
class Candidate:
    index: int
    params: dict[str, Any]
    """As the user wrote the keys, for the leaderboard."""
    settings: Settings


def parse_grid(text: str) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, sep, values = part.partition("=")
        key = key.strip()
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key or not items:
            raise ConfigError([f"validation.grid: {part!r} is not 'key=value1,value2,...'"])
        if key in grid:
            raise ConfigError([f"validation.grid: {key} is given twice"])
        grid[key] = [_value(v) for v in items]
    if not grid:
        raise ConfigError(["validation.grid: empty; give at least one 'key=value1,value2'"])
    return grid


def _value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def candidates(
    base: Settings, grid: dict[str, list[Any]], *, max_candidates: int | None, seed: int
) -> tuple[list[Candidate], int]:
    """The valid candidates (thinned to `max_candidates` by a seeded sample, kept in grid order) and how
    many combinations were dropped as invalid."""
    keys = list(grid)
    strategy = base.strategy.name
    for key in keys:
        _check_key(key, strategy)
    combos = list(itertools.product(*(grid[k] for k in keys)))
    if max_candidates is not None and len(combos) > max_candidates:
        picked = sorted(random.Random(seed).sample(range(len(combos)), max_candidates))
        combos = [combos[i] for i in picked]
    out: list[Candidate] = []
    dropped = 0
    base_dump = base.model_dump(mode="json")
    for combo in combos:
        params = dict(zip(keys, combo, strict=True))
        try:
            settings = Settings.model_validate(_apply(base_dump, params, strategy))
        except ValueError:
            dropped += 1
            continue
        out.append(Candidate(len(out), params, settings))
    if not out:
        raise ConfigError([f"validation.grid: none of the {len(combos)} combinations is a valid configuration"])
    return out, dropped


def _check_key(key: str, strategy: str) -> None:
    if "." in key:
        section, _, field = key.partition(".")
        if section not in Settings.model_fields or field not in Settings.model_fields[section].annotation.model_fields:  # type: ignore[union-attr]
            raise ConfigError([f"validation.grid: {key} is not a setting (see docs/CONFIG.md)"])
        return
    if strategy == "sma_atr":
        name = ALIASES.get(key, key)
        if name not in StrategyConfig.model_fields or name in ("name", "params"):
            known = ", ".join(f for f in StrategyConfig.model_fields if f not in ("name", "params"))
            raise ConfigError([f"validation.grid: {key} is not an sma_atr parameter; known: {known}"])


def _apply(base: dict[str, Any], params: dict[str, Any], strategy: str) -> dict[str, Any]:
    data = {section: dict(values) if isinstance(values, dict) else values for section, values in base.items()}
    data["strategy"]["params"] = dict(data["strategy"]["params"])
    for key, value in params.items():
        if "." in key:
            section, _, field = key.partition(".")
            data[section][field] = value
        elif strategy == "sma_atr":
            data["strategy"][ALIASES.get(key, key)] = value
        else:
            data["strategy"]["params"][key] = value
    return data
