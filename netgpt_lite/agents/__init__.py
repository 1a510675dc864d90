"""Agents that answer tasks (chapter 3): the proposal type, the simulated cloud, an OpenAI-compatible cloud
(its HTTP side and its wire format).

Every public name of the modules below is re-exported here.
"""


from netgpt_lite.agents.chat_completions import (
    SHAPE_ERRORS,
    CloudReply,
    chat_body,
    chat_reply,
    parse_chat_calls,
    parse_chat_response,
)
from netgpt_lite.agents.cloud_http import (
    RETRY_STATUSES,
    CloudClientConfig,
    CloudEndpoint,
    CloudExchange,
    CloudRequestError,
    retry_after_s,
)
from netgpt_lite.agents.cloud_openai import (
    CloudFailure,
    OpenAICompatibleCloud,
    logger,
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
from netgpt_lite.agents.redaction import redact_url

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
    "CloudExchange",
    "retry_after_s",
    "CloudEndpoint",
    "SHAPE_ERRORS",
    "CloudReply",
    "chat_body",
    "parse_chat_calls",
    "parse_chat_response",
    "chat_reply",
    "CloudFailure",
    "OpenAICompatibleCloud",
    "redact_url",
]
