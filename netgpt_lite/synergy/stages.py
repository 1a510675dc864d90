"""The real stages of the synergy loop: route with the edge LM and the simulated cloud, learn from the log.

:mod:`netgpt_lite.synergy.loop` orchestrates a round and keeps it crash-safe; this module says what a round
does with the library's parts:

* **The world.**  Requests come from the *deployment* distribution: the ``test`` split, whose phrasing
  templates the round-0 edge never saw in training (so the edge starts weak there and has something
  to learn from the cloud).  Round ``r`` routes ``requests_per_round`` new tasks, one simulated day,
  under the run's network trace and pricing schedule.  A fixed held-out stream of the same
  distribution (other seeds) measures every round.
* **Route** (:func:`route_round`): the edge answers and scores each request (self-confidence, or the
  learned scorer once fitted); the policy (FuncDyn or PolicyNet) gives a threshold per request from
  the network state and price; the requests below it fall back, and the cloud's answers are logged.
* **Improve** (:func:`improve`): SFT of the edge on the logged cloud answers (TRL, completion-only),
  then short SFT-anchored RL (:func:`netgpt_lite.rl.train_minimal`) with the checker's reward against
  the *cloud's* call (the only answer a deployment has); every ``scorer_refresh_every`` rounds the
  learned scorer is refitted on logged requests held out of training (label: the edge's call matches
  the cloud's) and replaces the current scorer only when it ranks the edge's answers better on the
  calibration set (:mod:`netgpt_lite.synergy.scoring`); the calibration map (Platt or isotonic, chosen by
  cross-validated log-loss unless ``config.calibration`` names one), FuncDyn and PolicyNet are refitted on a
  small labelled calibration set re-answered by the new edge.  20% of logged requests (by a hash of their id) are
  held out of SFT/RL so the scorer never learns from answers the edge was trained on.

Example:
    >>> from netgpt_lite.synergy.loop import SynergyConfig, run_synergy     # doctest: +SKIP
    >>> run_synergy(SynergyConfig(rounds=2), "runs/syn", stages=default_stages())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from functools import partial

import numpy as np

from netgpt_lite.edge.evaluation import evaluate, verdicts
from netgpt_lite.edge.scoring import auroc
from netgpt_lite.network.state import REACHABLE_REGIMES, REGIMES, LatencyModel
from netgpt_lite.network.traces import markov_trace, read_trace_csv
from netgpt_lite.routing.funcdyn import CALIBRATIONS
from netgpt_lite.routing.metrics import summarize, summarize_intervals
from netgpt_lite.routing.policies import AlwaysCloud, AlwaysEdge, FuncDyn, RoutingContext
from netgpt_lite.routing.policy_net import PolicyNet
from netgpt_lite.routing.simulator import (
    MIXED,
    SimulationConfig,
    Stream,
    make_stream,
    outcomes,
    simulate,
    stream_context,
)
from netgpt_lite.routing.tables import proposal_table
from netgpt_lite.runtime import fast_mode, release_freed_memory
from netgpt_lite.synergy.answer_cache import cached_answers
from netgpt_lite.synergy.calibration import choose_calibration
from netgpt_lite.synergy.edge_models import (
    RECIPES,
    edge_agent,
    initial_edge,
    train_edge,
)
from netgpt_lite.synergy.loop import (
    REACHABLE,
    SynergyConfig,
    SynergyStages,
)
from netgpt_lite.synergy.real_cloud import with_cloud_answers
from netgpt_lite.synergy.scoring import better_scorer, edge_scores, fit_scorer, scorer_name
from netgpt_lite.synergy.system import EdgeCloudSystem, load_system, mix_systems, save_system
from netgpt_lite.tasks.generate import Task, generate_tasks
from netgpt_lite.theory.threshold import UtilityWeights

SCORER_HOLDOUT_SHARE = 0.2  # share of logged requests kept out of SFT/RL to fit the scorer on
PER_REQUEST_FIELDS = ("success", "schema_valid", "fallback", "cost_usd", "utility")  # kept per evaluation request
POLICYNET_WORLDS = 4  # copies of the calibration set under different network/price draws for PolicyNet


# --- seeds and the world ---------------------------------------------------------------------------
def task_seed(config, segment: int) -> int:
    """Seed of round ``segment``'s tasks (segments >= 900 are the eval and calibration sets)."""
    return 1000 * (config.seed + 1) + segment


