"""runs/<id>/ is created once, and runs/latest always points at the newest run."""

from __future__ import annotations

from pathlib import Path

import pytest

from laptop_agents.core.errors import InputError
from laptop_agents.runs.run_folder import RunFolder, new_run_id


def test_latest_points_at_the_newest_run(tmp_path: Path) -> None:
    a = RunFolder.create(tmp_path, "a")
    a.point_latest()
    b = RunFolder.create(tmp_path, "b")
    latest = b.point_latest()
    assert latest.resolve() == b.path.resolve()
    assert latest.is_symlink() and not latest.readlink().is_absolute()  # the runs folder can be moved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "latest"]


def test_run_folder_is_never_reused(tmp_path: Path) -> None:
    RunFolder.create(tmp_path, "x")
    with pytest.raises(InputError, match="already exists"):
        RunFolder.create(tmp_path, "x")


def test_run_ids_sort_by_time_and_name_the_mode() -> None:
    a, b = new_run_id("backtest", 1_700_000_000_000), new_run_id("backtest", 1_700_000_060_000)
    assert a < b and a.startswith("20231114-221320-backtest-")
