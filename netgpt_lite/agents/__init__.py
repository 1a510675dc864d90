"""Agents that answer tasks (chapter 3): the proposal type, the simulated cloud, an OpenAI-compatible cloud.

Every public name of the modules below is re-exported here.
"""


from netgpt_lite.agents.cloud_openai import (
    RETRY_STATUSES,
    CloudClientConfig,
    CloudExchange,
    CloudFailure,
    CloudReply,
    CloudRequestError,
    OpenAICompatibleCloud,
    logger,
    parse_chat_calls,
    parse_chat_response,
    retry_after_s,
)
from netgpt_lite.agents.cloud_sim import (
    CloudConfig,
    SimulatedCloud,
    cloud_outcomes,
)
from netgpt_lite.agents.proposal import (
    DEFAULT_NETWORK,
    Agent,
    Proposal,
)

__all__ = [
    "DEFAULT_NETWORK",
    "Proposal",
    "Agent",
    "CloudConfig",
    "SimulatedCloud",
    "cloud_outcomes",
    "logger",
    "RETRY_STATUSES",
    "CloudClientConfig",
    "CloudRequestError",
    "CloudReply",
    "CloudExchange",
    "CloudFailure",
    "retry_after_s",
    "parse_chat_response",
    "parse_chat_calls",
    "OpenAICompatibleCloud",
]
