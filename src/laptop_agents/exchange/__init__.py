"""Exchange adapters. Each venue lives in its own package; the rest of the daemon sees typed values."""
