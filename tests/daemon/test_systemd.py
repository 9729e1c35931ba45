"""Service integration with systemd (issue 14): the notify protocol over a loopback datagram socket, as
systemd would listen, the credentials systemd hands over, and the shipped unit file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from laptop_agents.config.models import ExchangeConfig
from laptop_agents.core.errors import ConfigError
from laptop_agents.daemon.sd_notify import SystemdNotifier
from laptop_agents.live.credentials import load_credentials
from tests.conftest import REPO
from tests.daemon.test_daemon_process import clean_env, la_command, wait_for


def listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    return sock


def drain(sock: socket.socket, into: list[str]) -> None:
    while True:
        try:
            into.append(sock.recv(4096).decode())
        except TimeoutError:
            return


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled and not notifier.notify("READY=1") and notifier.tasks() == {}


def test_an_abstract_socket_name_is_reached(tmp_path: Path) -> None:
    name = f"la-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    try:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name}, status=lambda: "running: 3 candles")
        notifier.ready()
        assert sock.recv(4096).decode() == "READY=1\nSTATUS=running: 3 candles"
        notifier.close()
    finally:
        sock.close()


@pytest.mark.slow
def test_the_daemon_says_ready_pings_the_watchdog_and_says_stopping(tmp_path: Path) -> None:
    sock = listener(tmp_path / "notify")
    env = clean_env() | {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen(
        [*la_command(), "run", "--mode", "live-paper", "--run-id", "n", "--set", "exchange.sim_speed=1200"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    got: list[str] = []
    try:
        wait_for(lambda: drain(sock, got) or any("READY=1" in m for m in got), 30, "READY=1")
        events = (tmp_path / "runs" / "n" / "events.jsonl").read_text()
        assert '"event":"RunStarted"' in events  # ready only once started and warmed up
        started = time.monotonic()
        wait_for(lambda: drain(sock, got) or sum("WATCHDOG=1" in m for m in got) >= 4, 10, "watchdog pings")
        assert time.monotonic() - started < 2.0  # every half WATCHDOG_USEC (0.2 s), from the event loop
        status = [m for m in got if "STATUS=running" in m]
        assert status and "candles, equity" in status[-1]
        os.kill(proc.pid, signal.SIGSTOP)  # a wedged loop: the pings stop, so systemd would restart it
        drain(sock, got)
        before = len(got)
        time.sleep(0.8)
        drain(sock, got)
        assert len(got) == before
        os.kill(proc.pid, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
        drain(sock, got)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        sock.close()
    assert proc.returncode == 0
    assert any(m.startswith("STOPPING=1") for m in got)


def test_api_keys_come_from_systemd_credentials(tmp_path: Path) -> None:
    (tmp_path / "bitunix_api_key").write_text("key-from-systemd\n")
    (tmp_path / "bitunix_api_secret").write_text("secret-from-systemd\n")
    creds = load_credentials(ExchangeConfig(), {"CREDENTIALS_DIRECTORY": str(tmp_path), "BITUNIX_API_KEY": "env"})
    assert (creds.api_key, creds.secret) == ("key-from-systemd", "secret-from-systemd")
    (tmp_path / "bitunix_api_secret").write_text("")
    with pytest.raises(ConfigError, match="bitunix_api_secret empty or missing"):
        load_credentials(ExchangeConfig(), {"CREDENTIALS_DIRECTORY": str(tmp_path)})


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["laptop-agents.service", "laptop-agents-watchdog.service"])
def test_the_shipped_units_pass_systemd_analyze_verify(tmp_path: Path, unit: str) -> None:
    """The paths the unit names are made to exist under tmp_path (verify checks that ExecStart exists)."""
    text = (REPO / "scripts" / unit).read_text()
    home = tmp_path / "home" / "trader" / "laptop-agents"
    (home / ".venv" / "bin").mkdir(parents=True)
    (home / "runs").mkdir()
    (home / ".venv" / "bin" / "la").write_text("#!/bin/sh\n")
    (home / ".venv" / "bin" / "la").chmod(0o755)
    text = text.replace("/home/trader/laptop-agents", str(home)).replace("User=trader", "User=root")
    path = tmp_path / unit
    path.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, check=False)
    problems = [line for line in (done.stdout + done.stderr).splitlines() if unit in line or "rror" in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr
    if unit == "laptop-agents.service":
        assert "Type=notify" in text and "WatchdogSec=" in text and "ProtectSystem=strict" in text
