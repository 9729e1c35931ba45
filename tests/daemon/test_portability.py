"""The Windows branches, tested on Linux (issue 14): no Windows machine runs these tests.

- With `fcntl` unavailable the package still imports, a backtest runs, and the run lock takes the
  `msvcrt` branch (a stand-in `msvcrt` here: the real one exists only on Windows), one holder at a time.
- `la stop --terminate`'s STOP file, the graceful stop where there is no SIGTERM to send, stops a real
  daemon the way SIGTERM does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from laptop_agents.daemon.kill_switch import request_stop
from tests.conftest import REPO
from tests.daemon.test_daemon_process import clean_env, la_command, wait_for

FAKE_MSVCRT = '''
"""A stand-in for Windows' msvcrt.locking: one holder per (file, offset), others get OSError."""
import os
LK_NBLCK = 2
_held = {}


def locking(fd, mode, nbytes):
    key = (os.path.realpath(f"/proc/self/fd/{fd}"), os.lseek(fd, 0, os.SEEK_CUR))
    holder = _held.get(key)
    if holder is not None and holder != fd:
        try:
            os.fstat(holder)
        except OSError:
            holder = None
    if holder is not None and holder != fd:
        raise OSError(13, "Permission denied")
    _held[key] = fd
'''

PROBE = """
import importlib.util
import sys
sys.modules["fcntl"] = None  # as on Windows: `import fcntl` raises ImportError
from pathlib import Path
import subprocess  # noqa: F401 - `la` imports it later, and it must not see the stand-in
from laptop_agents.cli import main
from laptop_agents.base import lock
assert lock.fcntl is None
# the stand-in goes in only now: on sys.path before the standard library loaded, it would make
# `subprocess` believe it runs on Windows
spec = importlib.util.spec_from_file_location("msvcrt", sys.argv[2])
sys.modules["msvcrt"] = fake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fake)
code = main(["run", "--mode", "backtest", "--source", "mock", "--set", "data.mock_candles=500"])
assert code == 0, code
folder = Path(sys.argv[1])
first = lock.RunLock(folder)
first.acquire()
second = lock.RunLock(folder)
try:
    second.acquire()
except Exception as exc:
    print("refused:", exc)
else:
    raise SystemExit("a second holder got the lock")
first.release()
print("OK")
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the stand-in msvcrt reads /proc")
def test_without_fcntl_the_package_runs_and_the_lock_takes_the_windows_branch(tmp_path: Path) -> None:
    (tmp_path / "shim").mkdir()
    (tmp_path / "shim" / "msvcrt.py").write_text(textwrap.dedent(FAKE_MSVCRT))
    (tmp_path / "folder").mkdir()
    env = clean_env() | {"PYTHONPATH": str(REPO / "src")}
    shim = tmp_path / "shim" / "msvcrt.py"
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "folder"), str(shim)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "refused: run folder" in done.stdout and done.stdout.strip().endswith("OK")


@pytest.mark.slow
def test_the_stop_file_stops_a_daemon_as_sigterm_does(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*la_command(), "run", "--mode", "live-paper", "--run-id", "w", "--set", "exchange.sim_speed=1200"],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run = tmp_path / "runs" / "w"
    try:
        wait_for(lambda: (run / "heartbeat.json").exists(), 30, "the daemon")
        request_stop(run, by="tester@windows")
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Live-paper session (stop requested by tester@windows (STOP file))" in out
    events = [orjson.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines()]
    assert events[-1]["event"] == "RunFinished" and not (run / "STOP").exists()
