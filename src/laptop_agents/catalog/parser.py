"""`la runs`' command line, apart from the command so that building `la`'s parser imports nothing heavy."""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    runs = sub.add_parser("runs", help="list, show, compare and prune the runs under a runs folder")
    runs.add_argument("--runs-dir", default="runs", help="the runs folder (default: runs)")
    actions = runs.add_subparsers(dest="action", required=False, metavar="{list,show,compare,prune}")
    actions.add_parser("list", help="every run as one table (the default)")
    show = actions.add_parser("show", help="one run's statistics and where its report is")
    show.add_argument("run", nargs="?", default="latest", help="run id, run folder, or 'latest'")
    compare = actions.add_parser("compare", help="runs side by side: one table and their equity curves on one chart")
    compare.add_argument("runs", nargs="+", help="two or more run ids or folders")
    compare.add_argument("--out", help="the HTML page to write (default: RUNS_DIR/compare.html)")
    prune = actions.add_parser("prune", help="delete all but the newest N runs")
    prune.add_argument("--keep", type=int, required=True, help="how many of the newest runs to keep")
    prune.add_argument("--force", action="store_true", help="may delete live-exchange runs (never a running one)")
    prune.add_argument("--dry-run", action="store_true", help="say what would be deleted, delete nothing")
