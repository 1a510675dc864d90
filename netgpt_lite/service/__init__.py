"""The router as a service (``netgpt-lite serve``): an OpenAI-compatible HTTP endpoint that answers
with the edge or falls back to an upstream cloud by the network-aware threshold.

Modules: :mod:`~netgpt_lite.service.router` (the request path: edge, threshold, cloud, degrade),
:mod:`~netgpt_lite.service.app` (the settings, the FastAPI application, uvicorn),
:mod:`~netgpt_lite.service.monitor` (measured or replayed network state),
:mod:`~netgpt_lite.service.circuit` (the upstream circuit breaker),
:mod:`~netgpt_lite.service.batcher` (the edge model in a micro-batching worker),
:mod:`~netgpt_lite.service.limits` (what one request may carry), :mod:`~netgpt_lite.service.auth` (the
client key and the exposure rule),
:mod:`~netgpt_lite.service.metrics` (Prometheus text), :mod:`~netgpt_lite.service.traffic_log`
(cloud answers as synergy-loop training data), :mod:`~netgpt_lite.service.policy_file` (the shipped
FuncDyn parameters) and :mod:`~netgpt_lite.service.upstream` (a scripted stand-in cloud).

Nothing here is imported by ``import netgpt_lite``; FastAPI and uvicorn are imported only when an
application is built.
"""
