"""`la download` against `la sim-exchange`'s venue over loopback: the file equals the venue's candles, a rerun
adds only what is missing (newer, or older), a kill -9 anywhere resumes to the same file, a rate-limit
storm is waited out without exceeding the venue's limit, and lost candles are reported, never filled."""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
from pathlib import Path

import orjson

from laptop_agents.download.candle_file import CandleFile
from tests.daemon.test_daemon_process import clean_env, la_command
from tests.download.helpers import FIRST_TS, HISTORY, MINUTE, bundled_rows, la_download, venue

OUT = Path("data") / "bitunix" / "BTCUSDT-1m.csv"


def manifest(cwd: Path) -> dict:  # type: ignore[type-arg]
    return orjson.loads((cwd / OUT.with_suffix(".gaps.json")).read_bytes())  # type: ignore[no-any-return]


async def test_a_download_across_pages_equals_the_venues_candles(tmp_path: Path) -> None:
    async with venue() as sim:
        result = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-01")
    assert result.code == 0, result.err
    assert (tmp_path / OUT).read_bytes() == bundled_rows(HISTORY)  # 1,500 candles over 8 pages, byte for byte
    m = manifest(tmp_path)
    assert (m["symbol"], m["interval"], m["rows"], m["first"], m["complete"]) == (
        "BTCUSDT",
        "1m",
        HISTORY,
        FIRST_TS,
        True,
    )
    assert m["history_starts"] == FIRST_TS and m["gaps"]["missing"] == 0
    assert "1,500 candles added" in result.out and "history starts at 2021-12-31 23:01" in result.out
    progress = result.err.strip().splitlines()  # not a terminal: one line per 10 %, never one per request
    assert 1 <= len(progress) <= 10 and progress[-1].startswith("BTCUSDT 1m [") and " 100% " in progress[-1]
    kline_calls = [r for r in sim.requests if r.path.endswith("/market/kline")]
    assert len(kline_calls) < HISTORY / 200 + 40  # pages plus the bisection for the listing, not a scan


async def test_a_rerun_adds_only_the_newer_candles_and_an_earlier_since_only_the_older(tmp_path: Path) -> None:
    async with venue() as sim:
        since_row_600 = str(FIRST_TS + 600 * MINUTE)
        first = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", since_row_600)
        assert first.code == 0, first.err
        assert (tmp_path / OUT).read_bytes() == bundled_rows(HISTORY - 600, start=600)
        await sim.hub.advance(31 * sim.market.k)  # 30 more close; the 31st is the newest, not yet known closed
        before = len(sim.requests)
        newer = await la_download(sim, tmp_path, "--symbol", "BTCUSDT")  # no --since: from the file's start
        assert newer.code == 0, newer.err
        assert "30 candles added" in newer.out
        assert (tmp_path / OUT).read_bytes() == bundled_rows(HISTORY - 600 + 30, start=600)
        asked = [int(r.query["endTime"]) for r in list(sim.requests)[before:] if "endTime" in r.query]
        assert min(asked) > FIRST_TS + HISTORY * MINUTE - 200 * MINUTE  # only after what the file had
        older = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31")
        assert older.code == 0, older.err
        assert "600 candles added" in older.out
        assert (tmp_path / OUT).read_bytes() == bundled_rows(HISTORY + 30)
        again = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31")
        assert again.code == 0 and "already up to date" in again.out  # the venue's first candle is known now
        assert not CandleFile(tmp_path / OUT).head_part.exists()


async def test_kill_9_at_random_points_then_the_same_command_finishes_the_same_file(tmp_path: Path) -> None:
    rng = random.Random(19)
    expected = bundled_rows(HISTORY)
    async with venue() as sim:
        kills = 0
        for attempt in itertools.count():
            proc = await asyncio.create_subprocess_exec(
                *la_command(), "download", "--rest-url", sim.rest_url, "--rate", "6", "--symbol", "BTCUSDT",
                "--since", "2021-12-31", cwd=tmp_path, env=clean_env(),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            try:
                await asyncio.wait_for(proc.wait(), rng.uniform(0.7, 1.8) if attempt < 4 else 60)
            except TimeoutError:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                kills += 1
            file = tmp_path / OUT
            if file.exists():  # after any kill: a header, whole rows, each the venue's own
                data = file.read_bytes()
                assert (data.endswith(b"\n") and expected.startswith(data)) or _torn_once(data, expected)
            if proc.returncode == 0:
                break
    assert kills >= 3, "the kills should land while the download runs"
    assert (tmp_path / OUT).read_bytes() == expected
    assert manifest(tmp_path)["complete"] is True


def _torn_once(data: bytes, expected: bytes) -> bool:
    """A kill inside a write may leave part of a row: the next run cuts it off (the rest is the venue's)."""
    whole = data[: data.rfind(b"\n") + 1]
    return expected.startswith(whole)


async def test_a_rate_limit_storm_is_waited_out_and_the_venues_limit_never_exceeded(tmp_path: Path) -> None:
    async with venue(rate_per_s=10) as sim:  # Bitunix's documented 10 requests/s per IP, enforced
        sim.faults.update({"rate_limit_for_s": 2.5})  # every request refused for 2.5 s
        result = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31", rate=9)
        stormed = sim.faults.counts.get("rate_limit_for_s", 0)
        records = list(sim.requests)
    assert result.code == 0, result.err
    assert (tmp_path / OUT).read_bytes() == bundled_rows(HISTORY)
    assert stormed >= 1
    refused = [r for r in records if r.code == 10006]
    assert len(refused) == stormed, "only the storm refused requests: our own rate stayed under the limit"
    times = [r.monotonic for r in records]
    busiest = max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))
    assert busiest <= 10


