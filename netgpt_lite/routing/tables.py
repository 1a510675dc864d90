"""Proposal tables from the real edge agent and the simulated cloud, cached on disk (chapters 5-7).

:func:`proposal_table` is the one builder of a :class:`~netgpt_lite.routing.proposals.ProposalTable`
from edge outputs and simulated-cloud answers (the synergy loop calls it every round).
:func:`edge_table` runs the edge agent (default: the shipped tiny checkpoint) once on a split of tasks,
builds its table and caches it as ``.npz`` under :func:`table_cache_dir` (``NETGPT_LITE_CACHE`` or
``~/.cache/netgpt-lite``), keyed by the model's and the library source's hashes.
:func:`default_tables` returns the test and log tables the chapters use, falling back to clearly
labelled synthetic tables when no checkpoint is shipped.

Example:
    >>> test_table, log_table = default_tables(n_test=50, n_logs=50)  # doctest: +SKIP
    >>> test_table.n                                                  # doctest: +SKIP
    50
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from netgpt_lite.agents.cloud_sim import SimulatedCloud
from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import verdicts
from netgpt_lite.edge.tiny_lm import shipped_model_path
from netgpt_lite.provenance import source_hash
from netgpt_lite.routing.proposals import ProposalTable, synthetic_table
from netgpt_lite.runtime import cache_dir
from netgpt_lite.tasks.checker import check_call
from netgpt_lite.tasks.generate import generate_tasks


def table_cache_dir() -> Path:
    """Where proposal tables are cached: ``proposal_tables`` in :func:`netgpt_lite.runtime.cache_dir`."""
    return cache_dir() / "proposal_tables"


def model_sha(path: str | Path) -> str:
    """First 12 hex digits of the sha256 over a checkpoint folder's weight and tokenizer files."""
    digest = hashlib.sha256()
    for f in sorted(Path(path).glob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".json", ".bin"):
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def proposal_table(tasks, outputs, scores, cloud_seed: int = 0, n_cloud_draws: int = 1,
                   source: str = "edge+simulated_cloud") -> tuple[ProposalTable, list[dict]]:
    """The one proposal-table builder: given edge outputs and their routing scores, the simulated cloud's answers.

    Args:
        tasks: The tasks, in order.
        outputs: The edge agent's :class:`~netgpt_lite.edge.agent.EdgeOutput` for each task.
        scores: The routing score of each output (self-confidence or a learned scorer's), clipped to [0, 1].
        cloud_seed: Seed of the :class:`~netgpt_lite.agents.cloud_sim.SimulatedCloud`.
        n_cloud_draws: Seeded cloud answers per task (the table's cloud columns).
        source: The table's ``source`` label.

    Returns:
        ``(table, calls)``: the :class:`~netgpt_lite.routing.proposals.ProposalTable` and the cloud's call
        for each task in draw 0 (what a fallback would log).

    Example:
        >>> agent = EdgeAgent.from_pretrained()                              # doctest: +SKIP
        >>> tasks = generate_tasks("test", 8)                                # doctest: +SKIP
        >>> outputs = agent.run(tasks)                                       # doctest: +SKIP
        >>> table, calls = proposal_table(tasks, outputs, [o.confidence(agent.score) for o in outputs])  # doctest: +SKIP
        >>> len(table), len(calls)                                           # doctest: +SKIP
        (8, 8)
    """
    cloud = SimulatedCloud(seed=cloud_seed)
    out = cloud.outcomes(tasks, n_draws=n_cloud_draws)
    answers = [[cloud.answer(t, d)[0] for d in range(n_cloud_draws)] for t in tasks]
    table = ProposalTable(
        task_id=np.array([t.task_id for t in tasks]), kind=np.array([t.kind for t in tasks]),
        difficulty=np.array([t.difficulty for t in tasks]), edge_score=np.clip(np.asarray(scores, float), 0.0, 1.0),
        edge_correct=np.array([v.correct for v in verdicts(tasks, outputs)]),
        edge_schema_valid=np.array([o.schema_valid for o in outputs]),
        edge_output_tokens=np.array([o.n_output_tokens for o in outputs], float), cloud_correct=out["correct"],
        cloud_schema_valid=np.array([[check_call(c, t.tools, t.gold).schema_valid for c in calls]
                                     for calls, t in zip(answers, tasks)]),
        cloud_input_tokens=out["n_input_tokens"], cloud_output_tokens=out["n_output_tokens"],
        request_bytes=out["request_bytes"], response_bytes=out["response_bytes"], source=source)
    return table, [calls[0] for calls in answers]


def edge_table(split: str = "test", n: int = 300, seed: int = 0, n_cloud_draws: int = 4, model_path=None,
               cache: bool = True) -> ProposalTable:
    """Run the edge agent (default: the shipped checkpoint) on ``generate_tasks(split, n, seed)`` and build
    its :func:`proposal_table` with self-confidence scores, once: cached as ``.npz`` under :func:`table_cache_dir`.

    The cache key holds the model's sha (:func:`model_sha`), the library's :func:`~netgpt_lite.provenance.source_hash`
    (a code change never serves an old table), the split, ``n``, the seed and ``n_cloud_draws``.

    Example:
        >>> table = edge_table("validation", n=20, seed=1)                   # doctest: +SKIP
        >>> table.source.startswith("edge:"), table.n_cloud_draws            # doctest: +SKIP
        (True, 4)
    """
    path = Path(model_path) if model_path is not None else shipped_model_path()
    sha = model_sha(path)
    cached = table_cache_dir() / f"edge-{sha}-src{source_hash()}-{split}-n{n}-seed{seed}-k{n_cloud_draws}.npz"
    if cache and cached.exists():
        return ProposalTable.load(cached)
    tasks = generate_tasks(split, n, seed=seed)
    agent = EdgeAgent.from_pretrained(path)
    outputs = agent.run(tasks)
    table, _ = proposal_table(tasks, outputs, [o.confidence(agent.score) for o in outputs], cloud_seed=seed,
                              n_cloud_draws=n_cloud_draws, source=f"edge:{sha}+simulated_cloud")
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
    if (shipped_model_path() / "config.json").exists():
        eval_seed = seed + 1 if eval_split == "validation" else seed
        return edge_table("validation", n_logs, seed), edge_table(eval_split, n_test, eval_seed)
    return synthetic_table(n_logs, seed + 1), synthetic_table(n_test, seed)
