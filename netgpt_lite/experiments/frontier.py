"""Chapter 5's experiment: fit every policy on logs, evaluate it on a day of changing network, compare.

The question is not "is a dynamic threshold better than a fixed one inside one network regime" (there
the optimal threshold is a constant, so a well-tuned fixed threshold *is* the dynamic rule) but: when
the network changes during the day, how much of the achievable gain does a network-aware rule recover?

1. **Network.** A :class:`TraceSource` gives the evaluation stream's network: a Markov chain over the
   regimes (``"mixed"``), a replayed commute (``"commute"``), a replayed file (a Mahimahi or CSV trace;
   a trace shorter than the stream repeats, as mm-link does), or one static regime (the sanity check).
2. **Logs and fitting.** Yesterday's traffic on the same kind of network (:meth:`TraceSource.streams`:
   another seed, or the same file from another offset) on the *log* table (validation tasks).  Every
   deployable policy is fitted on these logs (:func:`fit_policies`): ``fixed_logs`` (the best fixed
   threshold on the logs: the baseline), the RouteLLM-style ``quantile``, the FrugalGPT-style
   ``cascade``, ``funcdyn`` (the closed form with isotonic g, q_c and sizes from the logs, its penalty
   scale and calibration temperature tuned on the logs; ``funcdyn_plugin`` is the untuned rule),
   ``funcdyn_online`` (the tuned FuncDyn recalibrated during the day from the labels the cloud's answers
   reveal) and ``policynet`` (monotone by construction).
3. **Limits, in hindsight on the evaluation stream** (:func:`evaluate_policies`): ``fixed_hindsight``
   (the best network-blind threshold), ``threshold_oracle`` (the best threshold per cell of 3 quantile
   bins of bandwidth, RTT and price: the limit of any threshold rule on this score; 4 and 6 bins are
   reported as ``threshold_oracle_4``/``_6``) and ``oracle`` (knows which edge answers are right).
   ``oracle_gain_share`` = (U - U_fixed_logs) / (U_threshold_oracle - U_fixed_logs).
4. **The room** (:func:`~netgpt_lite.experiments.frontier_summary.room_above_fixed`): what any network-aware threshold could add over the best fixed
   one in hindsight (U_threshold_oracle - U_fixed_hindsight, paired per request, 95% interval over the seeds'
   pooled requests), each policy's difference from fixed_hindsight, and its share of the room only where the
   room is resolvable: where the network does not move the decision enough, there is nothing to share.

Proposal tables come from :mod:`netgpt_lite.routing.tables` or :mod:`netgpt_lite.routing.edge_outputs`.

Example:
    >>> from netgpt_lite.routing.simulator import synthetic_table
    >>> res = run_frontier(synthetic_table(300, 1), synthetic_table(300, 2), seeds=(0,), n_requests=300,
    ...                    n_logs=500, policynet_epochs=20)                        # doctest: +SKIP
    >>> sorted(compact_summary(res)["policies"])[:2]                               # doctest: +SKIP
    ['always_cloud', 'always_edge']
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from netgpt_lite.experiments.frontier_summary import (  # noqa: F401 - re-exported: frontier's public names
    COMPACT_KEYS,
    DEPLOYABLE,
    EXTRA_POLICIES,
    POLICY_ORDER,
    ROOM_BOOTSTRAP,
    aggregate,
    compact_summary,
    room_above_fixed,
    table_rows,
)
from netgpt_lite.network.state import REGIMES
from netgpt_lite.network.traces import NetworkTrace, commute_trace
from netgpt_lite.routing import metrics
from netgpt_lite.routing.limits import (
    REFERENCE_BINS,
    CrossFitted,
    ThresholdOracle,
    best_fixed_threshold,
    cross_fitted,
)
from netgpt_lite.routing.online import OnlineRecalibration
from netgpt_lite.routing.policies import (
    AlwaysCloud,
    AlwaysEdge,
    CalibratedQuantile,
    Cascade,
    FuncDyn,
    Oracle,
    sweep_candidates,
)
from netgpt_lite.routing.policy_net import PolicyNet
from netgpt_lite.routing.simulator import (
    LOG_UNIFORM,
    MIXED,
    ProposalTable,
    SimulationConfig,
    Stream,
    make_stream,
    outcomes,
    simulate,
    stream_context,
    sweep_stream,
)

LOG_SEED_OFFSET = 1000  # the logs are another day: seed + 1000
COMMUTE = "commute"
LTE_DRIVE = "lte_drive"  # the shipped, self-made Mahimahi example (network.EXAMPLE_MAHIMAHI)


@dataclass(frozen=True, eq=False)
class TraceSource:
    """Where a stream's network comes from.

    Attributes:
        name: ``"mixed"`` (Markov chain over all regimes), ``"commute"`` (the scripted commute, replayed),
            a regime name (one static regime with jitter: the sanity check), or a label for ``trace``.
        trace: a replayed trace (read from a Mahimahi or CSV file), one state per request in order,
            repeating when the stream is longer; ``None`` for the generated sources.

    Example:
        >>> TraceSource("mixed").time_varying, TraceSource("4g").time_varying
        (True, False)
        >>> TraceSource("wifi")
        Traceback (most recent call last):
        ...
        ValueError: trace source 'wifi' needs a trace, or must be 'mixed', 'commute' or a regime name: ['5g_good', '4g', 'congested', 'satellite', 'near_outage']
    """

    name: str
    trace: NetworkTrace | None = None

    def __post_init__(self) -> None:
        if self.trace is None and self.name not in (MIXED, COMMUTE, *REGIMES):
            raise ValueError(f"trace source {self.name!r} needs a trace, or must be 'mixed', 'commute' or a "
                             f"regime name: {list(REGIMES)}")

    @property
    def time_varying(self) -> bool:
        return self.name not in REGIMES or self.trace is not None

    @property
    def replay_length(self) -> int:
        """States of a replayed trace (the file's, or the commute's); 0 for generated sources."""
        return len(self.trace) if self.trace is not None else (len(commute_trace()) if self.name == COMMUTE else 0)

    def repeats(self, n_requests: int) -> float:
        """How many times a replayed trace plays in a stream of ``n_requests`` (0 for generated sources)."""
        return round(n_requests / self.replay_length, 2) if self.replay_length else 0.0

    def _stream(self, table: ProposalTable, config: SimulationConfig, day_seed: int) -> Stream:
        if self.trace is not None:  # the same route on another day: the file from a seeded offset
            shift = int(np.random.default_rng(day_seed).integers(len(self.trace)))
            idx = (np.arange(len(self.trace)) + shift) % len(self.trace)
            t = self.trace
            return make_stream(table, config, trace=NetworkTrace(t.t_s, t.bandwidth_mbps[idx], t.rtt_ms[idx],
                                                                 t.regime[idx]))
        if self.name == COMMUTE:
            return make_stream(table, config, trace=commute_trace(seed=day_seed))
        return make_stream(table, replace(config, regime=self.name))

    def streams(self, test_table: ProposalTable, log_table: ProposalTable, config: SimulationConfig,
                n_logs: int) -> tuple[Stream, Stream]:
        """``(evaluation stream on test_table, log stream on log_table)``: the logs are another day
        (seed + :data:`LOG_SEED_OFFSET`) of the same source and pricing schedule, ``n_logs`` requests."""
        log_cfg = replace(config, n_requests=n_logs, seed=config.seed + LOG_SEED_OFFSET)
        return self._stream(test_table, config, config.seed), self._stream(log_table, log_cfg, log_cfg.seed)


def named_source(name: str) -> TraceSource:
    """A :class:`TraceSource` by name: ``"mixed"``, ``"commute"``, a regime, or ``"lte_drive"`` (the shipped
    self-made Mahimahi LTE drive, read with the LTE RTT model).

    Example:
        >>> src = named_source("lte_drive")
        >>> src.name, len(src.trace)
        ('lte_drive', 300)
    """
    if name == LTE_DRIVE:
        from netgpt_lite.network.mahimahi import EXAMPLE_MAHIMAHI, read_mahimahi

        return TraceSource(LTE_DRIVE, read_mahimahi(EXAMPLE_MAHIMAHI))
    return TraceSource(name)


def exploration_logs(log_table: ProposalTable, config: SimulationConfig, n_logs: int, seed: int) -> Stream:
    """Exploration logs: a log-uniform network stream on ``log_table`` (bandwidth, RTT and a price
    multiplier in [1, 3] drawn independently), for learning the threshold's shape over the whole range."""
    return make_stream(log_table, replace(config, regime=LOG_UNIFORM, pricing="flat", n_requests=n_logs, seed=seed))


