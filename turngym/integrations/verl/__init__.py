"""turngym inside verl's PPO trainer: an agent loop for any turngym environment and turngym's estimators.

Importing this package imports verl (0.9.x) and registers, in verl's own registries:

- the agent loop ``turngym_agent`` (:class:`~.agent_loop.TurnGymAgentLoop`): plays one
  turngym episode per dataset row, token in and token out through verl's server manager,
  with the environment's tokens masked out (``response_mask`` 0);
- an advantage estimator ``turngym_<name>`` for every turngym estimator (``turngym_grpo``,
  ``turngym_gigpo``, ...; :mod:`.advantages`), computing per-turn advantages from the turns
  the agent loop played.

verl imports it in every process when ``VERL_USE_EXTERNAL_MODULES=turngym.integrations.verl``
is set, or by itself through the ``verl.plugins`` entry point turngym declares. Rows of the
training data come from :func:`~.dataset.write_dataset`. See ``configs/verl_grpo_searchqa.yaml``.
"""

from turngym.integrations.verl.advantages import (
    TURN_DATA_KEY,
    register_turngym_estimator,
    turn_spans,
    turngym_advantages,
)
from turngym.integrations.verl.agent_loop import AGENT_NAME, TurnGymAgentLoop
from turngym.integrations.verl.dataset import episode_spec, write_dataset

__all__ = [
    "AGENT_NAME",
    "TURN_DATA_KEY",
    "TurnGymAgentLoop",
    "episode_spec",
    "register_turngym_estimator",
    "turn_spans",
    "turngym_advantages",
    "write_dataset",
]
