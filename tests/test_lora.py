"""Tests for netgpt_lite.edge.lora: settings, batches, training that lowers the loss, exact resume, bad checkpoints.

The loop is model-agnostic: these tests run it on the shipped tiny edge model (a 0.8 M Llama, seconds), on
test-split phrasings it has never seen, through the same code path that trains the SmolLM2 adapter
(``netgpt-lite train-edge --base smollm2``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from netgpt_lite.edge import lora  # noqa: E402
from netgpt_lite.edge.lora import LoraSettings, batch_order, encode_examples, learning_rate_at, train_lora  # noqa: E402
from netgpt_lite.edge.prompt import render_prompt  # noqa: E402
from netgpt_lite.edge.tiny_lm import load_edge_model, shipped_model_path  # noqa: E402
from netgpt_lite.tasks.generate import format_completion, generate_tasks  # noqa: E402

TASKS = generate_tasks("test", 24, seed=0)  # phrasings the shipped model never saw: its loss there is high
if not (shipped_model_path() / "config.json").exists():
    pytest.skip("no shipped tiny edge model", allow_module_level=True)


@pytest.fixture(scope="module")
def tokenizer():
    return load_edge_model()[1]


def _data(tokenizer):
    prompts = [render_prompt(tokenizer, t.messages, t.tools) for t in TASKS]
    return prompts, [format_completion(t.gold) for t in TASKS]


def _model(tokenizer):
    return load_edge_model()[0]


SETTINGS = LoraSettings(rank=8, learning_rate=0.01, batch_size=4, n_epochs=3.0, max_length=256, bf16=False,
                        save_every_steps=5, dropout=0.0)


@pytest.mark.parametrize("field, value, message", [
    ("rank", 0, "rank must be"), ("dropout", 1.0, "dropout must be"), ("learning_rate", 1.5, "learning_rate"),
    ("batch_size", 0, "batch_size"), ("micro_batch_size", 0, "micro_batch_size"), ("n_epochs", 0.0, "n_epochs"), ("tool_format", "xml", "tool_format"),
    ("save_every_steps", 0, "save_every_steps"), ("seed", -1, "seed"),
])
def test_settings_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        LoraSettings(**{field: value})


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    s = LoraSettings(learning_rate=1e-3, warmup_ratio=0.1)
    lrs = [learning_rate_at(k, 100, s) for k in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] == pytest.approx(1e-4, rel=0.05)


def test_batches_cover_every_example_and_bucket_lengths():
    lengths = list(np.random.default_rng(0).integers(10, 500, size=64))
    s = LoraSettings(batch_size=4, n_epochs=2.0)
    order = batch_order(lengths, s)
    assert len(order) == 32 and all(len(b) == 4 for b in order)
    flat = [i for b in order for i in b]
    assert sorted(flat[:64]) == list(range(64)) and sorted(flat[64:]) == list(range(64))  # each epoch once
    spread = np.mean([np.ptp([lengths[i] for i in b]) for b in order])
    random_spread = np.mean([np.ptp(lengths[k:k + 4]) for k in range(0, 64, 4)])
    assert spread < random_spread / 2  # length bucketing: a batch pads little
    assert order == batch_order(lengths, s)  # fixed by the settings alone (resume sees the same batches)


def test_prompt_tokens_are_masked_and_long_examples_refused(tokenizer):
    prompts, completions = _data(tokenizer)
    ids, labels = encode_examples(tokenizer, prompts[:1], completions[:1], 256)[0]
    n_prompt = len(tokenizer(prompts[0], add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [-100] * n_prompt and labels[n_prompt:] == ids[n_prompt:]
    assert ids[-1] == tokenizer.eos_token_id
    with pytest.raises(ValueError, match="example 0 has .* tokens > max_length=16"):
        encode_examples(tokenizer, prompts, completions, 16)


def test_training_lowers_the_loss_and_writes_a_loadable_adapter(tokenizer, tmp_path):
    prompts, completions = _data(tokenizer)
    model, history = train_lora(_model(tokenizer), tokenizer, prompts, completions, SETTINGS, tmp_path, progress=False)
    loss = history["loss"]
    assert len(loss) == 18 and np.mean(loss[-3:]) < 0.8 * np.mean(loss[:3])
    assert {p.name for p in tmp_path.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors",
                                                    lora.PROMPT_FILE}
    assert not (tmp_path / "checkpoint").exists()  # removed once the adapter is written
    from peft import PeftModel
    from safetensors.torch import load_file

    assert all(v.dtype == torch.bfloat16 for v in load_file(str(tmp_path / "adapter_model.safetensors")).values())
    reloaded = PeftModel.from_pretrained(_model(tokenizer), str(tmp_path))
    trained = dict(model.named_parameters())
    for name, p in reloaded.named_parameters():
        if "lora_" in name:
            assert torch.allclose(p.float(), trained[name].float(), atol=1e-2)


def test_a_killed_run_resumes_to_the_same_adapter(tokenizer, tmp_path, monkeypatch):
    prompts, completions = _data(tokenizer)
    straight, _ = train_lora(_model(tokenizer), tokenizer, prompts, completions, SETTINGS, tmp_path / "a",
                             progress=False)
    real_collate, calls = lora.collate, {"n": 0}

    passes = -(-SETTINGS.batch_size // SETTINGS.micro_batch_size)  # collate calls per step

    def dies_at_step_8(*args, **kwargs):  # after the checkpoint of step 5
        calls["n"] += 1
        if calls["n"] == 7 * passes + 1:
            raise KeyboardInterrupt("killed")
        return real_collate(*args, **kwargs)

    monkeypatch.setattr(lora, "collate", dies_at_step_8)
    with pytest.raises(KeyboardInterrupt):
        train_lora(_model(tokenizer), tokenizer, prompts, completions, SETTINGS, tmp_path / "b", progress=False)
    assert json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())["step"] == 5
    monkeypatch.setattr(lora, "collate", real_collate)
    resumed, history = train_lora(_model(tokenizer), tokenizer, prompts, completions, SETTINGS, tmp_path / "b",
                                  progress=False)
    assert history["resumed_from_step"] == 5 and len(history["loss"]) == 18
    a, b = dict(straight.named_parameters()), dict(resumed.named_parameters())
    for name in a:
        if "lora_" in name:
            assert torch.allclose(a[name], b[name], atol=1e-5), name


def test_micro_batches_make_the_same_gradient_as_one_pass(tokenizer, tmp_path, monkeypatch):
    """Gradient accumulation weighted by completion tokens: passes of 1 and of 3 examples give the gradient of one
    pass over the batch of 4 (an unweighted mean of the passes' losses would not)."""
    prompts, completions = _data(tokenizer)
    real_clip, grads = torch.nn.utils.clip_grad_norm_, []

    def spy(params, max_norm):  # the step's accumulated gradient, before clipping
        grads.append(torch.cat([p.grad.flatten() for p in params]).clone())
        return real_clip(params, max_norm)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    runs = {}
    for micro in (4, 3, 1):
        settings = LoraSettings(**{**SETTINGS.__dict__, "micro_batch_size": micro, "n_epochs": 1.0})
        grads.clear()
        _, history = train_lora(_model(tokenizer), tokenizer, prompts, completions, settings, tmp_path / str(micro),
                                progress=False)
        runs[micro] = (history["loss"][0], grads[0])
    for micro in (3, 1):
        assert runs[micro][0] == pytest.approx(runs[4][0], rel=1e-4)
        assert torch.allclose(runs[micro][1], runs[4][1], rtol=1e-3, atol=1e-6)


def test_a_broken_checkpoint_is_named(tokenizer, tmp_path):
    prompts, completions = _data(tokenizer)
    (tmp_path / "checkpoint").mkdir(parents=True)
    (tmp_path / "checkpoint" / "state.json").write_text('{"step": 3, "los')
    with pytest.raises(ValueError, match=r"checkpoint in .*checkpoint is unreadable.*delete that folder"):
        train_lora(_model(tokenizer), tokenizer, prompts, completions, SETTINGS, tmp_path, progress=False)


def test_a_carried_optimizer_state_continues_adam_across_runs(tokenizer, tmp_path):
    """Two runs sharing an OptimizerState: the second starts from the first's moments (no fresh sign step),
    its rate is past the warm-up, and the state saved to disk reads back identical."""
    from netgpt_lite.edge.optimizer_state import OptimizerState

    prompts, completions = _data(tokenizer)
    settings = LoraSettings(rank=8, learning_rate=0.01, batch_size=4, n_epochs=1.0, max_length=256, bf16=False,
                            dropout=0.0, warmup_ratio=0.5)  # fmt: skip
    state = OptimizerState()
    model, _ = train_lora(_model(tokenizer), tokenizer, prompts[:12], completions[:12], settings, tmp_path / "a",
                          progress=False, optimizer_state=state)  # fmt: skip
    assert state.global_step == 3 and all(int(s["step"]) == 3 for s in state.state_dict["state"].values())
    state.save(tmp_path / "optim")
    again = OptimizerState.load(tmp_path / "optim")
    assert again.global_step == 3
    for k, slots in state.state_dict["state"].items():
        assert all(torch.equal(v, again.state_dict["state"][k][name]) for name, v in slots.items())
    train_lora(model, tokenizer, prompts[12:], completions[12:], settings, tmp_path / "b", progress=False,
               optimizer_state=again)
    assert again.global_step == 6 and all(int(s["step"]) == 6 for s in again.state_dict["state"].values())
    assert again.state_dict["param_groups"][0]["lr"] == pytest.approx(0.01)  # constant after the warm-up
    assert OptimizerState.load(tmp_path / "missing").state_dict is None
    (tmp_path / "optim" / "state.json").write_text("{}")
    with pytest.raises(ValueError, match="optimizer.safetensors|global_step|param_groups|unreadable"):
        OptimizerState.load(tmp_path / "optim")
