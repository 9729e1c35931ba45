"""How every command names a run: its id (`main`), a path to its folder (or to a file in it, such as its
`heartbeat.json`), or `latest` (the newest run under the runs folder: `runs/latest` is a symlink, or a
text file holding the run id where symlinks are not allowed). `la stop`, `la resume`, `la watchdog` and
`la run --resume` all resolve a run the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from laptop_agents.core.errors import InputError

RUN_FILES = ("events.jsonl", "heartbeat.json", "state.json", "config.json")
"""A folder holding any of these is a run folder."""


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RUN_FILES)


def latest_run(runs_dir: Path) -> Path | None:
    """The folder `runs/latest` points at, or None when there is none."""
    latest = runs_dir / "latest"
    if latest.is_dir():
        return latest.resolve()
    if latest.is_file():
        run_id = latest.read_text(encoding="utf-8").strip()
        if run_id and (runs_dir / run_id).is_dir():
            return runs_dir / run_id
    return None


def candidates(ref: str, runs_dir: Path) -> list[Path]:
    """The folders `ref` may name, most specific first."""
    if ref == "latest":
        found = latest_run(runs_dir)
        return [found] if found is not None else []
    path = Path(ref)
    if path.is_file() or path.name == "heartbeat.json":
        path = path.parent
    out = [path]
    if not path.is_absolute() and len(path.parts) == 1:
        out.append(runs_dir / path)
    return out


def resolve_run(ref: str, runs_dir: Path | str = "runs", *, command: str) -> Path:
    """The run folder `ref` names; an `InputError` in one line when there is none."""
    runs = Path(runs_dir)
    tried = candidates(ref, runs)
    for path in tried:
        if is_run_folder(path):
            return path
    if ref == "latest":
        raise InputError(f"{command}: no runs under {runs}/ yet ('latest' names the newest); start one with la run")
    unique = [str(p) for p in dict.fromkeys(tried)]
    shown = f"neither {' nor '.join(unique)} is" if len(unique) > 1 else f"{unique[0]} is not"
    raise InputError(f"{command}: no run {ref!r}: {shown} a run folder; "
                     f"give a run id (a folder under {runs}/), a path, or 'latest'")  # fmt: skip


def run_folder_or_guess(ref: str, runs_dir: Path | str = "runs") -> Path:
    """The run folder `ref` names, or where it would be (for the watchdog: a run not started yet is
    MISSING, not bad input)."""
    runs = Path(runs_dir)
    tried = candidates(ref, runs)
    for path in tried:
        if is_run_folder(path):
            return path
    return tried[-1] if tried else runs / ref


def read_run_config(folder: Path, *, command: str) -> dict[str, Any]:
    """The run's own configuration (`config.json`, as the run wrote it), or one line naming what is wrong."""
    path = folder / "config.json"
    try:
        saved = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputError(f"{command}: cannot read the run's configuration {path} ({exc})") from None
    if not isinstance(saved, dict):
        raise InputError(f"{command}: {path} is not a JSON object; restore it from a backup")
    return saved
