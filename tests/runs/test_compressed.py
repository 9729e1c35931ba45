"""A big finished backtest's equity.csv and events.jsonl are gzipped when it ends, and everything that reads
a run reads them as before: the replay, the dashboard's views, `la runs`, a plain gzip reader."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.catalog.listing import run_info
from laptop_agents.core.clock import LiveClock
from laptop_agents.dashboard.run_view import RunView
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.compressed import compress_large, existing, read_bytes
from laptop_agents.runs.run_folder import RunFolder
from tests.helpers import settings


def _backtest(root: Path, run_id: str, compress: str) -> RunFolder:
    s = settings('data.source="mock"', "data.mock_candles=30000", "circuit_breaker.enabled=false",
                 f"run.compress_over_mb={compress}")  # fmt: skip
    folder = RunFolder.create(root, run_id)
    run_backtest(s, source=open_source(s.data, seed=s.run.seed), folder=folder, wall_clock=LiveClock())
    return folder


def test_a_big_backtest_is_gzipped_and_read_back_as_it_was(tmp_path: Path) -> None:
    plain = _backtest(tmp_path, "plain", "null")
    packed = _backtest(tmp_path, "packed", "0.1")  # 100 kB: both files are larger
    for name in ("equity.csv", "events.jsonl"):
        assert (plain.path / name).is_file() and not (plain.path / f"{name}.gz").exists()
        assert not (packed.path / name).exists() and (packed.path / f"{name}.gz").is_file()
        assert not list(packed.path.glob("*.partial"))
    assert (packed.path / "trades.csv").is_file()  # small files stay as they are
    equity = gzip.decompress((packed.path / "equity.csv.gz").read_bytes())
    assert equity == (plain.path / "equity.csv").read_bytes()  # the same rows, byte for byte
    assert len((packed.path / "equity.csv.gz").read_bytes()) * 3 < len(equity)  # a busy run; a flat one 15x
    events = read_bytes(packed.path / "events.jsonl").splitlines()
    assert len(events) == len((plain.path / "events.jsonl").read_bytes().splitlines())
    # the dashboard's and la runs' views of the two runs agree
    a, b = RunView(plain.path), RunView(packed.path)
    assert {k: v for k, v in a.summary().items() if k != "run_id"} == {
        k: v for k, v in b.summary().items() if k != "run_id"
    }
    assert a.equity(300) == b.equity(300)
    assert [e["event"] for e in a.events(20)] == [e["event"] for e in b.events(20)]
    assert run_info(packed.path).max_drawdown_pct == run_info(plain.path).max_drawdown_pct
    # the replay of the compressed run finds every decision identical
    replay = subprocess.run([sys.executable, "-m", "laptop_agents.cli", "replay", str(packed.path)],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_an_interrupted_compression_leaves_the_plain_file_in_charge(tmp_path: Path) -> None:
    path = tmp_path / "equity.csv"
    path.write_bytes(b"ts,equity,drawdown_pct\n" + b"1,2.0,0.0\n" * 1000)
    (tmp_path / "equity.csv.gz").write_bytes(b"not gzip at all")  # killed while it was being replaced
    assert existing(path) == path and read_bytes(path).startswith(b"ts,")
    size = path.stat().st_size
    done = compress_large(tmp_path, over_bytes=100)
    assert [(c.name, c.before) for c in done] == [("equity.csv", size)]
    assert not path.exists() and gzip.decompress((tmp_path / "equity.csv.gz").read_bytes()).count(b"\n") == 1001


def test_a_compression_that_fails_is_raised_after_the_report_is_written(tmp_path: Path) -> None:
    s = settings('data.source="mock"', "data.mock_candles=30000", "circuit_breaker.enabled=false",
                 "run.compress_over_mb=0.1")  # fmt: skip
    folder = RunFolder.create(tmp_path, "blocked")
    (folder.path / "events.jsonl.gz.partial").mkdir()  # the compression cannot write its file
    with pytest.raises(IsADirectoryError):
        run_backtest(s, source=open_source(s.data, seed=s.run.seed), folder=folder, wall_clock=LiveClock())
    assert (folder.path / "summary.json").is_file() and (folder.path / "summary.html").is_file()
    assert (folder.path / "events.jsonl").is_file()  # the plain file stays in charge
    assert (folder.path / "equity.csv.gz").is_file()  # compressed before it, in its own order
