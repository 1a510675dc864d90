"""The router service's fitted policy: FuncDyn parameters shipped as JSON under ``netgpt_lite/data/serve``.

FuncDyn (chapter 2's closed form, :class:`netgpt_lite.routing.funcdyn.FuncDyn`) is fitted the way
chapter 5 fits it (:func:`netgpt_lite.experiments.frontier.exploration_logs`): a log-uniform
exploration stream over the edge's proposal table on validation tasks, Platt calibration of the edge
score (isotonic, FuncDyn's default), the cloud's success rate and answer size, then its two free
parameters tuned for utility on the same logs (:meth:`FuncDyn.tune`).  The calibration belongs to an edge, so there is
one file per shipped edge: ``funcdyn_tiny.json`` (the tiny edge's own table) and
``funcdyn_smollm2.json`` (the shipped SmolLM2 edge outputs), with one ``manifest.json``.

Refit and rewrite them (a minute on a laptop) with the documented command::

    python -m netgpt_lite.service.policy_file --out netgpt_lite/data/serve

Example:
    >>> policy = load_serve_policy("tiny")
    >>> 0.0 <= policy.q_cloud <= 1.0
    True
"""

from __future__ import annotations

import argparse
from pathlib import Path

from netgpt_lite.routing.funcdyn import FuncDyn
from netgpt_lite.synergy.routing_state import load_funcdyn, save_funcdyn

SHIPPED_POLICY_DIR = Path(__file__).resolve().parents[1] / "data" / "serve"
POLICY_EDGES = ("tiny", "smollm2")
FIT_COMMAND = "python -m netgpt_lite.service.policy_file --out netgpt_lite/data/serve"


def policy_path(edge: str, folder: str | Path = SHIPPED_POLICY_DIR) -> Path:
    """The FuncDyn file of an edge: ``funcdyn_<edge>.json`` in ``folder``."""
    if edge not in POLICY_EDGES:
        raise ValueError(f"edge must be one of {list(POLICY_EDGES)} for a shipped policy; got {edge!r}")
    return Path(folder) / f"funcdyn_{edge}.json"


def load_serve_policy(edge_or_path: str | Path = "tiny") -> FuncDyn:
    """The shipped FuncDyn of an edge (``"tiny"``, ``"smollm2"``) or one from a JSON file."""
    path = policy_path(str(edge_or_path)) if str(edge_or_path) in POLICY_EDGES else Path(edge_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"no FuncDyn file {path}; write it with `{FIT_COMMAND}`")
    return load_funcdyn(path)


def fit_serve_policy(edge: str = "tiny", n_logs: int = 8000, seed: int = 0) -> FuncDyn:
    """FuncDyn fitted on exploration logs of ``edge``'s validation proposal table (as in chapter 5)."""
    from netgpt_lite.experiments.frontier import exploration_logs
    from netgpt_lite.routing.simulator import SimulationConfig

    if edge == "tiny":
        from netgpt_lite.routing.tables import default_tables

        log_table, _ = default_tables(n_test=300, n_logs=300, seed=seed)
    elif edge == "smollm2":
        from netgpt_lite.routing.edge_outputs import load_edge_tables

        log_table, _ = load_edge_tables()
    else:
        raise ValueError(f"edge must be one of {list(POLICY_EDGES)}; got {edge!r}")
    from netgpt_lite.routing.simulator import outcomes, stream_context

    config = SimulationConfig()
    stream = exploration_logs(log_table, config, n_logs, seed)
    ctx, both = stream_context(log_table, stream), outcomes(log_table, stream)
    plugin = FuncDyn.fit(ctx.scores, ctx.edge_correct, both["cloud_success"],
                         log_table.cloud_output_tokens[stream.row, stream.cloud_draw],
                         log_table.response_bytes[stream.row, stream.cloud_draw], config.weights, config.latency)
    return plugin.tune(ctx, both["edge_utility"], both["cloud_utility"])  # as chapter 5's "funcdyn"


def write_serve_policies(out_dir: str | Path = SHIPPED_POLICY_DIR, edges=POLICY_EDGES, n_logs: int = 8000,
                         seed: int = 0) -> dict:
    """Fit and write ``funcdyn_<edge>.json`` for every edge, and the folder's manifest; return the manifest."""
    from netgpt_lite.provenance import Recorder, write_manifest

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(seed=seed, split="validation", entry=["netgpt_lite.service.policy_file"], sizes={"n_logs": n_logs, "n_tasks": 300},
                   config={"edges": list(edges)}, command=FIT_COMMAND)
    fitted = {}
    for edge in edges:
        policy = fit_serve_policy(edge, n_logs, seed)
        save_funcdyn(policy, policy_path(edge, out))
        fitted[edge] = {"q_cloud": policy.q_cloud, "penalty_scale": policy.penalty_scale,
                        "temperature": policy.temperature, "calibration": type(policy.calibration).__name__}
    manifest = rec.finish(policies=fitted)
    write_manifest(out, manifest)
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netgpt_lite.service.policy_file",
                                     description="Fit the router service's FuncDyn per shipped edge.")
    parser.add_argument("--out", default=str(SHIPPED_POLICY_DIR), help="output folder")
    parser.add_argument("--edges", nargs="+", default=list(POLICY_EDGES), choices=list(POLICY_EDGES))
    parser.add_argument("--n-logs", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest = write_serve_policies(args.out, tuple(args.edges), args.n_logs, args.seed)
    print(manifest["policies"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
