"""live-exchange: real orders on Bitunix (opt-in, preflight, exactly-once orders)."""
