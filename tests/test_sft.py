"""Tests for netgpt_lite.edge.sft: settings validation, the SFTConfig mapping, and a tiny SFT smoke run."""

from __future__ import annotations

import pytest
import torch

from netgpt_lite.edge.sft import (
    SFTSettings,
    check_lengths,
    loss_curve,
    token_lengths,
    train_runtime_s,
    train_sft,
)
from netgpt_lite.edge.tiny_lm import EdgeModelConfig, build_model, sft_dataset, task_texts, train_tokenizer
from netgpt_lite.tasks.generate import generate_tasks

TINY = EdgeModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
SMOKE = SFTSettings(max_steps=20, batch_size=8, learning_rate=1e-2, logging_steps=5, show_progress=False, seed=3)


@pytest.fixture(scope="module")
def setup():
    tasks = generate_tasks("train", 64, seed=0)
    tokenizer = train_tokenizer(task_texts(tasks), vocab_size=400)
    return tokenizer, sft_dataset(tasks, tokenizer)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"n_epochs": 0}, "n_epochs"), ({"max_steps": 0}, "max_steps"), ({"batch_size": 0}, "batch_size"),
     ({"learning_rate": 2.0}, "learning_rate"), ({"lr_scheduler": "step"}, "lr_scheduler"),
     ({"warmup_ratio": 1.0}, "warmup_ratio"), ({"device": "tpu"}, "device"), ({"seed": -1}, "seed")],
)  # fmt: skip
def test_invalid_settings_name_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        SFTSettings(**change)


def test_sft_config_avoids_the_cpu_pitfalls(tmp_path):
    config = SFTSettings(device="cpu", n_epochs=2, seed=7).to_sft_config(tmp_path)
    assert config.bf16 is False and config.use_cpu is True and config.activation_checkpointing is False
    assert config.completion_only_loss is True and config.packing is False and config.report_to == []
    assert config.seed == 7 and config.num_train_epochs == 2.0 and config.learning_rate == 3e-3


def test_length_check_refuses_truncation(setup):
    tokenizer, ds = setup
    longest = int(token_lengths(ds, tokenizer).max())
    assert check_lengths(ds, tokenizer, longest) == longest
    with pytest.raises(ValueError, match="max_length"):
        check_lengths(ds, tokenizer, longest - 1)
    with pytest.raises(ValueError, match="max_length"):
        train_sft(build_model(tokenizer, TINY), tokenizer, ds, SMOKE.replace(max_length=longest - 1))


def test_sft_lowers_the_loss_changes_parameters_and_is_reproducible(setup, tmp_path):
    tokenizer, ds = setup
    model = build_model(tokenizer, TINY, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    model, history = train_sft(model, tokenizer, ds, SMOKE, out_dir=tmp_path / "sft")
    steps, losses = loss_curve(history)
    assert list(steps) == [5, 10, 15, 20] and losses[-1] < 0.75 * losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert train_runtime_s(history) > 0 and (tmp_path / "sft" / "model.safetensors").exists()
    _, again = train_sft(build_model(tokenizer, TINY, seed=0), tokenizer, ds, SMOKE)
    assert loss_curve(again)[1] == pytest.approx(losses, rel=1e-5)


def test_dataset_columns_are_checked(setup):
    tokenizer, ds = setup
    with pytest.raises(ValueError, match="prompt"):
        train_sft(build_model(tokenizer, TINY), tokenizer, ds.rename_column("prompt", "query"), SMOKE)
