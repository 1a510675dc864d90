"""An on-disk cache of the edge's answers, keyed by everything that determines them.

Greedy answers are a function of the weights, the decoding, the batches (left padding) and the code; a synergy
run asks for the same ones more than once: every trace of one seed evaluates and calibrates the same round-0
edge on the same requests, and the gain decomposition evaluates again the edges the rounds already evaluated.
With SmolLM2 on a CPU an answer costs about two CPU-seconds, so :func:`cached_answers` keeps each set of answers
under :func:`~netgpt_lite.runtime.cache_dir` ``/edge_answers``, keyed by the sha256 of the weights, the decoding
settings, the torch thread count, the hash of the code that answers (:func:`answering_code_hash`) and the
ordered request ids.  A cache file is JSON (no pickle); a broken one is named, ignored and overwritten.

Example:
    >>> import torch
    >>> len(weights_digest(torch.nn.Linear(2, 2)))
    16
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from netgpt_lite.edge.agent import EdgeOutput
from netgpt_lite.provenance import atomic_write_json
from netgpt_lite.provenance.code import code_hash, import_closure
from netgpt_lite.runtime import cache_dir

CACHE_SUBDIR = "edge_answers"
ANSWERING_MODULES = ("netgpt_lite.edge.agent", "netgpt_lite.edge.evaluation")
"""The modules whose code turns weights, settings and requests into answers (prompt, decoding, checking):
their import closure is the code part of a cache key."""
FIELDS = ("prompt", "completion", "tool_call", "schema_valid", "n_input_tokens", "n_output_tokens", "wall_ms",
          "retried")


def weights_digest(model) -> str:
    """sha256 (16 hex digits) of every parameter and buffer of ``model``: names, dtypes, shapes and bytes."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes())  # the raw bytes, whatever the dtype
    return digest.hexdigest()[:16]


@functools.cache
def answering_code_hash() -> str:
    """sha256 (16 hex digits) of the files :data:`ANSWERING_MODULES` import, transitively: the code that can
    change an answer.  A change anywhere else in the library (the routing, the CLI, a chapter's helper) keeps
    every cached answer; a change to the prompt, the generation or the checker makes them all anew.  Cached
    for the life of the process (the source does not change under a running program)."""
    return code_hash(import_closure(ANSWERING_MODULES))


def answer_key(model, agent, tasks) -> str:
    """The cache key of ``agent``'s answers to ``tasks`` (in this order) with ``model``'s weights."""
    import torch

    settings = {"weights": weights_digest(model), "code": answering_code_hash(), "threads": torch.get_num_threads(),
                "decoding": agent.decoding, "batch_size": agent.batch_size, "max_new_tokens": agent.max_new_tokens,
                "template": agent.template_kwargs, "tasks": [t.task_id for t in tasks]}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _load(path: Path) -> list[EdgeOutput] | None:
    try:
        rows = json.loads(path.read_text())
        return [EdgeOutput(**{k: row[k] for k in FIELDS}, token_logprobs=np.asarray(row["token_logprobs"], float))
                for row in rows]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        print(f"found a broken cache file {path} ({type(err).__name__}): answering again", flush=True)
        return None


def cached_answers(model, agent, tasks, compute, folder: str | Path | None = None) -> list[EdgeOutput]:
    """``compute(tasks)``'s outputs (a list of :class:`~netgpt_lite.edge.agent.EdgeOutput`), read from the cache
    when the same weights, settings, code and requests answered before, else computed and stored.

    Args:
        model: The edge's model (its weights are part of the key).
        agent: The :class:`~netgpt_lite.edge.agent.EdgeAgent` that answers (decoding, batch size, template).
        tasks: The requests, in order.
        compute: ``tasks -> outputs``, run on a miss.
        folder: The cache folder (default: :func:`~netgpt_lite.runtime.cache_dir` ``/edge_answers``).
    """
    path = Path(folder or cache_dir() / CACHE_SUBDIR) / f"{answer_key(model, agent, tasks)}.json"
    if path.exists():
        outputs = _load(path)
        if outputs is not None and len(outputs) == len(tasks):
            return outputs
    outputs = compute(tasks)
    rows = [{**{k: getattr(o, k) for k in FIELDS}, "token_logprobs": np.asarray(o.token_logprobs).tolist()}
            for o in outputs]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, rows)
    return outputs
