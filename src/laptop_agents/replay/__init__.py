"""`la replay`: rebuild a run's core from its recorded inputs, re-run it, and compare every decision."""
