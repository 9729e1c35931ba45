"""`reprs` writes every float exactly as `repr` does, in whichever of its two ways it takes."""

from __future__ import annotations

import math
import random
import struct

import pytest

from laptop_agents.reporting.csv_rows import reprs


def _by_repr(values: tuple[float, ...]) -> str:
    return ",".join(repr(x) for x in values)


def _floats(rnd: random.Random, n: int) -> list[float]:
    """Prices, equities and drawdowns as runs make them, round numbers, and any bit pattern at all."""
    out: list[float] = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            x = rnd.uniform(0.0, 200_000.0)
        elif kind == 1:
            x = rnd.uniform(0.0, 100.0)
        elif kind == 2:
            x = round(rnd.uniform(-50_000.0, 50_000.0), rnd.randint(0, 9))
        elif kind == 3:
            x = rnd.uniform(1e-4, 1e-3) * rnd.choice((1.0, -1.0))
        elif kind == 4:
            x = rnd.uniform(1e15, 1e16)
        else:
            x = struct.unpack("<d", rnd.randbytes(8))[0]
            if not math.isfinite(x):
                x = rnd.uniform(-1.0, 1.0)
        out.append(x)
    return out


def test_ordinary_numbers_match_repr_byte_for_byte() -> None:
    values = _floats(random.Random(20), 240_000)
    for k in range(0, len(values), 2):
        pair = (values[k], values[k + 1])
        assert reprs(pair) == _by_repr(pair)
    six = tuple(values[:6])
    assert reprs(six) == _by_repr(six)


@pytest.mark.parametrize(
    "odd",
    [1e-05, 9.99e-05, -3.2e-07, 5e-324, 1e16, 1.2345678901234568e17, -1e300, math.nan, math.inf, -math.inf],
)
def test_a_number_orjson_writes_in_another_form_is_written_by_repr(odd: float) -> None:
    for values in ((10_000.0, odd), (odd, 0.5), (odd,), (1.5, 2.5, odd, 3.5)):
        assert reprs(values) == _by_repr(values)


def test_boundaries_of_the_fast_form_and_edge_values() -> None:
    for values in (
        (0.0, -0.0),
        (1e-4, 0.0001),
        (0.00012, 1e15),
        (9999999999999998.0, 1.0),
        (10.00001, 100.0),
        (0.1, 0.30000000000000004),
        (7.0,),
    ):
        assert reprs(values) == _by_repr(values)
