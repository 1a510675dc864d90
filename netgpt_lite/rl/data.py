"""What RL practises on and how it is judged: requests as a ``datasets.Dataset``, the checker's reward,
prompt/completion pairs as padded tensors, and greedy evaluation through the one evaluator (chapter 6).

Example:
    >>> scores = judge(['<tool_call>{"name":"ping","arguments":{}}</tool_call>'],
    ...                ['[{"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}}]'],
    ...                ['{"name": "ping", "arguments": {}}'])
    >>> float(scores["exact_match"][0]), float(scores["schema_valid"][0])
    (1.0, 1.0)
"""

from __future__ import annotations

import json

import numpy as np

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import evaluate as evaluate_edge
from netgpt_lite.edge.prompt import render_prompt
from netgpt_lite.tasks.checker import check_completion, reward
from netgpt_lite.tasks.generate import format_completion


def rl_dataset(tasks, tokenizer, answers: list[dict] | None = None, labelled=None, **template_kwargs):
    """Tasks as a ``datasets.Dataset``: ``task_id, difficulty, prompt`` (rendered), ``completion, tools, gold``,
    ``labelled``.

    ``answers`` are the logged (e.g. cloud) tool_calls, by default the tasks' gold calls: they become ``gold``
    (what the checker rewards) and ``completion`` (the SFT-side target of the anchor).  ``labelled``
    (default all True) marks the rows whose ``gold`` a reward may use; an unlabelled row is rewarded by a
    reward model in :func:`netgpt_lite.rl.minimal.train_minimal`, and its ``gold`` (the task's truth) only feeds diagnostics.
    """
    from datasets import Dataset

    answers = [t.gold for t in tasks] if answers is None else answers
    labelled = [True] * len(tasks) if labelled is None else [bool(x) for x in labelled]
    return Dataset.from_dict({
        "task_id": [t.task_id for t in tasks],
        "difficulty": [t.difficulty for t in tasks],
        "prompt": [render_prompt(tokenizer, t.messages, t.tools, **template_kwargs) for t in tasks],
        "completion": [format_completion(a) for a in answers],
        "tools": [json.dumps(t.tools) for t in tasks],
        "gold": [json.dumps(a) for a in answers],
        "labelled": labelled,
    })  # fmt: skip


def judge(completions: list[str], tools_json: list[str], gold_json: list[str]) -> dict[str, np.ndarray]:
    """Reward, exact match and schema validity of each completion (the chapter-3 checker)."""

    verdicts = [check_completion(c, json.loads(t), json.loads(g)) for c, t, g in zip(completions, tools_json, gold_json)]
    return {
        "reward": np.array([reward(v) for v in verdicts]),
        "exact_match": np.array([v.correct for v in verdicts], dtype=float),
        "schema_valid": np.array([v.schema_valid for v in verdicts], dtype=float),
    }


def encode_pairs(tokenizer, prompts: list[str], completions: list[str], device="cpu"):
    """Left-padded prompt ids ``[B, P]`` and right-padded completion ids + eos ``[B, T]``, with masks."""
    tokenizer.padding_side = "left"
    p = tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=False)
    tokenizer.padding_side = "right"
    c = tokenizer([x + tokenizer.eos_token for x in completions], padding=True, return_tensors="pt",
                  add_special_tokens=False)  # fmt: skip
    tokenizer.padding_side = "left"
    return (p["input_ids"].to(device), p["attention_mask"].to(device),
            c["input_ids"].to(device), c["attention_mask"].to(device))  # fmt: skip


def evaluate(model, tokenizer, tasks, batch_size: int = 8, per_request: bool = False,
             **template_kwargs) -> dict:
    """Greedy exact match, schema-valid rate and mean reward of the edge on ``tasks`` (prompts rendered with
    ``template_kwargs``, e.g. ``tool_format="compact"`` for SmolLM2), through the one evaluator
    (:func:`netgpt_lite.edge.evaluation.evaluate`). ``per_request=True`` returns each request's values
    (arrays in ``tasks`` order, for paired comparisons) instead of the means.

    Batches of 8: evaluating SmolLM2 on 64 validation requests (1 thread), a batch of 64
    held 3.5 GB at its peak and took 179 CPU-s, 16 held 1.9 GB in 100 CPU-s, 8 held 1.5 GB in 102 CPU-s
    (the KV cache and prefill activations grow with the batch; padding to the longest prompt wastes work),
    with the same answers at every size."""
    agent = EdgeAgent(model, tokenizer, batch_size=batch_size, template_kwargs=template_kwargs)
    was_training, outputs = model.training, evaluate_edge(agent, tasks).outputs
    model.train(was_training)
    scores = judge([o.completion for o in outputs], [json.dumps(t.tools) for t in tasks],
                   [json.dumps(t.gold) for t in tasks])  # fmt: skip
    return dict(scores) if per_request else {k: float(v.mean()) for k, v in scores.items()}
