"""Incremental indicators: each update is O(1) and memory is O(window)."""

from laptop_agents.indicators.atr import ATR
from laptop_agents.indicators.ema import EMA
from laptop_agents.indicators.rolling import RollingMax, RollingMin, RollingSum
from laptop_agents.indicators.sma import SMA

__all__ = ["ATR", "EMA", "SMA", "RollingMax", "RollingMin", "RollingSum"]
