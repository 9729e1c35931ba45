"""Watching a live session from outside: Prometheus metrics, alerts and their delivery, and the
service that runs them (and the dashboard) beside the cores."""