EVAL_SEGMENT, CALIBRATION_SEGMENT = 900, 950


def deployment_tasks(config, segment: int, n: int) -> list:
    return generate_tasks("test", n, seed=task_seed(config, segment))


def world_stream(config, table, segment: int, trace: str | None = None) -> Stream:
    """One simulated day: every request of ``table`` once, in order (cloud draw 0), under the run's
    trace and pricing schedule, built by :func:`~netgpt_lite.routing.simulator.make_stream`.

    ``trace`` (default ``config.trace``): ``"markov"`` (a chain over every regime, ~10 requests per
    visit), a regime name, or a CSV replayed sample by sample.  Seeded by ``(config.seed, segment)``.

    Example:
        >>> from netgpt_lite.routing.simulator import synthetic_table
        >>> stream = world_stream(synergy_config(fast=True), synthetic_table(24), segment=0, trace="4g")
        >>> len(stream), set(stream.trace.regime.tolist()) <= set(REGIMES)
        (24, True)
    """
    trace = trace or config.trace
    n = len(table)
    named = trace in ("markov", MIXED) or trace in REGIMES
    sim = SimulationConfig(n_requests=n, regime=trace if trace in REGIMES else MIXED, pricing=config.pricing,
                           stay_prob=0.9, seed=config.seed)  # 0.9: ~10 requests per regime visit
    rng = np.random.default_rng([config.seed, segment])
    if trace == REACHABLE:  # the same chain over the regimes where the cloud is reachable in time
        states = markov_trace(n, rng, regimes=REACHABLE_REGIMES, stay_prob=sim.stay_prob, jitter=sim.jitter)
    else:
        states = None if named else read_trace_csv(trace)
    return make_stream(table, sim, trace=states, rows=np.arange(n), cloud_draw=np.zeros(n, dtype=int), rng=rng)


# --- the edge and the table ---------------------------------------------------------------------------
def answer(system: EdgeCloudSystem, agent, tasks) -> list:
    """The edge's outputs for ``tasks``, computed once per system and task list (``system.outputs``) and, across
    runs and processes, once per weights and settings (:func:`~netgpt_lite.synergy.answer_cache.cached_answers`)."""
    key = tuple(t.task_id for t in tasks)
    if key not in system.outputs:  # the one evaluator: the same answers eval-edge and E5 would see
        system.outputs[key] = cached_answers(system.model, agent, tasks, lambda ts: evaluate(agent, ts).outputs)
        # generation runs outside training_memory: its freed KV caches stay resident in the heap (a worker's
        # heap held 0.9 GB of free chunks after answering) until trimmed; trimming lowers what stays between
        # phases (scripts/bench_round_memory.py), not RL's own peak
        release_freed_memory()
    return system.outputs[key]


def _proposals(tasks, outputs, scores, config, cloud=None):
    """The round's proposal table and cloud calls: the simulated cloud's, or a real ``cloud`` agent's."""
    table, calls = proposal_table(tasks, outputs, scores, cloud_seed=config.seed)
    return (table, calls) if cloud is None else with_cloud_answers(table, tasks, cloud)