def fit_policies(log_table: ProposalTable, log_stream: Stream, seed: int = 0, cloud_fraction: float = 0.3,
                 budget_share: float = 0.5, policynet_epochs: int = 400, online: bool = True) -> dict:
    """Fit every deployable policy on the logged requests of ``log_stream`` (seeded).

    The cascade's budget is ``budget_share`` of the always-cloud cost in the logs; the quantile targets
    ``cloud_fraction``; ``fixed_logs`` and FuncDyn's two free parameters maximise utility on the logs.
    With ``online``, also ``funcdyn_online``: the tuned FuncDyn recalibrated during the evaluation stream from
    the labels of the requests it sends to the cloud (:class:`~netgpt_lite.routing.online.OnlineRecalibration`;
    pointless at one fixed network state, so the explorers leave it out).
    """
    ctx, both, cfg = stream_context(log_table, log_stream), outcomes(log_table, log_stream), log_stream.config
    out_tokens = log_table.cloud_output_tokens[log_stream.row, log_stream.cloud_draw]
    response_bytes = log_table.response_bytes[log_stream.row, log_stream.cloud_draw]
    plugin = FuncDyn.fit(ctx.scores, ctx.edge_correct, both["cloud_success"], out_tokens, response_bytes,
                         cfg.weights, cfg.latency)
    tuned = plugin.tune(ctx, both["edge_utility"], both["cloud_utility"])
    budget = budget_share * float(both["cloud_cost_usd"].mean())
    net = PolicyNet(epochs=policynet_epochs, seed=seed).fit(ctx, both["edge_utility"], both["cloud_utility"])
    return {
        "always_edge": AlwaysEdge(), "always_cloud": AlwaysCloud(),
        "fixed_logs": best_fixed_threshold(ctx.scores, both["edge_utility"], both["cloud_utility"], "fixed_logs"),
        "quantile": replace(CalibratedQuantile.fit(ctx.scores, cloud_fraction), name="quantile"),
        "cascade": Cascade.fit(ctx.scores, ctx.edge_correct, both["cloud_success"], both["cloud_cost_usd"], budget),
        "funcdyn_plugin": replace(plugin, name="funcdyn_plugin"), "funcdyn": tuned, "policynet": net,
        "oracle": Oracle(tuned), **({"funcdyn_online": OnlineRecalibration(tuned)} if online else {}),
    }


