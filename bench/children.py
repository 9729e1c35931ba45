"""What the benchmarks here share: each measurement runs in a fresh child process (the script itself,
with `--child ARGS`), so its peak RSS is its own and no warm cache from an earlier one flatters it."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_child(script: str, *args: str, src: str | None = None) -> dict[str, float]:
    """Run `script --child ARGS` with this interpreter; its last stdout line is the JSON result. `src`: import
    `laptop_agents` from that source folder instead (another commit's, for an A/B in the same run)."""
    env = None  # that checkout's own config/ too: its models may not know this tree's keys
    if src is not None:
        env = {**os.environ, "PYTHONPATH": src, "LA_CONFIG_DIR": os.path.join(os.path.dirname(src), "config")}
    out = subprocess.run([sys.executable, script, "--child", *args], capture_output=True, text=True, check=True,
                         env=env)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
