"""Walk-forward folds: train on N candles, test on the next M, slide by M, until the data ends."""

from __future__ import annotations

from dataclasses import dataclass

from laptop_agents.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Fold:
    index: int
    train_start: int
    train_end: int  # exclusive; the test window starts here
    test_end: int  # exclusive


def walk_forward(n_candles: int, train: int, test: int) -> list[Fold]:
    folds: list[Fold] = []
    start = 0
    while start + train + test <= n_candles:
        folds.append(Fold(len(folds), start, start + train, start + train + test))
        start += test
    if not folds:
        raise ConfigError(
            [f"validation.train + validation.test = {train + test} candles, but the data has {n_candles}; "
             "use smaller windows"]
        )  # fmt: skip
    return folds
