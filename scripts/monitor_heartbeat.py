#!/usr/bin/env python3
"""Watchdog for laptop-agents: exit 0 when the run is running (or halted by the operator), 1 when its
heartbeat is stale or the daemon is dead, 2 when missing or unreadable, 3 when it stopped cleanly,
printing one status line. Same as `la watchdog` (see laptop_agents/daemon/watchdog.py).

    python scripts/monitor_heartbeat.py runs/latest --stale-after 30
    python scripts/monitor_heartbeat.py runs/latest --loop --interval 10 --restart "systemctl restart la"
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout without installing

from laptop_agents.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["watchdog", *sys.argv[1:]]))
