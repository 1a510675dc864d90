"""The synergy loop's on-disk cache of edge answers: a hit gives the very outputs, any change of weights or
decoding misses, and a broken file is named and answered again."""

from __future__ import annotations

import numpy as np
import pytest

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.tiny_lm import shipped_model_path
from netgpt_lite.synergy.answer_cache import answer_key, cached_answers
from netgpt_lite.tasks.generate import generate_tasks

pytestmark = pytest.mark.skipif(not (shipped_model_path() / "config.json").exists(), reason="no shipped tiny edge")


def test_the_cache_returns_the_same_answers_and_misses_on_any_change(tmp_path, capsys):
    agent = EdgeAgent.from_pretrained("tiny", batch_size=4)
    tasks = generate_tasks("validation", 6, seed=5)
    calls = []

    def compute(ts):
        calls.append(len(ts))
        return agent.run(ts)

    first = cached_answers(agent.model, agent, tasks, compute, tmp_path)
    again = cached_answers(agent.model, agent, tasks, compute, tmp_path)
    assert calls == [6]  # the second call read the file
    for a, b in zip(first, again, strict=True):
        assert (a.completion, a.tool_call, a.schema_valid, a.n_output_tokens) == (
            b.completion, b.tool_call, b.schema_valid, b.n_output_tokens)
        assert np.allclose(a.token_logprobs, b.token_logprobs) and a.confidence() == pytest.approx(b.confidence())
    key = answer_key(agent.model, agent, tasks)
    assert answer_key(agent.model, agent, tasks[::-1]) != key  # another order, other batches
    retry = EdgeAgent(agent.model, agent.tokenizer, batch_size=4, decoding="retry")
    assert answer_key(agent.model, retry, tasks) != key
    import torch

    with torch.no_grad():
        next(agent.model.parameters()).add_(1e-3)
    assert answer_key(agent.model, agent, tasks) != key  # other weights
    (tmp_path / f"{answer_key(agent.model, agent, tasks)}.json").write_text("[{not json")
    cached_answers(agent.model, agent, tasks, compute, tmp_path)
    assert calls == [6, 6] and "found a broken cache file" in capsys.readouterr().out


def test_the_key_covers_the_code_that_answers_and_nothing_else():
    """Keyed on the answering code's closure: a change to the prompt, generation or checker misses; a change
    to the routing, the synergy loop or the CLI keeps every cached answer (a long run survives it)."""
    from netgpt_lite.provenance.code import import_closure
    from netgpt_lite.synergy.answer_cache import ANSWERING_MODULES

    closure = set(import_closure(ANSWERING_MODULES))
    assert {"edge/agent.py", "edge/generation.py", "edge/constrained.py", "edge/prompt.py",
            "tasks/checker.py"} <= closure
    assert not {f for f in closure if f.split("/")[0] in ("routing", "synergy", "cli", "experiments")}