def cost_at_equal_success(sweep: dict, success: float, cost: float, key: str = "cost_usd") -> float:
    """Relative saving 1 - cost / cost_fixed, where cost_fixed is the cheapest fixed threshold of
    ``sweep`` whose success is at least ``success`` (nan if none reaches it or it costs nothing)."""
    reach = sweep["success"] >= success - 1e-12
    if not reach.any():
        return float("nan")
    fixed = float(sweep[key][reach].min())
    return float(1.0 - cost / fixed) if fixed > 0 else float("nan")


def gain_recovered(utility: float, baseline: float, limit: float) -> float:
    """Share of the ``limit``'s utility gain over ``baseline`` that a policy recovers (nan if no gain)."""
    return float((utility - baseline) / (limit - baseline)) if limit != baseline else float("nan")


def hindsight_limits(test_table: ProposalTable, stream: Stream, bins=(REFERENCE_BINS, 4, 6)) -> dict:
    """The limits chosen on the evaluation stream's outcomes: ``fixed_hindsight`` and the threshold
    oracles (``threshold_oracle`` at ``bins[0]``, then ``threshold_oracle_<k>``), and the first two cross-fitted
    (``fixed_hindsight_cv``, ``threshold_oracle_cv``: two interleaved halves of the day, each routed with the
    limit chosen on the other), which cannot profit from the noise of the outcomes they are scored on."""
    ctx, both = stream_context(test_table, stream), outcomes(test_table, stream)
    eu, cu = both["edge_utility"], both["cloud_utility"]
    limits = {"fixed_hindsight": best_fixed_threshold(ctx.scores, eu, cu, "fixed_hindsight")}
    for i, k in enumerate(bins):
        name = "threshold_oracle" if i == 0 else f"threshold_oracle_{k}"
        limits[name] = replace(ThresholdOracle.fit(ctx, eu, cu, bins=k), name=name)
    # the same two limits scored out of sample: each half of the day (interleaved requests) routed with the limit
    # chosen on the other half. Both halves draw from the same tasks, so both limits keep the same knowledge of
    # them and their difference (the room) is not tilted; what cross-fitting removes is the fit to the day's
    # noise (cloud draws, network jitter), which 27 cells pick up far more than one threshold. Splitting by task
    # instead leaves each limit half the tasks, and one threshold suffers more from that than 27 do.
    limits["fixed_hindsight_cv"] = cross_fitted(lambda c, e, u: best_fixed_threshold(c.scores, e, u), ctx, eu, cu,
                                                name="fixed_hindsight_cv")
    limits["threshold_oracle_cv"] = cross_fitted(lambda c, e, u: ThresholdOracle.fit(c, e, u, bins=bins[0]), ctx,
                                                 eu, cu, name="threshold_oracle_cv")
    return limits


