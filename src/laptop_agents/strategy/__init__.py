"""Strategies: pure classes that turn closed candles into order intents."""
