"""`python -m laptop_agents ...` is `la ...` (where the `la` script is not on PATH, e.g. `py -m` on Windows)."""

from laptop_agents.cli import main

raise SystemExit(main())
