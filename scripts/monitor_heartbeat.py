#!/usr/bin/env python3
"""Watchdog for laptop-agents: exit 0 when runs/<id>/heartbeat.json is fresh, 1 when stale or halted,
2 when missing or unreadable, printing one status line. Same as `la watchdog`.

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
