"""Funding tables: the latest rate at or before a funding time; clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from laptop_agents.core.errors import DataError
from laptop_agents.execution.funding import TableFunding


def test_rate_lookup(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("ts,rate\n28800000,0.0001\n57600000,-0.0002\n")
    table = TableFunding.from_csv(path)
    assert [table.rate_at(t) for t in (0, 28_800_000, 40_000_000, 57_600_000, 10**13)] == [
        0.0,
        0.0001,
        0.0001,
        -0.0002,
        -0.0002,
    ]


def test_bad_rows_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("ts,rate\n28800000,abc\n")
    with pytest.raises(DataError, match="line 2"):
        TableFunding.from_csv(path)
    with pytest.raises(DataError, match="not found"):
        TableFunding.from_csv(tmp_path / "none.csv")
