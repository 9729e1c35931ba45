"""Bitunix USDT-M perpetual futures: wire format, signing, REST and WebSocket clients, simulated exchange.

The wire facts come from `shared/bitunix-api.md`; section numbers in comments refer to it.
"""
