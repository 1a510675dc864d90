"""The router's state as plain files: FuncDyn as JSON, the learned scorer and PolicyNet as JSON + safetensors.

Checkpoints of the synergy loop (``checkpoints/round_RRR/routing.json``) and the router service's
shipped policies (``netgpt_lite/data/serve/funcdyn_<edge>.json``) are written here.  Loading reads numbers
only: JSON through ``json`` and tensors through ``safetensors`` -- never ``pickle``, so a checkpoint
from anywhere cannot run code.  Every reader checks the ``format`` tag and the fields and raises
``ValueError`` naming the file and what to do when something is off.

Example:
    >>> from netgpt_lite.network.state import LatencyModel
    >>> from netgpt_lite.routing.policies import FuncDyn
    >>> from netgpt_lite.theory.threshold import LogisticCalibration, UtilityWeights
    >>> policy = FuncDyn(LogisticCalibration(6.0, -3.0), 0.97, 20.0, 400.0, UtilityWeights(), LatencyModel())
    >>> funcdyn_from_dict(funcdyn_to_dict(policy)) == policy
    True
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from netgpt_lite.edge.scoring import IsotonicCalibration
from netgpt_lite.network.state import LatencyModel
from netgpt_lite.routing.policies import FuncDyn
from netgpt_lite.theory.threshold import LogisticCalibration, UtilityWeights

FUNCDYN_FORMAT = "netgpt-lite/funcdyn/v1"
ROUTING_FORMAT = "netgpt-lite/routing/v1"
ROUTING_FILE = "routing.json"
TENSORS_FILE = "routing.safetensors"


def calibration_to_dict(calibration) -> dict:
    """A calibration map as JSON: ``{"kind": "logistic", "a", "b"}`` or ``{"kind": "isotonic", knots}``."""
    if isinstance(calibration, LogisticCalibration):
        return {"kind": "logistic", "a": float(calibration.a), "b": float(calibration.b)}
    if isinstance(calibration, IsotonicCalibration):
        return {"kind": "isotonic", "score_knots": [float(x) for x in calibration.score_knots],
                "prob_knots": [float(y) for y in calibration.prob_knots]}
    raise TypeError(f"cannot save a {type(calibration).__name__} calibration (logistic or isotonic only)")


def calibration_from_dict(data: dict):
    """The calibration map of :func:`calibration_to_dict` (its own ``__post_init__`` checks the numbers)."""
    kind = data.get("kind")
    if kind == "logistic":
        return LogisticCalibration(float(data["a"]), float(data["b"]))
    if kind == "isotonic":
        return IsotonicCalibration(_array(data["score_knots"], "score_knots"), _array(data["prob_knots"], "prob_knots"))
    raise ValueError(f"calibration kind {kind!r} is not 'logistic' or 'isotonic'")


def funcdyn_to_dict(policy: FuncDyn) -> dict:
    """FuncDyn's parameters as a JSON-able dict (calibration, estimates, tuned scale and temperature, weights)."""
    return {"format": FUNCDYN_FORMAT, "name": policy.name, "calibration": calibration_to_dict(policy.calibration),
            "q_cloud": float(policy.q_cloud), "cloud_output_tokens": float(policy.cloud_output_tokens),
            "response_bytes": float(policy.response_bytes),
            "penalty_scale": float(getattr(policy, "penalty_scale", 1.0)),
            "temperature": float(getattr(policy, "temperature", 1.0)),
            "weights": {k: float(v) for k, v in dataclasses.asdict(policy.weights).items()},
            "latency": {k: float(v) for k, v in dataclasses.asdict(policy.latency).items()}}


def funcdyn_from_dict(data: dict, where: str = "FuncDyn parameters") -> FuncDyn:
    """The FuncDyn of :func:`funcdyn_to_dict`; ``ValueError`` naming ``where`` when a field is wrong."""
    try:
        if data.get("format") != FUNCDYN_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {FUNCDYN_FORMAT!r}")
        tuned = {k: float(data[k]) for k in ("penalty_scale", "temperature") if k in data}
        return FuncDyn(calibration_from_dict(data["calibration"]), float(data["q_cloud"]),
                       float(data["cloud_output_tokens"]), float(data["response_bytes"]),
                       UtilityWeights(**_floats(data["weights"], _field_names(UtilityWeights))),
                       LatencyModel(**_floats(data["latency"], _field_names(LatencyModel))),
                       name=str(data.get("name", "funcdyn")), **tuned)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{where}: not a valid FuncDyn ({type(err).__name__}: {err}); refit it") from None


def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _floats(data: dict, names: tuple[str, ...]) -> dict:
    if not isinstance(data, dict):
        raise TypeError(f"expected an object with {list(names)}")
    return {n: float(data[n]) for n in names if n in data}


def save_funcdyn(policy: FuncDyn, path: str | Path) -> Path:
    """Write FuncDyn's parameters to a JSON file (atomically)."""
    from netgpt_lite.provenance import atomic_write_json

    path = Path(path)
    atomic_write_json(path, funcdyn_to_dict(policy))
    return path


def load_funcdyn(path: str | Path) -> FuncDyn:
    """Read a FuncDyn written by :func:`save_funcdyn`; ``ValueError`` naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read a FuncDyn JSON file ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a FuncDyn JSON object")
    return funcdyn_from_dict(data, str(path))


def _array(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds non-finite numbers")
    return arr
