"""The sizes of ``netgpt-lite reproduce``: which experiments run, on what, and how big (fast or full preset).

One frozen :class:`ReproduceConfig` describes a whole run of E1-E6; every experiment module
(:mod:`~netgpt_lite.experiments.routing_experiments`, :mod:`~netgpt_lite.experiments.synergy_experiments`)
reads its sizes from it and :mod:`~netgpt_lite.experiments.reproduce` records it in the run's manifest.

Example:
    >>> cfg = ReproduceConfig.preset(fast=True, only=("E3",))
    >>> cfg.synergy_edge, cfg.only
    ('tiny', ('E3',))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from netgpt_lite.experiments.frontier import LTE_DRIVE, named_source
from netgpt_lite.network.state import REGIMES
from netgpt_lite.synergy.loop import EDGES

EXPERIMENTS = ("E1", "E2", "E3", "E4", "E5", "E6")


@dataclass(frozen=True)
class ReproduceConfig:
    """Sizes of the experiments (``fast`` shrinks data and steps, never the experiments themselves).

    Attributes:
        fast: the fast preset (CI, the book's fast mode) instead of the full one.
        seeds: evaluation seeds of E3 (>= 1; the book reports >= 3) and E5.
        n_test, n_logs: tasks in the test / log proposal tables (chapter 5).
        n_requests: requests per evaluation stream (E3).
        policynet_epochs: PolicyNet training epochs.
        rl_steps, rl_eval: RL steps and evaluation tasks per E5 run.
        synergy_rounds, synergy_requests: rounds and requests per round of E4/E6.
        synergy_eval: held-out evaluation requests of E4/E6.
        synergy_calibration: labelled calibration tasks the policy is refitted on each round.
        synergy_edge: the edge E4/E6 improve (``smollm2``, or ``tiny`` in the fast preset).
        synergy_traces: E4's traces (the first one carries the arms and E6).
        synergy_seeds: E4's seeds (the first one carries the arms and E6).
        synergy_rl_steps: SFT-anchored RL steps per round.
        synergy_decoding: how E4/E6's edge answers (:attr:`~netgpt_lite.synergy.config.SynergyConfig.edge_decoding`):
            ``"greedy"``, or ``"retry"``: a schema-invalid call is generated again under the schema mask.
        workers: synergy runs computed at once, each in its own process (torch threads split between them);
            each holds one SmolLM2 run, so the resident memory of E4 grows with it (``--workers 1``: one).
        round_processes: each synergy round in a process of its own, which ends when the round is committed
            (:func:`~netgpt_lite.experiments.synergy_experiments.synergy_job`): a round's memory is its own.
            The fast preset keeps its small rounds in one process (a new process costs seconds).
        seed: the run's base seed.
        regimes: static regimes: E1's nominal states and E3's sanity-check cells.
        traces: E3's time-varying trace sources (``mixed``, ``commute``, ``lte_drive``: the shipped
            self-made Mahimahi drive).
        pricings: E3's pricing schedules.
        edge: whose proposal tables E1-E3 route: ``smollm2`` (the shipped SmolLM2 edge outputs) or
            ``tiny`` (the from-scratch model, run now).
        log_source: where E1-E3's policies get their logs: ``"deployment"`` (the evaluation's own traffic on
            another day, what a deployed router has; E3 then adds the validation logs as its ``shift`` arm) or
            ``"validation"`` (the validation split's phrasings only: a shift from the test phrasings they are
            evaluated on).
        only: the experiments to run (``--only``); the others are left out of ``results.json``.
    """

    fast: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    n_test: int = 300
    n_logs: int = 300
    n_requests: int = 2000
    policynet_epochs: int = 400
    rl_steps: int = 4
    rl_eval: int = 60
    # E4/E6 at a size that resolves their claims on SmolLM2: 300 held-out requests per round (a paired
    # change of 5 points is resolved); 6 RL steps a round (384 rollouts) were sized for ~150 training
    # answers, E5's ~3 rollouts per cloud answer (768 for 256 there), assuming half offload; round 0
    # offloads about a fifth (~65 training answers a round); the edge answers as the service does
    # ("retry": no invalid call is kept when the cloud cannot answer)
    synergy_rounds: int = 4
    synergy_requests: int = 384
    synergy_eval: int = 300
    synergy_calibration: int = 128
    synergy_edge: str = "smollm2"
    synergy_traces: tuple[str, ...] = ("reachable", "mixed")
    synergy_seeds: tuple[int, ...] = (0, 1)
    synergy_rl_steps: int = 6
    synergy_decoding: str = "retry"
    workers: int = 2
    round_processes: bool = True
    seed: int = 0
    regimes: tuple[str, ...] = ("5g_good", "4g", "congested", "satellite", "near_outage")
    traces: tuple[str, ...] = ("mixed", "commute", LTE_DRIVE)
    pricings: tuple[str, ...] = ("flat", "peak_offpeak", "surge")
    edge: str = "smollm2"
    log_source: str = "deployment"
    only: tuple[str, ...] = EXPERIMENTS
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.seeds or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be a non-empty tuple of integers >= 0; got {self.seeds}")
        for name in ("edge", "synergy_edge"):
            if getattr(self, name) not in EDGES:
                raise ValueError(f"{name} must be one of {list(EDGES)}; got {getattr(self, name)!r}")
        bad = [e for e in self.only if e not in EXPERIMENTS]
        if bad or not self.only:
            raise ValueError(f"only must name experiments among {list(EXPERIMENTS)}; got {list(self.only)}")
        if self.log_source not in ("validation", "deployment"):
            raise ValueError(f"log_source must be 'validation' or 'deployment'; got {self.log_source!r}")
        if self.synergy_decoding not in ("greedy", "retry"):
            raise ValueError(f"synergy_decoding must be 'greedy' or 'retry'; got {self.synergy_decoding!r}")
        for name in self.traces:
            named_source(name)  # raises for an unknown trace
        for name in self.regimes:
            if name not in REGIMES:
                raise ValueError(f"regimes must be names from {list(REGIMES)}; got {name!r}")
        if not self.synergy_traces or not self.synergy_seeds or any(s < 0 for s in self.synergy_seeds):
            raise ValueError("synergy_traces and synergy_seeds must be non-empty (seeds >= 0); got "
                             f"{self.synergy_traces}, {self.synergy_seeds}")
        for name in ("n_test", "n_logs", "n_requests", "policynet_epochs", "rl_steps", "rl_eval",
                     "synergy_rounds", "synergy_requests", "synergy_eval", "synergy_calibration", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")

    @classmethod
    def preset(cls, fast: bool, seed: int = 0, only=EXPERIMENTS, workers: int | None = None) -> ReproduceConfig:
        """The documented fast or full preset (``only``: a subset of :data:`EXPERIMENTS`; ``workers``: synergy
        runs at once, None for the preset's)."""
        cfg = cls._preset(fast, seed, only)
        return cfg if workers is None else dataclasses.replace(cfg, workers=workers)

    @classmethod
    def _preset(cls, fast: bool, seed: int, only) -> ReproduceConfig:
        if not fast:
            return cls(seed=seed, synergy_seeds=(seed, seed + 1), only=tuple(only))
        return cls(fast=True, seed=seed, n_test=200, n_logs=200, n_requests=400, policynet_epochs=100,
                   rl_steps=3, rl_eval=32, synergy_rounds=2, synergy_requests=96, synergy_eval=96,
                   synergy_calibration=96, synergy_edge="tiny", synergy_seeds=(seed,), synergy_rl_steps=1,
                   synergy_decoding="greedy", workers=1, round_processes=False,
                   traces=("mixed", LTE_DRIVE), regimes=("4g", "near_outage"), only=tuple(only))
