"""Install integrity (reliability §6 scenario 35): every package the dev/test environment installs comes from
requirements/dev.lock with its SHA-256, pip runs with --require-hashes, and a substituted file fails the
install. The substitution is shown offline: a wheel with a locked name and version, but other bytes."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests.conftest import REPO

LOCK = REPO / "requirements" / "dev.lock"


def _locked() -> dict[str, list[str]]:
    """Locked name → its hashes, from the lock's `name==version \\ --hash=...` entries."""
    entries: dict[str, list[str]] = {}
    name = ""
    for line in LOCK.read_text().splitlines():
        pinned = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)", line)
        if pinned:
            name = _norm(pinned.group(1))
            entries[name] = []
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            entries[name].append(digest)
    return entries


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(specs: list[str]) -> set[str]:
    return {_norm(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in specs}


def test_every_dependency_is_locked_with_a_hash() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = _requirement_names(project["project"]["dependencies"])
    wanted |= _requirement_names(project["project"]["optional-dependencies"]["dev"])
    wanted |= _requirement_names(project["build-system"]["requires"]) | {"pip"}
    locked = _locked()
    assert wanted <= set(locked), f"not in {LOCK.name} (run `make lock`): {sorted(wanted - set(locked))}"
    unhashed = sorted(name for name, digests in locked.items() if not digests)
    assert not unhashed, f"locked without a hash: {unhashed}"


def test_the_install_steps_require_the_hashes() -> None:
    """The Makefile (which .ci/run's `make test` goes through) and the Windows script install from the lock
    in hash-checking mode, and nothing else is installed from an index."""
    make = (REPO / "Makefile").read_text()
    ps1 = (REPO / "scripts" / "la.ps1").read_text()
    assert "make test" in (REPO / ".ci" / "run").read_text()
    for script in (make, ps1):
        installs = [line for line in script.splitlines() if "pip install" in line and "uv" not in line]
        assert installs, "no install step found"
        for line in installs:
            assert "--require-hashes" in line or ("--no-deps" in line and "-e ." in line), line
        assert "pip check" in script


def test_a_substituted_package_fails_the_install(tmp_path: Path) -> None:
    """A wheel named as the lock pins it (wheel==VERSION) with bytes of our own: pip refuses it before
    anything is installed, and says why."""
    version = re.search(r"^wheel==(\S+)", LOCK.read_text(), re.M)
    assert version is not None
    fake = tmp_path / "index" / f"wheel-{version.group(1)}-py3-none-any.whl"
    fake.parent.mkdir()
    with zipfile.ZipFile(fake, "w") as whl:
        info = f"wheel-{version.group(1)}.dist-info"
        whl.writestr("wheel/__init__.py", "print('not the real wheel')\n")
        whl.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: wheel\nVersion: {version.group(1)}\n")
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", "")
    hashes = " ".join(f"--hash=sha256:{h}" for h in _locked()["wheel"])
    requirements = tmp_path / "one.lock"
    requirements.write_text(f"wheel=={version.group(1)} {hashes}\n")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--require-hashes", "--no-deps", "--no-index",
         "--find-links", str(fake.parent), "--target", str(tmp_path / "target"), "-r", str(requirements)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "DO NOT MATCH THE HASHES" in done.stderr
    assert not (tmp_path / "target" / "wheel").exists()
