"""The files a core reads are inputs too: each is recorded by path, size and SHA-256 (`InputFile`), so
`la replay` re-reads the same bytes, and says so when a file has changed since. A backtest reads its candles,
its marks and its funding table; a live session only its funding table (`broker.funding_csv`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from laptop_agents.config.models import Settings
from laptop_agents.core.inputs import InputFile
from laptop_agents.feeds.sources import resolve_data_path

Role = Literal["candles", "marks", "funding"]


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of the file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def backtest_files(settings: Settings) -> list[tuple[Role, Path]]:
    """Every file the backtest of `settings` reads: the candles (unless mock), the marks, the funding table."""
    data, broker = settings.data, settings.broker
    files: list[tuple[Role, Path]] = []
    if data.source != "mock":
        files.append(("candles", resolve_data_path(data.source.removeprefix("csv:"))))
    if data.mark_source is not None:
        files.append(("marks", resolve_data_path(data.mark_source.removeprefix("csv:"))))
    if broker.funding_csv:
        files.append(("funding", Path(broker.funding_csv)))
    return files


def input_file_events(settings: Settings, *, ts: int, roles: tuple[Role, ...] | None = None) -> list[InputFile]:
    """One `InputFile` per file the backtest reads (a mock source is its settings: nothing to record), or per
    one of `roles` of them."""
    out = []
    for role, path in backtest_files(settings):
        if roles is not None and role not in roles:
            continue
        size, sha = file_digest(path)
        out.append(InputFile(ts=ts, symbol=settings.data.symbol, role=role, path=str(path.resolve()), size=size,
                             sha256=sha))  # fmt: skip
    return out
