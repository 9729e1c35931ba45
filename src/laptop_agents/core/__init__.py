"""Pure values of the trading core: candles, events, clocks, orders, ids, errors. No I/O, no asyncio."""