def evaluate_policies(policies: dict, test_table: ProposalTable, stream: Stream) -> dict:
    """Evaluate fitted ``policies`` plus the hindsight limits on ``stream``: summaries, per-regime
    summaries, sweep metrics (APGR, CPT, AIQ), goals, mean thresholds, logs."""
    policies = {**policies, **hindsight_limits(test_table, stream)}
    names = [n for n in (*POLICY_ORDER, *EXTRA_POLICIES) if n in policies]
    logs = {name: simulate(policies[name], test_table, stream) for name in names}
    sweep = sweep_stream(test_table, stream, sweep_candidates(test_table.edge_score[stream.row]))
    w = stream.config.weights
    sweep["total_cost"] = w.lambda_latency_per_ms * sweep["latency_ms"] + w.lambda_cost_per_usd * sweep["cost_usd"]
    summary = {name: metrics.summarize(log) for name, log in logs.items()}
    u = {name: s["mean_utility"] for name, s in summary.items()}
    for name in names:
        summary[name]["oracle_gain_share"] = gain_recovered(u[name], u["fixed_logs"], u["threshold_oracle"])
    goals = {}
    for name in (n for n in DEPLOYABLE if n in logs):
        log = logs[name]
        total = w.lambda_latency_per_ms * log["latency_ms"].mean() + w.lambda_cost_per_usd * log["cost_usd"].mean()
        goals[name] = {
            "usd_saving_at_equal_success": cost_at_equal_success(sweep, log["success"].mean(), log["cost_usd"].mean()),
            "total_cost_saving_at_equal_success": cost_at_equal_success(sweep, log["success"].mean(), total, "total_cost"),
            "oracle_gain_share": summary[name]["oracle_gain_share"],
            "routing_gain_share": gain_recovered(u[name], u["fixed_logs"], u["oracle"]),
        }
    return {
        "summary": summary, "per_regime": {n: metrics.summarize_by(log) for n, log in logs.items()},
        "sweep": metrics.sweep_metrics(sweep["offload"], sweep["success"], sweep["cost_usd"]), "goals": goals,
        "thresholds": {n: float(np.mean(logs[n]["threshold"].clip(0, 1))) for n in names},
        # the cross-fitted limits answer only for this stream: kept out of the policies others reuse elsewhere
        "policies": {n: p for n, p in policies.items() if not isinstance(p, CrossFitted)},
        "stream": stream, "logs": logs,
    }


