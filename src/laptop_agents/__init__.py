"""laptop-agents: an asyncio, event-driven trading daemon for crypto perpetual futures."""

__version__ = "0.1.0"
