"""The one greedy evaluation of an edge model: verdicts per request, rates, and paired comparisons.

Every number in the library that says how good an edge is (``netgpt-lite eval-edge``, experiment E5,
the synergy loop, chapter 4) comes from :func:`evaluate`: greedy answers from
:meth:`~netgpt_lite.edge.agent.EdgeAgent.run` (deterministic batch composition), each judged by the
checker against its request's gold call.  An :class:`Evaluation` keeps one record per request
(:meth:`Evaluation.records`) so that any comparison can be recomputed later from saved files
(:func:`write_records`, :func:`read_records`, :func:`compare_records`), and two models evaluated on
the same requests are compared *paired* (:func:`compare`, :func:`netgpt_lite.stats.paired_comparison`).

Example:
    >>> from netgpt_lite.edge.agent import EdgeAgent
    >>> from netgpt_lite.tasks.generate import generate_tasks
    >>> tasks = generate_tasks("test", 8, seed=0)
    >>> a = evaluate(EdgeAgent.from_pretrained("tiny"), tasks)              # doctest: +SKIP
    >>> b = evaluate(EdgeAgent.from_pretrained("tiny"), tasks, batch_size=1)  # doctest: +SKIP
    >>> compare(a, b)["difference"]                                          # doctest: +SKIP
    0.0
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from netgpt_lite.edge.agent import EdgeOutput
from netgpt_lite.provenance import atomic_write_text
from netgpt_lite.stats import paired_comparison
from netgpt_lite.tasks.checker import check_call

RECORD_FIELDS = ("request", "task_id", "difficulty", "kind", "correct", "schema_valid", "error_type",
                 "confidence", "completion")
"""The fields of one per-request record (one JSON line of ``eval-edge --out``)."""


def verdicts(tasks: Sequence, outputs: Sequence[EdgeOutput]) -> list:
    """The checker's :class:`~netgpt_lite.tasks.checker.Verdict` of each output against its task's gold call."""
    return [check_call(o.tool_call, t.tools, t.gold) for t, o in zip(tasks, outputs)]


def accuracy_report(tasks: Sequence, outputs: Sequence[EdgeOutput]) -> dict:
    """Exact match and schema-valid rate, overall and by difficulty and kind, plus error-type counts.

    Example:
        >>> # accuracy_report(tasks, agent.run(tasks))["by_difficulty"]["easy"]["exact_match"]
    """
    checked = verdicts(tasks, outputs)

    def rates(rows: list[int]) -> dict:
        return {
            "n": len(rows),
            "exact_match": float(np.mean([checked[i].correct for i in rows])) if rows else float("nan"),
            "schema_valid": float(np.mean([outputs[i].schema_valid for i in rows])) if rows else float("nan"),
        }

    report = rates(list(range(len(tasks))))
    for attr, key in (("difficulty", "by_difficulty"), ("kind", "by_kind")):
        groups = sorted({getattr(t, attr) for t in tasks})
        report[key] = {g: rates([i for i, t in enumerate(tasks) if getattr(t, attr) == g]) for g in groups}
    errors = [v.error_type for v in checked]
    report["error_types"] = {e: errors.count(e) for e in sorted(set(errors))}
    return report


def request_key(task) -> str:
    """A content key of a request (messages, tools and gold call): equal keys mean the same request,
    whatever its id or position in a file.

    Example:
        >>> from netgpt_lite.tasks.generate import generate_tasks
        >>> t = generate_tasks("test", 1, seed=0)[0]
        >>> len(request_key(t)), request_key(t) == request_key(generate_tasks("test", 1, seed=0)[0])
        (16, True)
    """
    text = json.dumps({"messages": task.messages, "tools": task.tools, "gold": task.gold}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Evaluation:
    """An edge's greedy answers to ``tasks`` and their verdicts.

    Attributes:
        tasks: The requests, in order.
        outputs: One :class:`~netgpt_lite.edge.agent.EdgeOutput` per request.
    """

    tasks: list
    outputs: list = field(repr=False)

    @cached_property
    def verdicts(self) -> list:
        """The checker's verdict of every answer."""
        return verdicts(self.tasks, self.outputs)

    @property
    def correct(self) -> np.ndarray:
        """Exact match per request, ``(n,)`` bool."""
        return np.array([v.correct for v in self.verdicts], dtype=bool)

    def report(self) -> dict:
        """:func:`accuracy_report` of this evaluation."""
        return accuracy_report(self.tasks, self.outputs)

    def records(self) -> list[dict]:
        """One plain record per request (:data:`RECORD_FIELDS`): what a saved evaluation holds."""
        return [{"request": request_key(t), "task_id": t.task_id, "difficulty": t.difficulty, "kind": t.kind,
                 "correct": bool(v.correct), "schema_valid": bool(o.schema_valid), "error_type": v.error_type,
                 "confidence": round(o.confidence("mean"), 6), "completion": o.completion}
                for t, o, v in zip(self.tasks, self.outputs, self.verdicts)]  # fmt: skip


