"""The settings of a synergy run: :class:`SynergyConfig`, validated before any work starts.

Example:
    >>> SynergyConfig(rounds=2, calibration="platt").calibration
    'platt'
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from netgpt_lite.network.pricing import PRICING_SCHEDULES
from netgpt_lite.network.state import REGIMES
from netgpt_lite.routing.funcdyn import CALIBRATIONS

POLICIES = ("funcdyn", "policynet")
MIXED, REACHABLE = "mixed", "reachable"  # Markov chains over every regime / over the reachable ones only
CALIBRATION_CHOICES = ("auto", *CALIBRATIONS)  # "auto": chosen on the calibration set each round
# settings a run saved before they existed ran with these values (its state.json lacks the key): a resume compares
# against them, so such a run resumes with the setting it was made with and refuses another
SETTINGS_BEFORE_RECORDED = {"calibration": "isotonic"}
EDGES = ("tiny", "smollm2")  # the edge models a run can improve (how each trains: synergy.edge_models.RECIPES)


def saved_setting(saved: dict, name: str):
    """The value of setting ``name`` in a run's saved config (``state.json``), with
    :data:`SETTINGS_BEFORE_RECORDED` for a run saved before the setting existed.

    Example:
        >>> saved_setting({"seed": 0}, "calibration"), saved_setting({"seed": 0}, "seed")
        ('isotonic', 0)
    """
    return saved.get(name, SETTINGS_BEFORE_RECORDED.get(name))


@dataclass(frozen=True)
class SynergyConfig:
    """Settings of one synergy run (validated; vary with ``dataclasses.replace``).

    Attributes:
        rounds: improvement rounds after the round-0 evaluation, >= 1.
        requests_per_round: requests routed (and possibly logged) per round, >= 8.
        eval_requests: size of the fixed held-out evaluation stream, >= 8.
        calibration_tasks: labelled requests the calibration map and policy are refitted on, >= 16.
        scorer_refresh_every: refresh the learned scorer every k rounds; 0 never refreshes it.
        sft_epochs: SFT epochs of the edge on the accumulated cloud answers per round, >= 0.
        rl_steps: SFT-anchored RL steps per round after SFT, >= 0 (0 skips RL).
        seed: seed of everything random in the run, >= 0.
        trace: ``"mixed"`` (a Markov chain over every regime, outages and satellite included; ``"markov"``
            is the same), ``"reachable"`` (the chain over ``network.REACHABLE_REGIMES`` only: the cloud is
            always reachable in time, so the trade-off is cost and latency), a regime name from
            ``network.REGIMES``, or a path to a trace CSV.
        pricing: a schedule name from ``pricing.PRICING_SCHEDULES``.
        policy: routing policy, ``"funcdyn"`` or ``"policynet"``.
        edge: which edge model the run improves: ``"tiny"`` (the from-scratch lesson model) or ``"smollm2"``
            (SmolLM2-135M with the shipped LoRA adapter; ``initial_edge`` and ``warmup_*`` do not apply).
        initial_edge: the tiny round-0 edge: ``"shipped"`` (the packaged checkpoint; trained from scratch
            if none is shipped), ``"scratch"``, or a folder saved by ``edge_lm.save_edge_model``.
        warmup_tasks: SFT examples that train the round-0 edge from scratch, >= 16.
        warmup_epochs: SFT epochs of the round-0 edge, >= 1.
        edge_decoding: how the edge answers: ``"greedy"``, or ``"retry"``: greedy, and a schema-invalid call
            is generated again under the schema mask (needs llguidance), so an invalid call is not kept when
            the cloud is not worth waiting for (an outage) -- the service's rule too.
        calibration: FuncDyn's calibration map g, refitted every round on the labelled calibration set:
            ``"auto"`` (Platt or isotonic, whichever has the lower cross-validated log-loss on that set:
            :func:`~netgpt_lite.synergy.calibration.choose_calibration`), ``"platt"`` or ``"isotonic"``.

    Example:
        >>> SynergyConfig(rounds=2).rounds
        2
    """

    rounds: int = 4
    requests_per_round: int = 400
    eval_requests: int = 300
    calibration_tasks: int = 300
    scorer_refresh_every: int = 1
    sft_epochs: int = 3
    rl_steps: int = 4
    seed: int = 0
    trace: str = "markov"
    pricing: str = "flat"
    policy: str = "funcdyn"
    edge: str = "tiny"
    initial_edge: str = "shipped"
    warmup_tasks: int = 600
    warmup_epochs: int = 4
    edge_decoding: str = "greedy"
    calibration: str = "auto"

    def __post_init__(self) -> None:
        minimums = {"rounds": 1, "requests_per_round": 8, "eval_requests": 8, "calibration_tasks": 16,
                    "scorer_refresh_every": 0, "sft_epochs": 0, "rl_steps": 0, "seed": 0, "warmup_tasks": 16,
                    "warmup_epochs": 1}
        for name, low in minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if self.rounds > 800:  # round seeds must not collide with the held-out streams' (synergy_stages)
            raise ValueError(f"rounds must be <= 800; got {self.rounds}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}; got {self.policy!r}")

        is_csv = self.trace.endswith(".csv") and Path(self.trace).is_file()
        if self.edge not in EDGES:
            raise ValueError(f"edge must be one of {EDGES}; got {self.edge!r}")
        if self.trace not in REGIMES and self.trace not in ("markov", MIXED, REACHABLE) and not is_csv:
            raise ValueError(f"trace must be 'mixed', 'reachable', a regime in {sorted(REGIMES)} or an existing .csv "
                             f"file with columns t, bandwidth_mbps, rtt_ms; got {self.trace!r}")
        if self.initial_edge not in ("shipped", "scratch") and not (Path(self.initial_edge) / "config.json").exists():
            raise ValueError(f"initial_edge must be 'shipped', 'scratch' or a saved edge model folder; "
                             f"got {self.initial_edge!r} (no config.json there)")

        if self.edge_decoding not in ("greedy", "retry"):
            raise ValueError(f"edge_decoding must be 'greedy' or 'retry'; got {self.edge_decoding!r}")
        if self.edge_decoding == "retry" and importlib.util.find_spec("llguidance") is None:
            raise ValueError("edge_decoding='retry' needs llguidance (pip install llguidance); or use 'greedy'")
        if self.calibration not in CALIBRATION_CHOICES:
            raise ValueError(f"calibration must be one of {CALIBRATION_CHOICES}; got {self.calibration!r}")
        if self.pricing not in PRICING_SCHEDULES:
            raise ValueError(f"pricing must be one of {sorted(PRICING_SCHEDULES)}; got {self.pricing!r}")
