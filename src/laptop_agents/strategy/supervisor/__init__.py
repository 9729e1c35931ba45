"""The supervisor strategy and its agents (A1–A5), one file per agent."""

from laptop_agents.strategy.supervisor.params import SupervisorParams
from laptop_agents.strategy.supervisor.supervisor import Supervisor

__all__ = ["Supervisor", "SupervisorParams"]