def evaluate(agent, tasks: Sequence, *, batch_size: int | None = None, progress: bool = False) -> Evaluation:
    """Greedy answers of ``agent`` to ``tasks``, judged by the checker: the library's one evaluation.

    The verdicts do not depend on the order of ``tasks`` (batches are composed by sorted prompt length
    and text); that they do not depend on ``batch_size`` either is checked on 300 SmolLM2 requests by
    ``scripts/bench_eval_invariance.py``.

    Args:
        agent: An :class:`~netgpt_lite.edge.agent.EdgeAgent`.
        tasks: The requests.
        batch_size: Prompts generated together (default: the agent's).
        progress: A progress bar with the time left on stderr.
    """
    tasks = list(tasks)
    return Evaluation(tasks, agent.run(tasks, batch_size=batch_size, progress=progress))


def compare(a: Evaluation, b: Evaluation, **options) -> dict:
    """Paired comparison of two evaluations of the same requests (A minus B); see
    :func:`netgpt_lite.stats.paired_comparison` for the fields and ``options``."""
    return compare_records(a.records(), b.records(), **options)


def compare_records(a: Sequence[dict], b: Sequence[dict], **options) -> dict:
    """Paired comparison of two saved evaluations, matched by request content (:func:`request_key`).

    Raises:
        ValueError: when the two do not hold the same set of requests (a paired comparison needs it).
    """
    right_a, right_b = _by_request(a, "A"), _by_request(b, "B")
    if set(right_a) != set(right_b):
        only_a, only_b = len(set(right_a) - set(right_b)), len(set(right_b) - set(right_a))
        raise ValueError(f"the two evaluations are not on the same requests ({only_a} only in A, {only_b} "
                         f"only in B): evaluate both with the same --split/--n/--seed or --tasks")  # fmt: skip
    keys = sorted(right_a)
    return paired_comparison([right_a[k] for k in keys], [right_b[k] for k in keys], **options)


def _by_request(records: Sequence[dict], name: str) -> dict:
    out = {}
    for i, r in enumerate(records):
        if not isinstance(r, dict) or "request" not in r or not isinstance(r.get("correct"), bool):
            raise ValueError(f"record {i} of {name} is not a verdict record (needs 'request' and a boolean 'correct')")
        if r["request"] in out:
            raise ValueError(f"record {i} of {name} repeats request {r['request']}: a paired comparison "
                             f"counts each request once")  # fmt: skip
        out[r["request"]] = r["correct"]
    return out


def write_records(path: str | Path, records: Sequence[dict], header: dict) -> Path:
    """Save per-request records as JSON lines, the first line a ``header`` (model, split, seed, ...).

    Example:
        >>> import tempfile
        >>> p = write_records(Path(tempfile.mkdtemp()) / "v.jsonl", [{"request": "ab", "correct": True}],
        ...                   {"model": "tiny"})
        >>> read_records(p)
        ({'model': 'tiny'}, [{'correct': True, 'request': 'ab'}])
    """
    lines = [json.dumps({"header": header}, sort_keys=True)] + [json.dumps(r, sort_keys=True) for r in records]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def read_records(path: str | Path) -> tuple[dict, list[dict]]:
    """``(header, records)`` of a file written by :func:`write_records`.

    Raises:
        ValueError: naming the file and line, when a line is not JSON or the header is missing.
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not JSON ({err.msg}); rewrite it with eval-edge --out") from None
    if not rows or not isinstance(rows[0], dict) or "header" not in rows[0]:
        raise ValueError(f"{path}: no header line: not a file written by eval-edge --out")
    return rows[0]["header"], rows[1:]