def as_source(source) -> TraceSource:
    return source if isinstance(source, TraceSource) else TraceSource(str(source))


def run_cell(test_table: ProposalTable, log_table: ProposalTable, source, pricing: str = "flat", seeds=(0, 1, 2),
             n_requests: int = 2000, n_logs: int = 8000, policynet_epochs: int = 400,
             progress: bool = False) -> list[dict]:
    """:func:`evaluate_policies` per seed on one (trace source, pricing) cell, policies fitted per seed on
    that seed's logs of the same source and schedule; ``progress``: a bar over seeds on stderr."""
    from tqdm.auto import tqdm

    if len(seeds) < 1:
        raise ValueError("seeds must hold at least one seed")
    source = as_source(source)
    runs = []
    for s in tqdm(seeds, desc="frontier seeds", unit="seed", disable=not progress, dynamic_ncols=True):
        config = SimulationConfig(n_requests=n_requests, pricing=pricing, seed=s)
        stream, log_stream = source.streams(test_table, log_table, config, n_logs)
        runs.append(evaluate_policies(fit_policies(log_table, log_stream, seed=s, policynet_epochs=policynet_epochs),
                                      test_table, stream))
    return runs


def run_frontier(test_table: ProposalTable, log_table: ProposalTable, source="mixed", pricing: str = "flat",
                 seeds=(0, 1, 2), n_requests: int = 2000, n_logs: int = 8000, policynet_epochs: int = 400,
                 keep_runs: bool = False, progress: bool = False) -> dict:
    """Every policy on one trace source x pricing schedule, mean and std over ``seeds``: a JSON-able dict
    with ``policies`` (metrics, ``oracle_gain_share`` included), ``per_regime``, ``sweep``, ``goals`` and
    ``config``; with ``keep_runs`` also ``runs`` (fitted policies, streams and logs; not JSON-able)."""
    source = as_source(source)
    runs = run_cell(test_table, log_table, source, pricing, seeds, n_requests, n_logs, policynet_epochs, progress)
    result = aggregate(runs)
    result["config"] = {
        "trace": source.name, "time_varying": source.time_varying, "trace_repeats": source.repeats(n_requests),
        "pricing": pricing, "seeds": list(seeds), "n_requests": n_requests, "n_logs": n_logs,
        "logs": f"the same trace source and pricing on another day (seed + {LOG_SEED_OFFSET}), on the log table",
        "threshold_oracle_bins": REFERENCE_BINS, "threshold_oracle_extra_bins": [4, 6],
        "policynet_epochs": policynet_epochs, "table_source": test_table.source, "log_table_source": log_table.source}
    if keep_runs:
        result["runs"] = runs
    return result


def main_table(test_table: ProposalTable, log_table: ProposalTable, sources, pricings, seeds=(0, 1, 2),
               n_requests: int = 2000, n_logs: int = 8000, policynet_epochs: int = 400) -> dict:
    """E3: policies x trace sources x pricing schedules, mean and std over ``seeds``; ``results["trace/pricing"]``
    is an :func:`aggregate` dict (policies fitted per cell and seed on that cell's logs)."""
    results = {}
    for source in map(as_source, sources):
        for pricing in pricings:
            runs = run_cell(test_table, log_table, source, pricing, seeds, n_requests, n_logs, policynet_epochs)
            results[f"{source.name}/{pricing}"] = aggregate(runs)
    return results
