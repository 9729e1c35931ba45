"""The run folder `runs/<run-id>/` and the `runs/latest` pointer."""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from laptop_agents.core.errors import InputError


def new_run_id(mode: str, wall_ms: int) -> str:
    """`20260121-153000-backtest-3fa2`: sortable by start time, unique enough for one machine."""
    stamp = datetime.fromtimestamp(wall_ms / 1000, tz=UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{mode}-{secrets.token_hex(2)}"


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = path.name

    @classmethod
    def create(cls, runs_dir: Path, run_id: str) -> RunFolder:
        """Make a new, empty run folder; refuse to reuse one (a run's files are never overwritten)."""
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
            (runs_dir / run_id).mkdir()
        except FileExistsError:
            raise InputError(f"run.run_id: {runs_dir / run_id} already exists; pick another run id") from None
        except OSError as exc:
            raise InputError(f"run.runs_dir: cannot create {runs_dir / run_id} ({exc.strerror})") from None
        return cls(runs_dir / run_id)

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def trades(self) -> Path:
        return self.path / "trades.csv"

    @property
    def equity(self) -> Path:
        return self.path / "equity.csv"

    @property
    def journal(self) -> Path:
        return self.path / "journal.jsonl"

    @property
    def state(self) -> Path:
        return self.path / "state.json"

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def summary(self) -> Path:
        return self.path / "summary.html"

    def point_latest(self) -> Path:
        """Make `runs/latest` point at this run: a relative symlink, replaced atomically.

        Where symlinks are not allowed (Windows without developer mode), `runs/latest` is a text file
        holding the run id instead.
        """
        latest = self.path.parent / "latest"
        tmp = self.path.parent / f".latest-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            os.symlink(self.run_id, tmp, target_is_directory=True)
            os.replace(tmp, latest)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if latest.is_dir() and not latest.is_symlink():
                raise
            tmp.write_text(self.run_id + "\n")
            os.replace(tmp, latest)
        return latest