# --- routing policies -------------------------------------------------------------------------------
def fit_policy(system: EdgeCloudSystem, config, cloud=None) -> tuple[object, dict]:
    """Refit the calibration map, FuncDyn and (if asked) PolicyNet on the labelled calibration set.

    Returns the policy and how its calibration map was chosen (``config.calibration``; for ``"auto"`` the
    cross-validated log-loss of each map on the calibration set, :func:`choose_calibration`) with the set's
    ``calibration_set`` (each request's score and whether the edge and the cloud answered it right); the record
    is empty for PolicyNet, which fits its own map."""

    tasks = deployment_tasks(config, CALIBRATION_SEGMENT, config.calibration_tasks)
    agent = edge_agent(system, config.edge_decoding)
    outputs = answer(system, agent, tasks)
    table, _ = _proposals(tasks, outputs, edge_scores(system, agent, outputs), config, cloud)
    right = table.edge_correct
    if right.all() or not right.any():  # Platt needs both outcomes: add one pseudo-count each way
        right = right.copy()
        right[np.argmin(table.edge_score)], right[np.argmax(table.edge_score)] = False, True
    method, choice = config.calibration, {"chosen": config.calibration}
    if method == "auto":  # the fold split depends on the run's seed only: a resumed round chooses the same
        method, choice = choose_calibration(table.edge_score, right,
                                            np.random.default_rng([config.seed, CALIBRATION_SEGMENT]))
    # the labels themselves (before any pseudo-count), so that a score cut can later be chosen on this set
    # alone, as a deployed router would, and judged on the held-out requests
    choice["calibration_set"] = {"score": np.round(np.asarray(table.edge_score, dtype=float), 8).tolist(),
                                 "edge_correct": table.edge_correct.astype(bool).tolist(),
                                 "cloud_correct": np.asarray(table.cloud_correct[:, 0], dtype=bool).tolist()}
    policy = FuncDyn.fit(table.edge_score, right, table.cloud_correct[:, 0], table.cloud_output_tokens[:, 0],
                         table.response_bytes[:, 0], UtilityWeights(), LatencyModel(), calibration=method)
    if config.policy == "policynet":
        contexts, gains = [], []
        for k in range(POLICYNET_WORLDS):  # every regime, so the net sees the network vary
            stream = world_stream(config, table, CALIBRATION_SEGMENT + 1 + k, trace="markov")
            both = outcomes(table, stream)
            contexts.append(stream_context(table, stream))
            gains.append((both["edge_utility"], both["cloud_utility"]))
        ctx = _concat_contexts(contexts)
        policy, choice = PolicyNet(seed=config.seed).fit(ctx, np.concatenate([g[0] for g in gains]),
                                                         np.concatenate([g[1] for g in gains])), {}
    return policy, choice


def _concat_contexts(contexts):
    from dataclasses import fields

    return RoutingContext(**{f.name: np.concatenate([getattr(c, f.name) for c in contexts])
                             for f in fields(RoutingContext)})  # edge_correct too: PolicyNet's kappa target


# --- the stages ---------------------------------------------------------------------------------------
def init_system(config, cloud=None) -> EdgeCloudSystem:
    """Round 0: the shipped edge (tiny checkpoint, or trained from scratch; SmolLM2's shipped SFT adapter),
    self-confidence, a fitted policy."""

    model, tokenizer, template = initial_edge(config)
    system = EdgeCloudSystem(model, tokenizer, scorer=None, policy=None, template=template)
    system.policy, system.calibration_choice = fit_policy(system, config, cloud)
    return system


def route_round(system: EdgeCloudSystem, config, r: int, cloud=None) -> list[dict]:
    """Route round ``r``'s requests; one log record per request the cloud answered."""

    tasks = deployment_tasks(config, r, config.requests_per_round)
    agent = edge_agent(system, config.edge_decoding)
    outputs = agent.run(tasks)
    table, calls = _proposals(tasks, outputs, edge_scores(system, agent, outputs), config, cloud)
    log = simulate(system.policy, table, world_stream(config, table, r))
    return [{"request_id": t.task_id, "round": r, "task": json.dumps(t.to_dict()), "cloud_call": json.dumps(c),
             "edge_completion": o.completion, "edge_score": float(log["score"][i]),
             "threshold": float(log["threshold"][i]), "bandwidth_mbps": float(log["bandwidth_mbps"][i]),
             "rtt_ms": float(log["rtt_ms"][i]), "usd_per_1k_input": float(log["usd_per_1k_input"][i]),
             "scorer_holdout": is_scorer_holdout(t.task_id)}
            for i, (t, o, c) in enumerate(zip(tasks, outputs, calls)) if log["fallback"][i] and c is not None]


def trainable_rows(rows: list[dict]) -> list[dict]:
    """The logged answers that are tool calls (a deployment's log also keeps the cloud's plain-text and
    malformed answers, ``answer_kind`` != ``"tool_call"``: nothing to teach a tool-calling edge).

    Example:
        >>> [r["id"] for r in trainable_rows([{"id": 1}, {"id": 2, "answer_kind": "text"}])]
        [1]
    """
    return [row for row in rows if (row.get("answer_kind") or "tool_call") == "tool_call"]


def is_scorer_holdout(request_id: str) -> bool:
    """Whether a logged request is kept out of SFT/RL for fitting the scorer (stable hash of its id)."""
    return zlib.crc32(request_id.encode()) % 1000 < 1000 * SCORER_HOLDOUT_SHARE


