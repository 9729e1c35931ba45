"""The bottom of the stack: crash-safe file writes, the run folder's lock, the shared rate limiter,
retry and backoff, and task helpers. `exchange/`, `reporting/` and the daemon (`daemon/`) all build on
these; they import nothing of the package but `core` (errors and clocks)."""
