"""Bad `la download` input: one line naming the field and the fix, exit 2, and an existing file untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.download.helpers import HISTORY, bundled_rows, la_download, venue

OUT = Path("data") / "bitunix" / "BTCUSDT-1m.csv"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


async def test_bad_requests_are_one_line_exit_2_and_leave_the_file_as_it_was(tmp_path: Path) -> None:
    async with venue() as sim:
        made = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31")
        assert made.code == 0, made.err
        before = {p.name: p.read_bytes() for p in (tmp_path / OUT).parent.iterdir() if not p.name.startswith(".")}
        cases = {
            "unknown symbol": (
                ["--symbol", "NOPEUSDT", "--since", "2021-12-31", "--out", "x.csv"],
                "--symbol NOPEUSDT",
            ),
            "interval the venue lacks": (
                ["--symbol", "BTCUSDT", "--interval", "3m", "--since", "2021-12-31", "--out", "x.csv"],
                "--interval 3m",
            ),
            "interval nobody has": (["--symbol", "BTCUSDT", "--interval", "7m", "--since", "2021-12-31"], "--interval"),
            "since after until": (["--symbol", "BTCUSDT", "--since", "2022-01-02", "--until", "2022-01-01"], "--since"),
            "a date that is not one": (["--symbol", "BTCUSDT", "--since", "2022-13-45"], "--since"),
            "another symbol in the file": (
                ["--symbol", "ETHUSDT", "--since", "2021-12-31", "--out", str(OUT)],
                "holds BTCUSDT 1m from bitunix",
            ),
            "another interval in the file": (
                ["--symbol", "BTCUSDT", "--interval", "5m", "--since", "2021-12-31", "--out", str(OUT)],
                "holds BTCUSDT 1m",
            ),
        }
        for what, (args, named) in cases.items():
            result = await la_download(sim, tmp_path, *args)
            assert result.code == 2, (what, result.err)
            line = one_line(result.err)
            assert line.startswith("la: ") and named in line, (what, line)
        assert not (tmp_path / "x.csv").exists()
    after = {p.name: p.read_bytes() for p in (tmp_path / OUT).parent.iterdir() if not p.name.startswith(".")}
    assert after == before and after["BTCUSDT-1m.csv"] == bundled_rows(HISTORY)


async def test_a_file_nobody_described_is_not_appended_to(tmp_path: Path) -> None:
    theirs = tmp_path / "mine.csv"
    theirs.write_bytes(bundled_rows(10))
    result = await la_download(None, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31", "--out", "mine.csv")
    assert result.code == 2 and "no mine.gaps.json beside it" in one_line(result.err)
    assert theirs.read_bytes() == bundled_rows(10)


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs a folder nobody may write in, even root: sysfs")
async def test_an_out_that_cannot_be_written_is_refused_before_any_request(tmp_path: Path) -> None:
    result = await la_download(None, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31", "--out", "/sys/a.csv")
    assert result.code == 2 and "--out /sys/a.csv: not writable" in one_line(result.err)


async def test_an_out_under_a_file_is_refused_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a folder")
    result = await la_download(None, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31", "--out", "plain/a.csv")
    assert result.code == 2 and "--out plain/a.csv: cannot create plain" in one_line(result.err)


async def test_a_refused_download_leaves_no_folder_behind_and_epoch_seconds_are_named(tmp_path: Path) -> None:
    async with venue() as sim:
        unknown = await la_download(sim, tmp_path, "--symbol", "NOPEUSDT", "--since", "2021-12-31")
    assert unknown.code == 2 and not (tmp_path / "data").exists()
    seconds = await la_download(None, tmp_path, "--symbol", "BTCUSDT", "--since", "1704067200")
    assert seconds.code == 2 and "epoch seconds? give milliseconds (1704067200000)" in one_line(seconds.err)
