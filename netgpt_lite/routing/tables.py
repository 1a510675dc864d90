"""Chapter 5's experiments: build proposal tables, fit every policy on logs, evaluate on fresh streams.

1. **Tables.** :func:`edge_table` runs the edge agent (default: the shipped tiny checkpoint) and the
   simulated cloud once on a split of tasks and caches the :class:`~netgpt_lite.routing.simulator.ProposalTable`
   as ``.npz``, keyed by the model's sha256, the split, ``n`` and the seed (``NETGPT_LITE_CACHE``
   or ``~/.cache/netgpt-lite``).  :func:`default_tables` falls back to clearly labelled synthetic
   tables when no checkpoint is shipped.
2. **Logs and fitting.** :func:`fit_policies` draws exploration logs (``regime="log_uniform"``) from
   the *log* table (validation tasks) and fits the policies on them: the calibrated quantile, the
   cascade under a budget, FuncDyn (Platt g, q_c, answer sizes) and PolicyNet (same weights as
   the simulator).  The Oracle reads the truth.
3. **Evaluation.** :func:`run_frontier` evaluates every policy on streams of the *test* table for
   several seeds, adds the best fixed threshold *in hindsight* on each evaluation stream (the best
   any network-blind threshold can do: a generous baseline), the anchors' sweep metrics, and the
   goals: cost at equal success relative to the best fixed threshold, and the share of the
   Oracle's utility gain each policy recovers (over AlwaysEdge and over the best fixed threshold).

Example:
    >>> from netgpt_lite.routing.simulator import synthetic_table
    >>> res = run_frontier(synthetic_table(300, 1), synthetic_table(300, 2), seeds=(0,), n_requests=300,
    ...                    n_logs=500, policynet_epochs=20)                        # doctest: +SKIP
    >>> sorted(res["policies"])[:2]                                                # doctest: +SKIP
    ['always_cloud', 'always_edge']
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from netgpt_lite.routing.simulator import (
    ProposalTable,
    synthetic_table,
)


def cache_dir() -> Path:
    """Where proposal tables are cached: ``$NETGPT_LITE_CACHE`` or ``~/.cache/netgpt-lite``."""
    return Path(os.environ.get("NETGPT_LITE_CACHE", Path.home() / ".cache" / "netgpt-lite")) / "proposal_tables"


def model_sha(path: str | Path) -> str:
    """First 12 hex digits of the sha256 over a checkpoint folder's weight and tokenizer files."""
    digest = hashlib.sha256()
    for f in sorted(Path(path).glob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".json", ".bin"):
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def edge_table(split: str = "test", n: int = 300, seed: int = 0, n_cloud_draws: int = 4, model_path=None,
               cache: bool = True) -> ProposalTable:
    """Run the edge agent and the simulated cloud on ``generate_tasks(split, n, seed)``, once (cached)."""
    from netgpt_lite.agents.cloud_sim import SimulatedCloud
    from netgpt_lite.edge.agent import EdgeAgent, verdicts
    from netgpt_lite.edge.tiny_lm import shipped_model_path
    from netgpt_lite.tasks.checker import check_call
    from netgpt_lite.tasks.generate import generate_tasks

    path = Path(model_path) if model_path is not None else shipped_model_path()
    sha = model_sha(path)
    cached = cache_dir() / f"edge-{sha}-{split}-n{n}-seed{seed}-k{n_cloud_draws}.npz"
    if cache and cached.exists():
        return ProposalTable.load(cached)
    tasks = generate_tasks(split, n, seed=seed)
    agent = EdgeAgent.from_pretrained(path)
    outputs = agent.run(tasks)
    edge_ok = np.array([v.correct for v in verdicts(tasks, outputs)])
    cloud = SimulatedCloud(seed=seed)
    out = cloud.outcomes(tasks, n_draws=n_cloud_draws)
    cloud_valid = np.array([[check_call(cloud.answer(t, d)[0], t.tools, t.gold).schema_valid
                             for d in range(n_cloud_draws)] for t in tasks])
    table = ProposalTable(
        task_id=np.array([t.task_id for t in tasks]), kind=np.array([t.kind for t in tasks]),
        difficulty=np.array([t.difficulty for t in tasks]),
        edge_score=np.array([o.confidence(agent.score) for o in outputs]), edge_correct=edge_ok,
        edge_schema_valid=np.array([o.schema_valid for o in outputs]),
        edge_output_tokens=np.array([o.n_output_tokens for o in outputs], float), cloud_correct=out["correct"],
        cloud_schema_valid=cloud_valid, cloud_input_tokens=out["n_input_tokens"],
        cloud_output_tokens=out["n_output_tokens"], request_bytes=out["request_bytes"],
        response_bytes=out["response_bytes"], source=f"edge:{sha}+simulated_cloud",
    )
    if cache:
        table.save(cached)
    return table


def default_tables(n_test: int = 300, n_logs: int = 300, seed: int = 0,
                   eval_split: str = "validation") -> tuple[ProposalTable, ProposalTable]:
    """``(log_table, eval_table)`` through the shipped edge model, or SYNTHETIC tables
    (``source == "synthetic"``) when no checkpoint is shipped.

    Both default to the *deployment workload the edge was trained for*: validation tasks (the training
    phrasings with new values), the logs with ``seed`` and the evaluation stream with ``seed + 1``
    (different tasks).  ``eval_split="test"`` evaluates on the held-out phrasings instead, where the
    shipped edge is mostly wrong and the score distribution shifts; chapter 7 is about that shift.
    """
    from netgpt_lite.edge.tiny_lm import shipped_model_path

    if (shipped_model_path() / "config.json").exists():
        eval_seed = seed + 1 if eval_split == "validation" else seed
        return edge_table("validation", n_logs, seed), edge_table(eval_split, n_test, eval_seed)
    return synthetic_table(n_logs, seed + 1), synthetic_table(n_test, seed)
