"""A local Amazon marketplace speaking the SP-API wire format.

    from amzorders.simulator import Simulator, SIMULATOR_CREDENTIALS
    with Simulator(state_path, seed=7, orders=500) as sim:
        sim.base_url, sim.token_url   # SP-API host and LWA token endpoint

See core.Simulator for the test hooks (advance, inject, received_actions, ...).
"""

from .account import account_config_toml, notifications_config_toml
from .core import SIMULATOR_CREDENTIALS, ApiError, Simulator

__all__ = ["SIMULATOR_CREDENTIALS", "ApiError", "Simulator", "account_config_toml", "notifications_config_toml"]
