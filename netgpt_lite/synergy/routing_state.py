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


# --- the synergy checkpoint's routing part: scorer + policy + KL -----------------------------------
def _scorer_state(scorer) -> tuple[dict, dict]:
    """A fitted LearnedScorer as (JSON fields, arrays): its scaler's mean/scale and the logistic weights."""
    scaler, clf = scorer.model_.steps[0][1], scorer.model_.steps[-1][1]
    meta = {"regularization_c": float(scorer.regularization_c), "seed": int(scorer.seed),
            "classes": [int(c) for c in clf.classes_]}
    arrays = {"scorer.mean": scaler.mean_, "scorer.scale": scaler.scale_, "scorer.var": scaler.var_,
              "scorer.coef": clf.coef_, "scorer.intercept": clf.intercept_}
    return meta, {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}


def _scorer_from_state(meta: dict, arrays: dict):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from netgpt_lite.edge.scoring import LearnedScorer

    scorer = LearnedScorer(float(meta["regularization_c"]), int(meta["seed"]))
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = (_array(arrays[f"scorer.{k}"], k) for k in ("mean", "scale", "var"))
    scaler.n_features_in_ = clf_n = scaler.mean_.shape[0]
    scaler.n_samples_seen_ = 1
    clf = LogisticRegression(C=scorer.regularization_c, random_state=scorer.seed)
    clf.coef_, clf.intercept_ = _array(arrays["scorer.coef"], "coef"), _array(arrays["scorer.intercept"], "intercept")
    if clf.coef_.shape != (1, clf_n) or clf.intercept_.shape != (1,):
        raise ValueError(f"scorer weights have shape {clf.coef_.shape} for {clf_n} features")
    clf.classes_, clf.n_features_in_ = np.asarray(meta["classes"]), clf_n
    scorer.model_ = make_pipeline(scaler, clf)
    return scorer


def _policynet_state(policy) -> tuple[dict, dict]:
    meta = {"kind": "policynet", "hidden": policy.hidden, "epochs": policy.epochs, "lr": float(policy.lr),
            "temperature": float(policy.temperature), "seed": int(policy.seed), "objective": policy.objective,
            "reward": float(policy.reward),
            "calibration": None if policy.calibration is None else calibration_to_dict(policy.calibration)}
    arrays = {"policy.mean": np.asarray(policy.mean_, float), "policy.std": np.asarray(policy.std_, float)}
    arrays |= {f"policy.model.{k}": v.detach().cpu().numpy() for k, v in policy.model.state_dict().items()}
    return meta, {k: np.ascontiguousarray(v) for k, v in arrays.items()}


def _policynet_from_state(meta: dict, arrays: dict):
    import torch

    from netgpt_lite.routing.policy_net import N_MONOTONE, PolicyNet, monotone_mlp

    net = PolicyNet(hidden=int(meta["hidden"]), epochs=int(meta["epochs"]), lr=float(meta["lr"]),
                    temperature=float(meta["temperature"]), seed=int(meta["seed"]), objective=str(meta["objective"]),
                    reward=float(meta["reward"]))
    net.mean_, net.std_ = _array(arrays["policy.mean"], "policy.mean"), _array(arrays["policy.std"], "policy.std")
    net.calibration = None if meta["calibration"] is None else calibration_from_dict(meta["calibration"])
    net.model = monotone_mlp(net.mean_.shape[0] - N_MONOTONE, net.hidden)
    prefix = "policy.model."
    state = {k[len(prefix):]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith(prefix)}
    net.model.load_state_dict(state)  # strict: a missing or extra tensor raises
    net.model.eval()
    return net


def save_routing(folder: str | Path, scorer, policy, kl_to_sft: float) -> None:
    """Write a synergy checkpoint's routing state: ``routing.json`` (+ ``routing.safetensors`` for arrays)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    payload: dict = {"format": ROUTING_FORMAT, "kl_to_sft": float(kl_to_sft), "scorer": None}
    arrays: dict = {}
    if scorer is not None:
        payload["scorer"], more = _scorer_state(scorer)
        arrays |= more
    if isinstance(policy, FuncDyn):
        payload["policy"] = {"kind": "funcdyn", **funcdyn_to_dict(policy)}
    elif type(policy).__name__ == "PolicyNet":
        payload["policy"], more = _policynet_state(policy)
        arrays |= more
    else:
        raise TypeError(f"cannot checkpoint a {type(policy).__name__} policy (FuncDyn or PolicyNet only)")
    if arrays:
        save_file(arrays, str(folder / TENSORS_FILE))
    (folder / ROUTING_FILE).write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")


def load_routing(folder: str | Path) -> dict:
    """Read :func:`save_routing`'s files: ``{"scorer", "policy", "kl_to_sft"}``.  Numbers only, no code runs.

    Raises:
        ValueError: naming the file and what to do, when a file is missing, truncated or not a checkpoint.
    """
    folder = Path(folder)
    path, tensors = folder / ROUTING_FILE, folder / TENSORS_FILE
    hint = "the checkpoint is damaged: resume from an earlier round or start a new run (--out)"
    if not path.exists() and (folder / "routing.pkl").exists():
        raise ValueError(f"{folder / 'routing.pkl'}: a checkpoint of an older netgpt-lite, written with pickle, which "
                         "is no longer loaded (unpickling can run code); start a new run (--out)")
    try:
        payload = json.loads(path.read_text())
        if not isinstance(payload, dict) or payload.get("format") != ROUTING_FORMAT:
            raise ValueError(f"format is not {ROUTING_FORMAT!r}")
        arrays = {}
        if tensors.exists() or payload.get("scorer") is not None or payload["policy"].get("kind") == "policynet":
            from safetensors.numpy import load_file

            arrays = load_file(str(tensors))
        scorer = None if payload.get("scorer") is None else _scorer_from_state(payload["scorer"], arrays)
        kind = payload["policy"].get("kind")
        if kind == "funcdyn":
            policy = funcdyn_from_dict(payload["policy"], str(path))
        elif kind == "policynet":
            policy = _policynet_from_state(payload["policy"], arrays)
        else:
            raise ValueError(f"unknown policy kind {kind!r}")
        return {"scorer": scorer, "policy": policy, "kl_to_sft": float(payload["kl_to_sft"])}
    except FileNotFoundError as err:
        raise ValueError(f"{err.filename or path}: missing; {hint}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot load the routing state ({type(err).__name__}: {err}); {hint}") from None
