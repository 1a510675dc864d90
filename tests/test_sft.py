"""Tests for netgpt_lite.edge.sft: settings validation, the SFTConfig mapping, and a tiny SFT smoke run."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import torch

from netgpt_lite.edge.sft import (
    SFTSettings,
    check_lengths,
    loss_curve,
    token_lengths,
    train_edge_checkpoint,
    train_edge_from_scratch,
    train_runtime_s,
    train_sft,
)
from netgpt_lite.edge.tiny_lm import (
    EdgeModelConfig,
    build_model,
    sft_dataset,
    tokenizer_corpus,
    train_tokenizer,
)
from netgpt_lite.provenance import REQUIRED_FIELDS, read_manifest, source_hash
from netgpt_lite.tasks.generate import generate_tasks

TINY = EdgeModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
SMOKE = SFTSettings(max_steps=20, batch_size=8, learning_rate=1e-2, logging_steps=5, show_progress=False, seed=3)


@pytest.fixture(scope="module")
def setup():
    tasks = generate_tasks("train", 64, seed=0)
    tokenizer = train_tokenizer(tokenizer_corpus(tasks), vocab_size=400)
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


def test_one_from_scratch_recipe_is_tokenizer_model_and_sft_on_generated_tasks():
    settings = SMOKE.replace(max_steps=4, logging_steps=2)
    model, tokenizer, history = train_edge_from_scratch(32, data_seed=1, settings=settings, model_config=TINY,
                                                        vocab_size=400)
    tasks = generate_tasks("train", 32, seed=1)  # the same steps by hand
    by_hand = train_tokenizer(tokenizer_corpus(tasks), vocab_size=400)
    assert tokenizer.get_vocab() == by_hand.get_vocab()
    _, again = train_sft(build_model(by_hand, TINY, seed=settings.seed), by_hand, sft_dataset(tasks, by_hand), settings)
    assert list(loss_curve(history)[0]) == [2, 4]
    assert loss_curve(history)[1] == pytest.approx(loss_curve(again)[1], rel=1e-5)
    with pytest.raises(ValueError, match="n_tasks"):
        train_edge_from_scratch(0)


def test_checkpoint_manifest_comes_from_the_one_manifest_writer(tmp_path):
    settings = SMOKE.replace(max_steps=2, logging_steps=1)
    out = tmp_path / "edge"
    manifest = train_edge_checkpoint(out, n_train=24, data_seed=2, settings=settings, model_config=TINY,
                                     vocab_size=400, n_test=4, n_logs=10, command="pytest train-edge")
    on_disk = read_manifest(out)
    assert set(on_disk) >= REQUIRED_FIELDS and set(on_disk) == set(manifest) and "note" not in on_disk
    assert on_disk["command"] == "pytest train-edge" and on_disk["source_hash"] == source_hash()
    assert on_disk["seed"] == settings.seed and on_disk["split"] == "train"
    assert on_disk["sizes"] == {"n_train_tasks": 24, "n_test_tasks": 4, "n_logs": 10}
    assert on_disk["config"]["data_seed"] == 2 and on_disk["config"]["model_config"] == dataclasses.asdict(TINY)
    assert on_disk["config"]["sft_settings"]["max_steps"] == 2 and on_disk["n_steps"] == 2
    assert on_disk["loss_curve"]["step"] == [1, 2] and on_disk["metrics"]["accuracy"]["n"] == 4
    weights = (out / "model.safetensors").read_bytes()
    assert on_disk["sha256_model_safetensors"] == hashlib.sha256(weights).hexdigest()