async def test_candles_the_venue_lost_are_reported_as_gaps_and_not_filled(tmp_path: Path) -> None:
    lost = [[FIRST_TS + 100 * MINUTE, FIRST_TS + 103 * MINUTE], [FIRST_TS + 700 * MINUTE, FIRST_TS + 740 * MINUTE]]
    async with venue() as sim:
        sim.faults.update({"missing_klines": lost})
        result = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31")
    assert result.code == 0, result.err
    gaps = manifest(tmp_path)["gaps"]
    assert (gaps["missing"], gaps["ranges"]) == (43, 2)
    assert gaps["longest"] == {"from": lost[1][0], "to": lost[1][1], "candles": 40}
    assert [(g["from"], g["to"]) for g in gaps["first"]] == [tuple(r) for r in lost]
    rows = (tmp_path / OUT).read_bytes().splitlines()[1:]
    assert len(rows) == HISTORY - 43
    assert "2 gaps, 43 candles missing; longest 40 from 2022-01-01 10:41" in result.out
    assert "BTCUSDT-1m.gaps.json" in result.out


async def test_a_side_file_left_for_another_range_is_started_again_not_joined(tmp_path: Path) -> None:
    """Review of issue 19: the side file of earlier candles was resumed when it began at the same time,
    even when an earlier run had filled it past the file's first row: the join then repeated rows."""
    async with venue() as sim:
        made = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", str(FIRST_TS + 600 * MINUTE))
        assert made.code == 0, made.err
        side = CandleFile(tmp_path / OUT).head_part
        side.write_bytes(bundled_rows(700))  # from the first candle, past the file's first row (600)
        older = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31")
    assert older.code == 0, older.err
    assert (tmp_path / OUT).read_bytes() == bundled_rows(HISTORY) and not side.exists()


async def test_two_downloads_into_one_file_are_one_too_many(tmp_path: Path) -> None:
    """Review of issue 19: two runs on one --out interleaved their rows. The second is refused in one line."""
    async with venue() as sim:
        first = asyncio.create_task(la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31", rate=6))
        lock = tmp_path / OUT.parent / f".{OUT.name}.lock"
        for _ in range(200):
            if lock.exists() and lock.read_text().strip():
                break
            await asyncio.sleep(0.02)
        second = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31")
        done = await first
    assert done.code == 0, done.err
    assert second.code == 2 and "is being written by pid" in second.err and len(second.err.strip().splitlines()) == 1
    assert (tmp_path / OUT).read_bytes() == bundled_rows(HISTORY)


async def test_funding_covers_the_file_and_a_rerun_starts_where_the_file_does(tmp_path: Path) -> None:
    """Review of issue 19: --funding fetched from --since, not from the file's first candle; and after a first
    run was interrupted (its manifest without a first row) a rerun without --since was refused."""
    async with venue() as sim:
        made = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31")
        assert made.code == 0, made.err
        gaps = tmp_path / OUT.with_suffix(".gaps.json")
        gaps.write_bytes(orjson.dumps({**manifest(tmp_path), "first": None, "complete": False}))
        later = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2022-01-01T12:00", "--funding")
        rerun = await la_download(sim, tmp_path, "--symbol", "BTCUSDT")
    assert later.code == 0 and rerun.code == 0, later.err + rerun.err
    settled = [int(line.split(",")[0]) for line in (tmp_path / OUT.with_suffix(".funding.csv")).read_text().split()[1:]]
    assert settled == [1640995200000, 1641024000000, 1641052800000, 1641081600000]  # from 2022-01-01 00:00
    assert manifest(tmp_path)["first"] == FIRST_TS and manifest(tmp_path)["complete"] is True
