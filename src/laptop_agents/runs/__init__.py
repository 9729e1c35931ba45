"""The run folder: where every mode (backtest, validate, live) writes its events, trades, checkpoint and report."""
