"""The daemon: the AsyncRunner, live-paper sessions and the operator's controls (kill switch, stop,
watchdog, logs, systemd)."""
