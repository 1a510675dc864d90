"""The proposal table: per task, everything routing needs from the edge and the cloud, computed once.

Running the edge LM is the slow part of routing, so it happens once per task: a :class:`ProposalTable`
holds the edge score and whether the edge call is right, the cloud's outcome in several seeded draws,
token counts and bytes on the wire, as parallel arrays saved to ``.npz`` without pickling.  The
simulator (:mod:`netgpt_lite.routing.simulator`) then only samples request streams from a table and does
array arithmetic.  Real tables come from the edge agent and the simulated cloud
(:func:`netgpt_lite.routing.tables.proposal_table`); :func:`synthetic_table` makes a clearly synthetic
one, for tests and before the edge model exists.

Example:
    >>> table = synthetic_table(200, seed=0)
    >>> len(table), table.n_cloud_draws, table.source
    (200, 4, 'synthetic')
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ProposalTable:
    """Per-task edge and cloud outcomes, computed once (parallel arrays; cloud arrays have one
    column per seeded cloud draw).

    Attributes:
        task_id, kind, difficulty: task metadata (string arrays, shape (n,)).
        edge_score: the edge's score in [0, 1], shape (n,).
        edge_correct, edge_schema_valid: checker verdicts of the edge call, bool (n,).
        edge_output_tokens: tokens the edge generated, (n,).
        cloud_correct, cloud_schema_valid: checker verdicts of each cloud draw, bool (n, k).
        cloud_input_tokens: billed prompt tokens of a cloud call, (n,).
        cloud_output_tokens: billed output tokens of each cloud draw, (n, k).
        request_bytes: bytes uploaded on a fallback, (n,); response_bytes: downloaded, (n, k).
        source: where the numbers come from, e.g. ``"synthetic"`` or ``"edge:<sha>+simulated_cloud"``.
    """

    task_id: np.ndarray
    kind: np.ndarray
    difficulty: np.ndarray
    edge_score: np.ndarray
    edge_correct: np.ndarray
    edge_schema_valid: np.ndarray
    edge_output_tokens: np.ndarray
    cloud_correct: np.ndarray
    cloud_schema_valid: np.ndarray
    cloud_input_tokens: np.ndarray
    cloud_output_tokens: np.ndarray
    request_bytes: np.ndarray
    response_bytes: np.ndarray
    source: str = field(default="synthetic")

    def __post_init__(self) -> None:
        n = len(np.asarray(self.task_id))
        if n == 0:
            raise ValueError("a ProposalTable needs at least one task")
        for f in fields(self)[:-1]:
            arr = np.asarray(getattr(self, f.name))
            if f.name in ("edge_correct", "edge_schema_valid", "cloud_correct", "cloud_schema_valid"):
                arr = arr.astype(bool)
            elif f.name not in ("task_id", "kind", "difficulty"):
                arr = arr.astype(float)
            if f.name.startswith("cloud_") and f.name != "cloud_input_tokens" or f.name == "response_bytes":
                arr = arr.reshape(n, -1)
            if arr.shape[0] != n:
                raise ValueError(f"{f.name} must have one row per task ({n}); got shape {arr.shape}")
            object.__setattr__(self, f.name, arr)
        s = self.edge_score
        if not ((s >= 0) & (s <= 1)).all():
            raise ValueError("edge_score must lie in [0, 1]")

    def __len__(self) -> int:
        return len(self.task_id)

    @property
    def n_cloud_draws(self) -> int:
        return self.cloud_correct.shape[1]

    def save(self, path: str | Path) -> Path:
        """Write the table to an ``.npz`` file (no pickling)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        with path.open("wb") as fh:
            np.savez_compressed(fh, **{k: (v.astype(str) if v.dtype == object else v) for k, v in arrays.items()})
        return path

    @classmethod
    def load(cls, path: str | Path) -> ProposalTable:
        with np.load(Path(path), allow_pickle=False) as data:
            kwargs = {f.name: data[f.name] for f in fields(cls)}
        kwargs["source"] = str(kwargs["source"])
        return cls(**kwargs)


def synthetic_table(n: int, seed: int = 0, n_cloud_draws: int = 4) -> ProposalTable:
    """A SYNTHETIC table with realistic shapes, for tests and before the real edge model exists.

    Difficulty easy/medium/hard (40/35/25%); the edge is right with probability 0.85/0.55/0.25 and
    its score is informative but noisy (Beta(5, 2) when right, Beta(2, 4) when wrong; 0 when the
    output is schema-invalid); the cloud is right with probability 0.97/0.92/0.85; prompts of
    400-1,600 tokens, tool calls of 20-60 tokens, ~4 bytes per token on the wire.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    rng = np.random.default_rng(seed)
    level = rng.choice(3, size=n, p=[0.40, 0.35, 0.25])
    edge_ok = rng.random(n) < np.array([0.85, 0.55, 0.25])[level]
    invalid = ~edge_ok & (rng.random(n) < 0.3)
    score = np.where(edge_ok, rng.beta(5, 2, n), rng.beta(2, 4, n))
    score = np.where(invalid, 0.0, score)
    cloud_ok = rng.random((n, n_cloud_draws)) < np.array([0.97, 0.92, 0.85])[level][:, None]
    cloud_valid = cloud_ok | (rng.random((n, n_cloud_draws)) < 0.8)
    n_in = rng.integers(400, 1600, n).astype(float)
    n_out = rng.integers(20, 60, (n, n_cloud_draws)).astype(float)
    kind = np.where(rng.random(n) < 0.4, "next_step", "single_step")
    return ProposalTable(
        task_id=np.array([f"synthetic-{i:05d}" for i in range(n)]), kind=kind,
        difficulty=np.array(["easy", "medium", "hard"])[level], edge_score=score, edge_correct=edge_ok,
        edge_schema_valid=~invalid, edge_output_tokens=rng.integers(20, 60, n).astype(float),
        cloud_correct=cloud_ok, cloud_schema_valid=cloud_valid, cloud_input_tokens=n_in,
        cloud_output_tokens=n_out, request_bytes=4.0 * n_in, response_bytes=4.0 * n_out + 300.0,
        source="synthetic",
    )
