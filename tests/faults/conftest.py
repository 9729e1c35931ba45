"""The live-exchange harness's fixtures (`sim`, the simulator as hard as the venue may be; `live`, a venue
session on it) for the scenario tests here."""

from tests.live.conftest import live, sim

__all__ = ["live", "sim"]