def improve(system: EdgeCloudSystem, log, config, r: int, cloud=None) -> EdgeCloudSystem:
    """SFT then SFT-anchored RL on the logged cloud answers the edge's recipe picks (:data:`RECIPES`: all of
    them, or the round's new ones); refresh the scorer; refit the policy."""

    release_freed_memory()  # what routing's answers and scores left in the heap, before training peaks
    recipe = RECIPES[config.edge]
    rows = trainable_rows(log.to_list() if len(log) else [])
    train = [(Task.from_dict(json.loads(x["task"])), json.loads(x["cloud_call"])) for x in rows
             if not x["scorer_holdout"] and recipe.uses_answer(x["round"], r)]
    held = [(Task.from_dict(json.loads(x["task"])), json.loads(x["cloud_call"])) for x in rows if x["scorer_holdout"]]
    new = EdgeCloudSystem(system.model, system.tokenizer, system.scorer, system.policy, template=system.template,
                          optimizers=system.optimizers)  # trained in place, like the model
    if train and recipe.trains(config):
        new.model, new.kl_to_sft, new.rl_log = train_edge(system, train, config, r)
        release_freed_memory()  # the SFT and RL steps' freed pages (~1 GB) before the scorer answers
    refresh = config.scorer_refresh_every > 0 and r % config.scorer_refresh_every == 0
    if held and (refresh or new.scorer is None):
        fitted = fit_scorer(new, held, config)
        release_freed_memory()  # its answers and hidden states, before the calibration set is answered
        if fitted is not None:
            new.scorer, new.scorer_choice = choose_scorer(new, (new.scorer, fitted), config)
    new.policy, new.calibration_choice = fit_policy(new, config, cloud)
    release_freed_memory()  # training and re-answering leave the heap's freed pages behind, held till the end
    return new


def choose_scorer(system: EdgeCloudSystem, candidates, config):
    """:func:`better_scorer` on the labelled calibration set answered by ``system``'s edge (the answers
    :func:`fit_policy` reuses); correctness is the edge's against the gold call, so no cloud is asked."""
    tasks = deployment_tasks(config, CALIBRATION_SEGMENT, config.calibration_tasks)
    agent = edge_agent(system, config.edge_decoding)
    outputs = answer(system, agent, tasks)
    right = np.array([v.correct for v in verdicts(tasks, outputs)])  # [n] bool, the tables' edge_correct
    return better_scorer(candidates, lambda s: edge_scores(replace(system, scorer=s), agent, outputs), right)


def evaluate_system(system: EdgeCloudSystem, config, cloud=None) -> dict:
    """Metrics of ``system`` on the fixed held-out stream, and AlwaysCloud's on the same stream: the
    :func:`~netgpt_lite.routing.metrics.summarize` numbers, their 95% intervals over requests (``intervals``),
    the paired differences from AlwaysCloud with intervals (``vs_always_cloud``), and the per-request values
    behind them (``per_request`` and ``per_request_always_cloud``: :data:`PER_REQUEST_FIELDS`), so that two
    rounds, two arms or several seeds can be compared and pooled later; and ``per_request_edge_only``, the same
    values with every request kept at the edge plus each request's routing ``score``, from which the success and
    offload of any score threshold follow (the round's quality-cost frontier, compared at equal success)."""

    tasks = deployment_tasks(config, EVAL_SEGMENT, config.eval_requests)
    agent = edge_agent(system, config.edge_decoding)
    outputs = answer(system, agent, tasks)
    table, _ = _proposals(tasks, outputs, edge_scores(system, agent, outputs), config, cloud)
    stream = world_stream(config, table, EVAL_SEGMENT)
    log, always, edge_only = (simulate(p, table, stream) for p in (system.policy, AlwaysCloud(), AlwaysEdge()))
    metrics = {k: float(v) for k, v in summarize(log).items()}
    metrics.update({f"always_cloud_{k}": float(v) for k, v in summarize(always).items()})
    # every round sees the same requests under the same network draws, so rounds and AlwaysCloud compare paired
    metrics["intervals"] = summarize_intervals(log)
    metrics["vs_always_cloud"] = summarize_intervals(log, baseline=always)
    metrics["per_request"] = {f: np.round(np.asarray(log[f], dtype=float), 8).tolist() for f in PER_REQUEST_FIELDS}
    metrics["per_request_always_cloud"] = {f: np.round(np.asarray(always[f], dtype=float), 8).tolist()
                                           for f in PER_REQUEST_FIELDS}
    # every request answered by the edge, with the score routing ranks it by: with AlwaysCloud's values this
    # gives the success and offload of any score threshold on these requests (the edge's quality-cost frontier)
    metrics["per_request_edge_only"] = {f: np.round(np.asarray(edge_only[f], dtype=float), 8).tolist()
                                        for f in (*PER_REQUEST_FIELDS, "score")}
    right = table.edge_correct
    # how often the edge's greedy call was schema-invalid and generated again under the mask ("retry" decoding)
    metrics["edge_retry_rate"] = float(np.mean([bool(getattr(o, "retried", False)) for o in outputs]))
    metrics.update(edge_exact_match=float(right.mean()), edge_schema_valid_rate=float(table.edge_schema_valid.mean()),
                   score_auroc=auroc(table.edge_score, right) if 0 < right.sum() < len(right) else float("nan"),
                   mean_threshold=float(np.mean(log["threshold"][np.isfinite(log["threshold"])])),
                   kl_to_sft=float(system.kl_to_sft), scorer=scorer_name(system.scorer),
                   rl_log=list(system.rl_log),  # the round's RL steps (empty: no RL, or a reloaded checkpoint)
                   scorer_choice=dict(system.scorer_choice),  # each candidate's calibration AUROC, the kept one
                   calibration_choice=dict(system.calibration_choice))  # the map FuncDyn uses, and why
    metrics.update(other_calibration(system, config, table, stream, cloud))
    release_freed_memory()
    return metrics


