"""The tool catalog: network-operations and federated-learning tools an agent can call.

Each tool is a typed Python function with a Google-style docstring. Its JSON schema (OpenAI
``tools`` format) is *derived* from the function with ``transformers.utils.get_json_schema``,
so the schema and the stub cannot drift apart: ``Literal[...]`` becomes an ``enum``, arguments
without a default are ``required``, the docstring gives the descriptions. ``get_json_schema``
cannot express numeric ranges or string patterns, so one small documented post-processing step
(:func:`tool_schema`) adds ``minimum``/``maximum`` and ``pattern`` from the ``@tool_constraints(...)``
decorator, each optional argument's ``default`` from the signature, and drops the non-OpenAI
``return`` key.

Some tools are deliberately similar (``get_cell_kpi`` vs ``get_cell_alarms``, ``start_fl_round``
vs ``schedule_fl_round``): choosing between them is part of the task. The stubs return plausible,
deterministic result dicts (values derived from a CRC32 of the arguments, never from a global RNG).

Example:
    >>> from netgpt_lite.tasks.tools import TOOL_FUNCTIONS, call_tool
    >>> call_tool({"name": "set_power_mode", "arguments": {"cell_id": "cell-3", "mode": "eco"}})["status"]
    'ok'
"""

from __future__ import annotations

import functools
import inspect
import json
import zlib
from collections.abc import Callable
from typing import Literal

TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"  # "HH:MM", 24-hour clock
ModelName = Literal["traffic-predictor", "anomaly-detector", "beam-selector", "energy-saver"]
Level = Literal["low", "medium", "high"]


