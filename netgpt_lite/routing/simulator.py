"""The routing simulator: a stream of tasks, a network trace and a price schedule, through a policy.

Running the edge LM is the slow part, so it happens once: a
:class:`~netgpt_lite.routing.proposals.ProposalTable` (:mod:`netgpt_lite.routing.proposals`) holds, per
task, everything routing needs.  A simulation then only samples a stream from the table and does array
arithmetic:

1. :func:`make_stream` - the one stream builder, seeded: which tasks arrive (with replacement, or
   given rows), which cloud draw answers each, the network state (``network.markov_trace`` over the
   regimes, one regime with jitter, or a given trace replayed), the cloud load and the price
   (``pricing.PRICING_SCHEDULES``).  The stream spans one day so peak/off-peak prices change along it.
2. :func:`simulate` - the policy's thresholds, :func:`routing.route`, then per request: success,
   schema validity, latency (edge time, plus the cloud time on a fallback: the edge always runs
   first), cost and utility U = R 1{success} - lambda_T latency_ms - lambda_C cost_usd (the utility of chapter 2).
3. :func:`frontier_grid` - the vectorised threshold sweep over a (bandwidth, RTT) grid.

Tables come from :func:`~netgpt_lite.routing.proposals.synthetic_table` (clearly synthetic, for tests
and before the edge model exists) or from the real edge agent and simulated cloud
(:mod:`netgpt_lite.routing.tables`).

Example:
    >>> from netgpt_lite.routing import FixedThreshold
    >>> table = synthetic_table(200, seed=0)
    >>> stream = make_stream(table, SimulationConfig(n_requests=100, seed=1))
    >>> log = simulate(FixedThreshold(0.5), table, stream)
    >>> log["fallback"].shape
    (100,)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from netgpt_lite.network.pricing import PRICING_SCHEDULES, SECONDS_PER_DAY, Price, request_cost_usd
from netgpt_lite.network.state import REGIMES, LatencyModel, cloud_time_ms, edge_time_ms
from netgpt_lite.network.traces import NetworkTrace, markov_trace
from netgpt_lite.routing.context import RoutingContext, route
from netgpt_lite.routing.proposals import ProposalTable, synthetic_table  # noqa: F401 (examples, re-export)
from netgpt_lite.theory.sweep import threshold_sweep
from netgpt_lite.theory.threshold import UtilityWeights

MIXED = "mixed"  # regime name meaning "a Markov chain over all regimes"
LOG_UNIFORM = "log_uniform"  # exploration logs: bandwidth and RTT drawn independently, log-uniformly
LOG_UNIFORM_RANGES = {"bandwidth_mbps": (0.05, 300.0), "rtt_ms": (10.0, 3000.0), "price_multiplier": (1.0, 3.0)}


@dataclass(frozen=True)
class SimulationConfig:
    """One simulated deployment (validated; vary with ``dataclasses.replace``).

    Attributes:
        n_requests: requests in the stream (>= 1); they arrive evenly over one day.
        regime: a name from ``network.REGIMES`` (that regime with jitter), ``"mixed"`` (a Markov
            chain over all regimes) or ``"log_uniform"`` (every request an independent log-uniform
            draw over :data:`LOG_UNIFORM_RANGES`, price multiplier included: exploration logs that
            vary bandwidth, RTT and price separately, which a learned policy needs to tell apart).
        pricing: a name from ``pricing.PRICING_SCHEDULES``.
        stay_prob: per-request probability that the Markov chain stays in its regime.
        jitter: log-normal sigma of bandwidth and RTT around the regime's values.
        weights: utility weights (the same ones FuncDyn uses).
        latency: the non-network latency model.
        seed: drives stream sampling, the trace, the cloud load and which cloud draw answers.
    """

    n_requests: int = 2000
    regime: str = MIXED
    pricing: str = "flat"
    stay_prob: float = 0.98
    jitter: float = 0.2
    weights: UtilityWeights = field(default_factory=UtilityWeights)
    latency: LatencyModel = field(default_factory=LatencyModel)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_requests < 1:
            raise ValueError(f"n_requests must be >= 1; got {self.n_requests}")
        if self.regime not in (MIXED, LOG_UNIFORM, *REGIMES):
            raise ValueError(f"regime must be 'mixed', 'log_uniform' or one of {list(REGIMES)}; got {self.regime!r}")
        if self.pricing not in PRICING_SCHEDULES:
            raise ValueError(f"pricing must be one of {list(PRICING_SCHEDULES)}; got {self.pricing!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0; got {self.seed}")


@dataclass(frozen=True)
class Stream:
    """A sampled request stream: table rows, cloud draws, and the world each request meets."""

    row: np.ndarray
    cloud_draw: np.ndarray
    trace: NetworkTrace
    load: np.ndarray
    usd_per_1k_input: np.ndarray
    usd_per_1k_output: np.ndarray
    config: SimulationConfig

    def __len__(self) -> int:
        return len(self.row)


def cloud_load(t_s, rng: np.random.Generator) -> np.ndarray:
    """Cloud utilisation in [0, 1]: a daily cycle peaking at 15:00 plus AR(1) noise (illustrative)."""
    hour = np.asarray(t_s, dtype=float) / 3600.0
    noise = np.zeros(len(hour))
    eps = 0.05 * rng.standard_normal(len(hour))
    for i in range(1, len(hour)):
        noise[i] = 0.95 * noise[i - 1] + eps[i]
    return np.clip(0.5 + 0.35 * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + noise, 0.0, 1.0)


def make_stream(
    table: ProposalTable,
    config: SimulationConfig,
    *,
    trace: NetworkTrace | None = None,
    rows=None,
    cloud_draw=None,
    base_price: Price | None = None,
    rng: np.random.Generator | None = None,
) -> Stream:
    """The one request-stream builder: per request, the table row, the cloud draw that answers it, the
    network state, the cloud load and the price it meets.

    ``config.n_requests`` requests arrive evenly over one day.  By default everything is drawn from
    ``config.seed`` in this order: the network trace (``config.regime``), the cloud load, the log-uniform
    price multiplier (``regime="log_uniform"`` only), the rows (with replacement) and the cloud draws.

    Args:
        table: The proposal table the rows index.
        config: Size, regime, pricing schedule and seed of the stream.
        trace: Network states to replay instead of ``config.regime``'s: sample ``i % len(trace)`` for
            request ``i`` (its own times are not used), so a trace of one state is a constant network.
        rows: Table row of each request (``n_requests`` ints) instead of random rows.
        cloud_draw: Cloud draw of each request instead of random draws.
        base_price: Base price of ``config.pricing``'s schedule instead of the default :class:`Price`.
        rng: Random generator instead of ``numpy.random.default_rng(config.seed)``.

    Returns:
        The :class:`Stream`.

    Example:
        >>> one_state = NetworkTrace(np.zeros(1), np.array([20.0]), np.array([60.0]))
        >>> s = make_stream(synthetic_table(10), SimulationConfig(n_requests=10), trace=one_state, rows=np.arange(10))
        >>> float(s.trace.bandwidth_mbps.max()), s.row.tolist() == list(range(10))
        (20.0, True)
    """
    rng = np.random.default_rng(config.seed) if rng is None else rng
    n = config.n_requests
    t_s = SECONDS_PER_DAY / n * np.arange(n, dtype=float)
    explore = trace is None and config.regime == LOG_UNIFORM
    if trace is not None:
        i = np.arange(n) % len(trace)
        trace = NetworkTrace(t_s, trace.bandwidth_mbps[i], trace.rtt_ms[i], trace.regime[i])
    elif explore:
        (b0, b1), (r0, r1) = LOG_UNIFORM_RANGES["bandwidth_mbps"], LOG_UNIFORM_RANGES["rtt_ms"]
        trace = NetworkTrace(t_s, np.exp(rng.uniform(np.log(b0), np.log(b1), n)),
                             np.exp(rng.uniform(np.log(r0), np.log(r1), n)))
    else:
        regimes = tuple(REGIMES) if config.regime == MIXED else (config.regime,)
        trace = markov_trace(n, rng, step_s=SECONDS_PER_DAY / n, regimes=regimes, stay_prob=config.stay_prob,
                             jitter=config.jitter)
    load = cloud_load(trace.t_s, rng)
    schedule = PRICING_SCHEDULES[config.pricing]
    if base_price is not None:
        schedule = replace(schedule, base=base_price)
    p_in, p_out = schedule.prices_at(trace.t_s, load)
    if explore:
        factor = np.exp(rng.uniform(*np.log(LOG_UNIFORM_RANGES["price_multiplier"]), n))
        p_in, p_out = p_in * factor, p_out * factor
    rows = rng.integers(0, len(table), n) if rows is None else _indices("rows", rows, n, len(table))
    draws = (rng.integers(0, table.n_cloud_draws, n) if cloud_draw is None
             else _indices("cloud_draw", cloud_draw, n, table.n_cloud_draws))
    return Stream(
        row=rows, cloud_draw=draws, trace=trace, load=load, usd_per_1k_input=np.asarray(p_in, float),
        usd_per_1k_output=np.asarray(p_out, float), config=config,
    )


def _indices(name: str, values, n: int, upper: int) -> np.ndarray:
    """``values`` as ``n`` ints in ``[0, upper)``, or a ValueError naming ``name``."""
    arr = np.asarray(values)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer) or ((arr < 0) | (arr >= upper)).any():
        raise ValueError(f"{name} must be {n} integers in [0, {upper}) (one per request); got shape {arr.shape}")
    return arr.astype(int)


def stream_context(table: ProposalTable, stream: Stream) -> RoutingContext:
    """What the policies see for each request of ``stream`` (edge correctness only for the Oracle)."""
    r = stream.row
    return RoutingContext(
        scores=table.edge_score[r], bandwidth_mbps=stream.trace.bandwidth_mbps, rtt_ms=stream.trace.rtt_ms,
        usd_per_1k_input=stream.usd_per_1k_input, usd_per_1k_output=stream.usd_per_1k_output,
        n_input_tokens=table.cloud_input_tokens[r], request_bytes=table.request_bytes[r],
        is_next_step=(table.kind[r] == "next_step").astype(float), edge_correct=table.edge_correct[r],
    )


def outcomes(table: ProposalTable, stream: Stream) -> dict[str, np.ndarray]:
    """Both counterfactual outcomes of every request: keep the edge answer, or fall back.

    Returns arrays ``edge_*`` and ``cloud_*`` for success, schema_valid, latency_ms, cost_usd and
    utility (the cloud latency includes the edge's, which always runs first).
    """
    r, d, cfg = stream.row, stream.cloud_draw, stream.config
    w = cfg.weights
    edge_ms = edge_time_ms(table.edge_output_tokens[r], cfg.latency)
    out_tokens = table.cloud_output_tokens[r, d]
    cloud_ms = edge_ms + cloud_time_ms(stream.trace.bandwidth_mbps, stream.trace.rtt_ms, table.request_bytes[r],
                                       table.response_bytes[r, d], out_tokens, cfg.latency)
    cost = request_cost_usd(table.cloud_input_tokens[r], out_tokens, (stream.usd_per_1k_input, stream.usd_per_1k_output))
    res = {
        "edge_success": table.edge_correct[r], "edge_schema_valid": table.edge_schema_valid[r],
        "edge_latency_ms": edge_ms, "edge_cost_usd": np.zeros(len(r)),
        "cloud_success": table.cloud_correct[r, d], "cloud_schema_valid": table.cloud_schema_valid[r, d],
        "cloud_latency_ms": cloud_ms, "cloud_cost_usd": cost,
    }
    for side in ("edge", "cloud"):
        res[f"{side}_utility"] = (w.reward * res[f"{side}_success"] - w.lambda_latency_per_ms * res[f"{side}_latency_ms"]
                                  - w.lambda_cost_per_usd * res[f"{side}_cost_usd"])
    return res


def simulate(policy, table: ProposalTable, stream: Stream) -> dict[str, np.ndarray]:
    """Route ``stream`` with ``policy``; the per-request log as parallel arrays.

    Keys: task_id, t_s, regime, bandwidth_mbps, rtt_ms, usd_per_1k_input, usd_per_1k_output,
    score, threshold, fallback, route ("edge"/"cloud"), success, schema_valid, latency_ms,
    cost_usd, utility.  Summarise it with :func:`netgpt_lite.routing.metrics.summarize`.
    """
    ctx = stream_context(table, stream)
    thresholds = np.asarray(policy.thresholds(ctx), dtype=float)
    fallback = route(ctx.scores, thresholds)
    both = outcomes(table, stream)
    log = {
        "task_id": table.task_id[stream.row], "t_s": stream.trace.t_s, "regime": stream.trace.regime,
        "bandwidth_mbps": ctx.bandwidth_mbps, "rtt_ms": ctx.rtt_ms, "usd_per_1k_input": ctx.usd_per_1k_input,
        "usd_per_1k_output": ctx.usd_per_1k_output, "score": ctx.scores, "threshold": thresholds,
        "fallback": fallback, "route": np.where(fallback, "cloud", "edge"),
    }
    for key in ("success", "schema_valid", "latency_ms", "cost_usd", "utility"):
        log[key] = np.where(fallback, both[f"cloud_{key}"], both[f"edge_{key}"])
    return log


def frontier_grid(
    table: ProposalTable,
    bandwidth_mbps,
    rtt_ms,
    thresholds,
    usd_per_1k_input: float = Price().usd_per_1k_input,
    usd_per_1k_output: float = Price().usd_per_1k_output,
    weights: UtilityWeights = UtilityWeights(),  # noqa: B008 - frozen, immutable default
    latency: LatencyModel = LatencyModel(),  # noqa: B008
) -> dict[str, np.ndarray]:
    """Mean success, cost, latency, utility and offload of every task in ``table`` for every
    (bandwidth, RTT, threshold) triple, vectorised: arrays of shape (n_bw, n_rtt, n_thresholds).

    One sorted sweep (:func:`~netgpt_lite.theory.sweep.threshold_sweep`): the fallback set of
    threshold t is a prefix of the tasks sorted by score, so every mean is a cumulative-sum lookup;
    the grid of network states rides along as leading axes of the latency.  Cloud outcomes are
    averaged over the table's cloud draws (expected values).
    """
    bw = np.atleast_1d(np.asarray(bandwidth_mbps, float))
    rtt = np.atleast_1d(np.asarray(rtt_ms, float))
    order = np.argsort(table.edge_score, kind="stable")  # tasks sorted by score: the sweep reorders no big array
    out_tokens = table.cloud_output_tokens[order].mean(axis=1)
    cost = request_cost_usd(table.cloud_input_tokens[order], out_tokens, (usd_per_1k_input, usd_per_1k_output))
    edge_ms = edge_time_ms(table.edge_output_tokens, latency)
    cloud_ms = cloud_time_ms(bw[:, None, None], rtt[None, :, None], table.request_bytes[order],
                             table.response_bytes[order].mean(axis=1), out_tokens, latency)  # (B, R, n)
    sweep = threshold_sweep(table.edge_score[order], thresholds, {
        "success": (table.edge_correct[order], table.cloud_correct[order].mean(axis=1)),  # (T,)
        "cost_usd": (0.0, cost),  # (T,)
        "cloud_ms": (0.0, cloud_ms),  # (B, R, T)
    })
    latency_ms = edge_ms.mean() + sweep["cloud_ms"]  # the edge always runs first; a fallback adds the cloud
    utility = (weights.reward * sweep["success"] - weights.lambda_latency_per_ms * latency_ms
               - weights.lambda_cost_per_usd * sweep["cost_usd"])
    shape = latency_ms.shape
    return {
        "bandwidth_mbps": bw, "rtt_ms": rtt, "threshold": sweep["threshold"],
        "success": np.broadcast_to(sweep["success"], shape), "cost_usd": np.broadcast_to(sweep["cost_usd"], shape),
        "offload": np.broadcast_to(sweep["offload"], shape), "latency_ms": latency_ms, "utility": utility,
    }


def sweep_stream(table: ProposalTable, stream: Stream, thresholds) -> dict[str, np.ndarray]:
    """Fixed-threshold sweep on a stream (each request keeps its own network state and price):
    mean success, schema-valid rate, offload, cost, latency and utility per threshold, shape (T,),
    by one sorted sweep (:func:`~netgpt_lite.theory.sweep.threshold_sweep`) over the stream's requests."""
    both = outcomes(table, stream)
    keys = ("success", "schema_valid", "cost_usd", "latency_ms", "utility")
    sweep = threshold_sweep(table.edge_score[stream.row], thresholds,
                            {key: (both[f"edge_{key}"], both[f"cloud_{key}"]) for key in keys})
    return {"threshold": sweep["threshold"], "offload": sweep["offload"], **{key: sweep[key] for key in keys}}