def other_calibration(system: EdgeCloudSystem, config, table, stream, cloud=None) -> dict:
    """The round's edge and scorer routed with the calibration map the round did *not* choose (refitted on the
    same calibration set), on the same held-out requests and network draws: ``other_calibration`` (the map and
    its :func:`~netgpt_lite.routing.metrics.summarize` numbers) and ``per_request_other_calibration``
    (:data:`PER_REQUEST_FIELDS`), so the choice can be judged paired, request by request.  Empty for
    PolicyNet and for rounds that recorded no choice."""
    chosen = (system.calibration_choice or {}).get("chosen")
    if config.policy != "funcdyn" or chosen not in CALIBRATIONS:
        return {}
    other = next(m for m in CALIBRATIONS if m != chosen)
    # the calibration set's answers are the ones fit_policy just used (this process's or the answer cache's)
    policy, _ = fit_policy(system, replace(config, calibration=other), cloud)
    log = simulate(policy, table, stream)
    return {"other_calibration": {"calibration": other, **{k: float(v) for k, v in summarize(log).items()}},
            "per_request_other_calibration": {f: np.round(np.asarray(log[f], dtype=float), 8).tolist()
                                              for f in PER_REQUEST_FIELDS}}


def default_stages(cloud=None):
    """The real stages as a :class:`~netgpt_lite.synergy.loop.SynergyStages`.

    Args:
        cloud: A real cloud agent (``propose(tasks)``, e.g. an
            :class:`~netgpt_lite.agents.cloud_openai.OpenAICompatibleCloud`) that answers instead of the
            simulated cloud (:mod:`netgpt_lite.synergy.real_cloud`); None keeps the simulated default.
    """
    if cloud is None:
        return SynergyStages(init=init_system, route=route_round, improve=improve, evaluate=evaluate_system,
                             save=save_system, load=load_system, mix=mix_systems)
    return SynergyStages(init=partial(init_system, cloud=cloud), route=partial(route_round, cloud=cloud),
                         improve=partial(improve, cloud=cloud), evaluate=partial(evaluate_system, cloud=cloud),
                         save=save_system, load=load_system, mix=mix_systems)


# --- the preset -------------------------------------------------------------------------------------
def synergy_config(fast: bool | None = None, **overrides):
    """The book's settings: small in fast mode (``NETGPT_LITE_FAST=1`` or ``fast=True``), full otherwise.

    Example:
        >>> synergy_config(fast=True, rounds=2).rounds
        2
    """

    fast = fast_mode() if fast is None else fast
    preset = (dict(rounds=2, requests_per_round=96, eval_requests=96, calibration_tasks=96, sft_epochs=2, rl_steps=1,
                   warmup_tasks=300, warmup_epochs=3) if fast else {})
    return SynergyConfig(**{**preset, **overrides})