def tool_constraints(**constraints: tuple[int, int] | str) -> Callable:
    """Attach numeric ranges ``arg=(minimum, maximum)`` or string patterns ``arg="regex"`` to a tool."""

    def wrap(fn: Callable) -> Callable:
        fn.__schema_constraints__ = constraints
        return fn

    return wrap


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) derived from the arguments (the stubs' only 'randomness')."""
    return zlib.crc32("|".join(map(str, parts)).encode()) / 2**32


# --- network operations --------------------------------------------------------------------------
@tool_constraints(window_minutes=(1, 1440))
def get_cell_kpi(
    cell_id: str,
    metric: Literal["throughput", "latency", "packet_loss", "prb_usage"],
    window_minutes: int = 15,
) -> dict:
    """Read a performance indicator (KPI) of a radio cell, averaged over a recent window.

    Args:
        cell_id: Cell identifier, e.g. "cell-17".
        metric: Which KPI to read.
        window_minutes: Averaging window in minutes.
    """
    scale = {"throughput": 900.0, "latency": 80.0, "packet_loss": 5.0, "prb_usage": 100.0}[metric]
    return {"cell_id": cell_id, "metric": metric, "value": round(scale * _unit(cell_id, metric), 2)}


@tool_constraints(hours=(1, 168))
def get_cell_alarms(
    cell_id: str, severity: Literal["minor", "major", "critical"] = "major", hours: int = 24
) -> dict:
    """List the active fault alarms of a radio cell at or above a severity.

    Args:
        cell_id: Cell identifier, e.g. "cell-17".
        severity: Lowest alarm severity to list.
        hours: How many past hours to search.
    """
    n_alarms = int(4 * _unit(cell_id, severity, hours))
    return {"cell_id": cell_id, "alarms": [f"{severity}-{k + 1}" for k in range(n_alarms)]}


@tool_constraints(bandwidth_mbps=(1, 10000), latency_ms=(1, 1000))
def configure_slice(slice_id: str, bandwidth_mbps: int, priority: Level, latency_ms: int = 50) -> dict:
    """Create or update a network slice with a guaranteed bandwidth, a priority and a latency target.

    Args:
        slice_id: Slice identifier, e.g. "slice-3".
        bandwidth_mbps: Guaranteed bandwidth in Mbps.
        priority: Scheduling priority of the slice.
        latency_ms: Target one-way latency in milliseconds.
    """
    return {"slice_id": slice_id, "status": "ok", "bandwidth_mbps": bandwidth_mbps, "priority": priority}


@tool_constraints(percent=(1, 100))
def reroute_traffic(from_site: str, to_site: str, percent: int) -> dict:
    """Move a share of the traffic of one site to a neighbouring site.

    Args:
        from_site: Site that sheds the traffic.
        to_site: Site that takes the traffic.
        percent: Share of the traffic to move, in percent.
    """
    return {"status": "ok", "moved_percent": percent, "to_site": to_site}


@tool_constraints(start_time=TIME_PATTERN, duration_minutes=(10, 720))
def schedule_maintenance(
    site: str, start_time: str, duration_minutes: int, notify_users: bool = True
) -> dict:
    """Schedule a maintenance window at a site (the site is taken offline).

    Args:
        site: Site name, e.g. "harbor".
        start_time: Start time today, "HH:MM" on a 24-hour clock.
        duration_minutes: Length of the window in minutes.
        notify_users: Whether to warn the users of the site.
    """
    return {"status": "scheduled", "site": site, "window_id": int(900 * _unit(site, start_time)) + 100}


@tool_constraints(duration_minutes=(10, 1440))
def set_power_mode(cell_id: str, mode: Literal["eco", "normal", "boost"], duration_minutes: int = 60) -> dict:
    """Set the power mode of a radio cell for a while.

    Args:
        cell_id: Cell identifier, e.g. "cell-17".
        mode: Power mode: eco saves energy, boost maximises capacity.
        duration_minutes: How long the mode holds, in minutes.
    """
    return {"cell_id": cell_id, "status": "ok", "mode": mode}


@tool_constraints(duration_seconds=(5, 120))
def run_speed_test(
    site: str, direction: Literal["downlink", "uplink"] = "downlink", duration_seconds: int = 10
) -> dict:
    """Run an active throughput test at a site.

    Args:
        site: Site name, e.g. "harbor".
        direction: Link direction to test.
        duration_seconds: Test length in seconds.
    """
    return {
        "site": site,
        "direction": direction,
        "throughput_mbps": round(50 + 900 * _unit(site, direction), 1),
    }


def open_ticket(
    site: str, issue: Literal["outage", "degradation", "hardware", "configuration"], urgency: Level
) -> dict:
    """Open a trouble ticket for the field team.

    Args:
        site: Site name, e.g. "harbor".
        issue: Kind of problem.
        urgency: How urgent the ticket is.
    """
    return {"status": "open", "ticket_id": int(9000 * _unit(site, issue)) + 1000}


# --- federated learning --------------------------------------------------------------------------
@tool_constraints(n_clients=(2, 200))
def select_fl_clients(
    n_clients: int, strategy: Literal["random", "battery", "bandwidth"] = "random", region: str = "all"
) -> dict:
    """Pick the devices that will take part in the next federated-learning round.

    Args:
        n_clients: Number of clients to select.
        strategy: Selection rule: random, or the devices with the most battery or bandwidth.
        region: Site name to select from, or "all".
    """
    return {"selected": n_clients, "strategy": strategy, "region": region}


@tool_constraints(n_clients=(2, 200), local_epochs=(1, 20))
def start_fl_round(model_name: ModelName, n_clients: int, local_epochs: int = 1) -> dict:
    """Start a federated-learning round now.

    Args:
        model_name: Model to train.
        n_clients: Number of participating clients.
        local_epochs: Local training epochs per client.
    """
    return {"status": "running", "round_id": int(90 * _unit(model_name, n_clients)) + 10}


@tool_constraints(start_time=TIME_PATTERN, n_clients=(2, 200), local_epochs=(1, 20))
def schedule_fl_round(model_name: ModelName, start_time: str, n_clients: int, local_epochs: int = 1) -> dict:
    """Schedule a federated-learning round to start later today.

    Args:
        model_name: Model to train.
        start_time: Start time, "HH:MM" on a 24-hour clock.
        n_clients: Number of participating clients.
        local_epochs: Local training epochs per client.
    """
    return {"status": "scheduled", "round_id": int(90 * _unit(model_name, start_time)) + 10}


@tool_constraints(round_id=(1, 999))
def aggregate_models(round_id: int, method: Literal["fedavg", "fedprox", "median"] = "fedavg") -> dict:
    """Aggregate the client updates of a finished round into a new global model.

    Args:
        round_id: Round whose updates are aggregated.
        method: Aggregation rule.
    """
    return {"status": "ok", "round_id": round_id, "global_version": round_id + 1}


def evaluate_global_model(
    model_name: ModelName,
    split: Literal["validation", "test"] = "test",
    metric: Literal["accuracy", "loss"] = "accuracy",
) -> dict:
    """Evaluate the current global model of a federated task on held-out data.

    Args:
        model_name: Model to evaluate.
        split: Data split to evaluate on.
        metric: Metric to report.
    """
    value = 0.7 + 0.25 * _unit(model_name, split) if metric == "accuracy" else 0.2 + 0.5 * _unit(model_name)
    return {"model_name": model_name, metric: round(value, 3)}


@tool_constraints(version=(1, 999))
def deploy_model(model_name: ModelName, site: str, version: int = 1) -> dict:
    """Deploy a trained global model to the edge servers of a site.

    Args:
        model_name: Model to deploy.
        site: Site name, e.g. "harbor", or "all".
        version: Global model version to deploy.
    """
    return {"status": "deployed", "model_name": model_name, "site": site, "version": version}


# name -> function, in catalog order (a plain dict)
TOOL_FUNCTIONS: dict[str, Callable[..., dict]] = {
    fn.__name__: fn
    for fn in (
        get_cell_kpi, get_cell_alarms, configure_slice, reroute_traffic, schedule_maintenance, set_power_mode,
        run_speed_test, open_ticket, select_fl_clients, start_fl_round, schedule_fl_round, aggregate_models,
        evaluate_global_model, deploy_model,
    )
}  # fmt: skip

# pairs a reader (and a model) can confuse: used to pick hard distractors
SIMILAR_TOOLS: dict[str, tuple[str, ...]] = {
    "get_cell_kpi": ("get_cell_alarms", "run_speed_test"),
    "get_cell_alarms": ("get_cell_kpi", "open_ticket"),
    "configure_slice": ("set_power_mode", "reroute_traffic"),
    "reroute_traffic": ("configure_slice", "schedule_maintenance"),
    "schedule_maintenance": ("schedule_fl_round", "reroute_traffic"),
    "set_power_mode": ("configure_slice", "schedule_maintenance"),
    "run_speed_test": ("get_cell_kpi", "evaluate_global_model"),
    "open_ticket": ("get_cell_alarms", "schedule_maintenance"),
    "select_fl_clients": ("start_fl_round", "schedule_fl_round"),
    "start_fl_round": ("schedule_fl_round", "select_fl_clients"),
    "schedule_fl_round": ("start_fl_round", "schedule_maintenance"),
    "aggregate_models": ("evaluate_global_model", "start_fl_round"),
    "evaluate_global_model": ("aggregate_models", "run_speed_test"),
    "deploy_model": ("evaluate_global_model", "aggregate_models"),
}


def tool_schema(fn: Callable) -> dict:
    """Derive the OpenAI-format schema of one tool function.

    ``transformers.utils.get_json_schema`` reads the type hints and the Google-style docstring;
    this function then adds the ranges/patterns declared with ``@tool_constraints``, the ``default`` of each
    optional argument (read from the signature), and drops the ``return`` entry (not OpenAI format).

    Example:
        >>> s = tool_schema(set_power_mode)["function"]["parameters"]
        >>> s["properties"]["mode"]["enum"], s["required"]
        (['eco', 'normal', 'boost'], ['cell_id', 'mode'])
    """
    from transformers.utils import get_json_schema

    schema = get_json_schema(fn)
    schema["function"].pop("return", None)
    properties = schema["function"]["parameters"]["properties"]
    for arg, param in inspect.signature(fn).parameters.items():
        if param.default is not inspect.Parameter.empty:
            properties[arg]["default"] = param.default
    for arg, constraint in getattr(fn, "__schema_constraints__", {}).items():
        if isinstance(constraint, str):
            properties[arg]["pattern"] = constraint
        else:
            properties[arg]["minimum"], properties[arg]["maximum"] = constraint
    return schema


@functools.cache
def _catalog_json() -> dict[str, str]:
    """name -> schema as a JSON string (derived once; ``json.loads`` makes cheap independent copies)."""
    return {name: json.dumps(tool_schema(fn)) for name, fn in TOOL_FUNCTIONS.items()}


def tool_schemas(names: list[str] | None = None) -> list[dict]:
    """Schemas (deep copies) of the named tools, in the given order; all tools when ``names`` is None.

    Example:
        >>> [t["function"]["name"] for t in tool_schemas(["open_ticket"])]
        ['open_ticket']
    """
    by_name = _catalog_json()
    unknown = sorted(set(names or ()) - set(by_name))
    if unknown:
        raise ValueError(f"unknown tool name(s) {unknown}; choose from {sorted(by_name)}")
    return [json.loads(by_name[n]) for n in (names if names is not None else list(by_name))]


@functools.cache
def shared_schema(name: str) -> dict:
    """The schema of one tool as a single shared object (no copy: treat it as read-only).

    The task generator puts these into thousands of tasks; copying each would dominate its run time.
    """
    (schema,) = tool_schemas([name])
    return schema


def call_tool(tool_call: dict) -> dict:
    """Validate a tool_call against its schema, then run the stub and return its result dict.

    Raises:
        ValueError: unknown tool, or arguments that do not validate (the message says which).
    """
    import jsonschema

    (schema,) = tool_schemas([tool_call["name"]])
    try:
        jsonschema.validate(tool_call["arguments"], schema["function"]["parameters"])
    except jsonschema.ValidationError as err:
        where = "/".join(map(str, err.absolute_path)) or "arguments"
        raise ValueError(f"{tool_call['name']}: {where}: {err.message}") from None
    return TOOL_FUNCTIONS[tool_call["name"]](**tool_call["arguments"])


def __getattr__(name: str):  # TOOLS is built on first use: deriving schemas imports transformers
    if name == "TOOLS":
        return tool_schemas()
    raise AttributeError(f"module 'netgpt_lite.tasks.tools' has no attribute {name!r}")
