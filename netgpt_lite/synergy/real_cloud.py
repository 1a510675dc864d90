"""A real cloud in the synergy loop: the proposal table's cloud columns from an agent's actual answers.

The loop's tables come from :func:`netgpt_lite.routing.tables.proposal_table`, whose cloud columns are the
simulated cloud's.  :func:`with_cloud_answers` replaces them by what a real agent (any object with
``propose(tasks) -> [Proposal]``, e.g. :class:`netgpt_lite.agents.cloud_openai.OpenAICompatibleCloud`)
answers: its call for each task, judged by the checker against the task's gold call (correct, schema
valid), its billed tokens (``usage``; the 4-characters-per-token estimate when the server sent none)
and the bytes of its answer.  One cloud draw per task.  A request that failed after its retries is a
wrong, schema-invalid cloud answer (``tool_call=None``), and the loop logs no answer for it.

Every task of the table is sent: the simulator scores both choices for every request (AlwaysCloud on
the same stream is a reference), so a round costs ``requests_per_round + eval_requests +
calibration_tasks`` calls.  Point it at a local server (vLLM, llama.cpp, Ollama) for long runs.

Example:
    >>> table, calls = with_cloud_answers(table, tasks, cloud)   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from netgpt_lite.tasks.checker import check_call

CHARS_PER_TOKEN = 4.0
RESPONSE_OVERHEAD_BYTES = 300  # HTTP + JSON envelope around the completion (the simulated cloud's figure)


def with_cloud_answers(table, tasks, cloud) -> tuple:
    """``(table, calls)``: ``table`` with its cloud columns from ``cloud.propose(tasks)``, and each task's call."""
    proposals = cloud.propose(list(tasks))
    calls = [p.tool_call for p in proposals]
    verdicts = [check_call(c, t.tools, t.gold) for c, t in zip(calls, tasks)]
    request_chars = [len(json.dumps({"messages": t.messages, "tools": t.tools})) for t in tasks]
    input_tokens = [p.n_input_tokens or math.ceil(n / CHARS_PER_TOKEN) for p, n in zip(proposals, request_chars)]
    output_tokens = [p.n_output_tokens or math.ceil(len(p.completion) / CHARS_PER_TOKEN) for p in proposals]
    source = table.source.replace("simulated_cloud", "real_cloud")
    table = dataclasses.replace(
        table, cloud_correct=np.array([[v.correct] for v in verdicts]),
        cloud_schema_valid=np.array([[v.schema_valid] for v in verdicts]),
        cloud_input_tokens=np.array(input_tokens, float), cloud_output_tokens=np.array([[n] for n in output_tokens], float),
        response_bytes=np.array([[len(p.completion) + RESPONSE_OVERHEAD_BYTES] for p in proposals], float),
        source=source if source != table.source else f"{table.source}+real_cloud")
    return table, calls
