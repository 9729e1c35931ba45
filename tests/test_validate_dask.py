"""validate on Dask distributed: a `LocalCluster` of two worker processes over loopback stands in for a
cluster of machines. Results equal `--jobs 1`'s, also when a worker is killed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from laptop_agents.validate.command import load_candles
from laptop_agents.validate.runner import run_validation
from tests.conftest import REPO
from tests.daemon.test_daemon_process import clean_env, la_command
from tests.helpers import settings

distributed = pytest.importorskip("distributed")

FIFTEEN = REPO / "data" / "ftx_btc-perp_15m_2022-01.csv"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as local:
        yield local


def _la(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*la_command(), "run", "--mode", "validate", "--source", f"csv:{FIFTEEN}", "--interval",
                           "15m", "--grid", "fast_sma=5,10,20;slow_sma=30,50;stop_atr_mult=1,2", "--train", "600",
                           "--test", "200", "--set", f"run.runs_dir={tmp_path}", *args], cwd=REPO, env=clean_env(),
                          capture_output=True, text=True, timeout=180)  # fmt: skip


def test_validate_on_a_dask_cluster_equals_one_local_process(tmp_path: Path, cluster: Any) -> None:
    local = _la(tmp_path, "--jobs", "1", "--run-id", "local")
    remote = _la(tmp_path, "--scheduler", cluster.scheduler_address, "--run-id", "dask")
    assert local.returncode == 0 and remote.returncode == 0, local.stderr + remote.stderr
    assert (tmp_path / "dask" / "validation.json").read_bytes() == (tmp_path / "local" / "validation.json").read_bytes()
    assert f"on the Dask cluster at {cluster.scheduler_address}" in remote.stdout
    assert orjson.loads((tmp_path / "dask" / "validation.json").read_bytes())["combinations_valid"] == 12


def test_a_worker_killed_mid_run_has_its_candidates_run_elsewhere(cluster: Any) -> None:
    s = settings(f"data.source=csv:{REPO / 'data' / 'ftx_btc-perp_1m_2022-01.csv'}", "run.mode=validate",
                 "validation.grid=fast_sma=5,8,10,12,15,20;slow_sma=30,40,50,60", "validation.train=6000",
                 "validation.test=3000")  # fmt: skip
    candles = load_candles(s)
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        pids: dict[str, int] = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed: list[tuple[int, int]] = []

    def kill_once(done: int, total: int) -> None:
        if not killed:
            os.kill(victim, signal.SIGKILL)  # while the other tasks are queued or running
            killed.append((done, total))

    remote = run_validation(s, candles, scheduler=cluster.scheduler_address, on_progress=kill_once)
    assert killed and killed[0][0] < killed[0][1] - 4, killed
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)
    assert remote == run_validation(s, candles, jobs=1)


def test_a_scheduler_without_distributed_or_without_a_cluster_is_one_line(tmp_path: Path) -> None:
    script = "import sys; sys.modules['distributed'] = None\nfrom laptop_agents.cli import main\nsys.exit(main(sys.argv[1:]))"  # noqa: E501
    args = ["run", "--mode", "validate", "--profile", "demo", "--train", "600", "--test", "200", "--scheduler",
            "tcp://127.0.0.1:9", "--set", f"run.runs_dir={tmp_path}"]  # fmt: skip
    missing = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, env=clean_env(), capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert not any(tmp_path.iterdir())
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        "la: validation.scheduler: Dask's distributed is not installed: pip install 'laptop-agents[distributed]'"
    ]
    nobody = subprocess.run([*la_command(), *args], cwd=REPO, env=clean_env(), capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert (
        nobody.returncode == 1 and "validation.scheduler tcp://127.0.0.1:9: no Dask scheduler answers" in nobody.stderr
    )
    assert len(nobody.stderr.strip().splitlines()) == 1
    bad = subprocess.run([*la_command(), "run", "--mode", "validate", "--scheduler", "10.0.0.5:8786"], cwd=REPO,
                         env=clean_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "tcp://10.0.0.5:8786" in bad.stderr
