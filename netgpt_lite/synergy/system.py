"""The edge-cloud system a synergy round routes with, and its checkpoint files.

An :class:`EdgeCloudSystem` bundles what routes a request: the edge LM, its scorer and the routing policy.
:func:`save_system` writes it as a checkpoint folder (safetensors and JSON, no pickle) and
:func:`load_system` reads it back; :func:`mix_systems` pairs one system's edge with another's routing for the
gain decomposition.

Example:
    >>> from netgpt_lite.routing.policies import AlwaysCloud
    >>> system = EdgeCloudSystem(model=None, tokenizer=None, scorer=None, policy=AlwaysCloud())
    >>> system.scorer is None, system.scorer_choice
    (True, {})
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from netgpt_lite.synergy.edge_models import load_edge, save_edge
from netgpt_lite.synergy.routing_state import load_routing, save_routing

RL_LOG_FILE = "rl_log.json"  # a checkpoint's record of the RL steps that made it
SCORER_CHOICE_FILE = "scorer_choice.json"  # a checkpoint's record of how its round chose the scorer
CALIBRATION_CHOICE_FILE = "calibration_choice.json"  # ... and how it chose FuncDyn's calibration map


@dataclass
class EdgeCloudSystem:
    """Everything that routes: the edge LM, its scorer (None: self-confidence) and the policy.

    ``template`` is the edge's prompt format (``{"tool_format": ...}`` for SmolLM2, ``{}`` for the tiny
    model); ``optimizers`` the edge's optimiser states carried from round to round (``{"sft": ..., "rl": ...}``
    of :class:`~netgpt_lite.edge.optimizer_state.OptimizerState`, SmolLM2 only: saved with the adapter);
    ``outputs`` caches the edge's greedy answers per task list (greedy decoding is deterministic, so the gain
    decomposition evaluates each edge once, not once per routing); it is never saved.  ``rl_log`` holds the
    round's RL steps (:data:`~netgpt_lite.synergy.edge_models.RL_LOG_KEYS`), reported with the round's metrics.
    ``scorer_choice`` records how the round chose its scorer (:func:`~netgpt_lite.synergy.scorer_choice.
    better_scorer`: each candidate's AUROC on the calibration set and the one kept); empty when the round
    kept its scorer without a choice.  ``calibration_choice`` records FuncDyn's calibration map and how it
    was chosen (:func:`~netgpt_lite.synergy.calibration.choose_calibration`); empty for PolicyNet.
    """

    model: object
    tokenizer: object
    scorer: object | None
    policy: object
    kl_to_sft: float = 0.0
    template: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    optimizers: dict = field(default_factory=dict)
    rl_log: list = field(default_factory=list)
    scorer_choice: dict = field(default_factory=dict)
    calibration_choice: dict = field(default_factory=dict)


def save_system(system: EdgeCloudSystem, folder: Path) -> None:
    """The edge (safetensors: the tiny model or the SmolLM2 adapter), the routing state (JSON + safetensors,
    :func:`save_routing`), the round's RL log, its scorer and calibration choices (JSON); no pickle."""
    save_edge(system, Path(folder))
    save_routing(folder, system.scorer, system.policy, system.kl_to_sft)
    # inside the checkpoint's atomic folder, so a resumed run reports what the round measured
    (Path(folder) / RL_LOG_FILE).write_text(json.dumps(system.rl_log))
    (Path(folder) / SCORER_CHOICE_FILE).write_text(json.dumps(system.scorer_choice))
    (Path(folder) / CALIBRATION_CHOICE_FILE).write_text(json.dumps(system.calibration_choice))


def load_system(folder: Path, config) -> EdgeCloudSystem:
    """Read :func:`save_system`'s checkpoint; numbers only (loading never runs code from the files)."""
    model, tokenizer, template, optimizers = load_edge(Path(folder), config)
    routing = load_routing(folder)
    # absent from checkpoints written before these records were kept
    steps = _read_json(Path(folder) / RL_LOG_FILE, [])
    choice = _read_json(Path(folder) / SCORER_CHOICE_FILE, {})
    calibration = _read_json(Path(folder) / CALIBRATION_CHOICE_FILE, {})
    return EdgeCloudSystem(model, tokenizer, routing["scorer"], routing["policy"], routing["kl_to_sft"], template,
                           optimizers=optimizers, rl_log=steps if isinstance(steps, list) else [],
                           scorer_choice=choice if isinstance(choice, dict) else {},
                           calibration_choice=calibration if isinstance(calibration, dict) else {})


def _read_json(path: Path, missing):
    """``path``'s JSON, or ``missing`` when the file is absent; a clear error naming the file when broken."""
    try:
        return json.loads(path.read_text()) if path.exists() else missing
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not readable JSON ({err})") from None


def mix_systems(edge_from: EdgeCloudSystem, routing_from: EdgeCloudSystem) -> EdgeCloudSystem:
    """The edge LM of one system with the scorer and policy of another (gain decomposition); the edge's
    cached answers go with it."""
    # no calibration_choice: that record (and the other-map counterfactual it enables) describes a map fitted on
    # the routing system's own edge, which a mixed pair is not
    return EdgeCloudSystem(edge_from.model, edge_from.tokenizer, routing_from.scorer, routing_from.policy,
                           edge_from.kl_to_sft, edge_from.template, edge_from.outputs, edge_from.optimizers)
