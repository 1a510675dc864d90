"""The two edges a synergy run can improve: the tiny from-scratch LM and SmolLM2-135M with a LoRA adapter.

:mod:`netgpt_lite.synergy.stages` says what a round does; this module says how each edge is loaded,
trained on the logged cloud answers, saved and read back.  Both edges go through the same steps:

* **tiny** (the lesson and the test suite's model): full fine-tuning with TRL's SFT on the *whole* log
  each round (it is small enough), then ``rl_steps`` of SFT-anchored RL; checkpoints are the model's
  safetensors.
* **smollm2** (the book's edge, ``../EDGE.md``): the shipped SFT adapter is round 0; each round continues
  that adapter by LoRA SFT over the round's *new* logged answers (``sft_epochs`` passes: every cloud answer
  is learned once, and a round costs what its log costs, not what the whole history costs), then
  ``rl_steps`` of SFT-anchored RL (:func:`netgpt_lite.rl.train_minimal`, the E5 settings with a smaller
  group) anchored to a frozen copy of the round's SFT adapter.  Checkpoints are the adapter only
  (``adapter_model.safetensors`` in bf16, ~9 MB, as shipped) plus its prompt format.

Example:
    >>> EDGES
    ('tiny', 'smollm2')
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.rl.minimal import RLSettings, encode_pairs, rl_dataset, train_minimal
from netgpt_lite.rl.objective import exact_kl

EDGES = ("tiny", "smollm2")
ADAPTER_DIR = "edge_adapter"  # a smollm2 checkpoint's adapter folder; a tiny one's model lives in "edge"
KL_EXAMPLES = {"tiny": 64, "smollm2": 16}  # teacher-forced examples behind the reported KL to the SFT model


def smollm2_rl_settings(steps: int, seed: int) -> RLSettings:
    """E5's RL settings (``experiments.rl_comparison.E5Config.rl``) with groups of 4: a step is ~half the
    cost and memory (two runs side by side must fit 23 GB on 2 cores)."""
    return RLSettings(steps=steps, prompts_per_step=4, group_size=4, updates_per_step=1, learning_rate=5e-4,
                      max_completion_tokens=48, sft_batch_size=4, bf16=None, seed=seed)


def initial_edge(config):
    """``(model, tokenizer, template_kwargs)`` of round 0 for ``config.edge``."""
    if config.edge == "smollm2":
        from netgpt_lite.edge.lora import load_adapter, shipped_adapter_path

        return load_adapter(shipped_adapter_path(), trainable=True)
    from netgpt_lite.edge.tiny_lm import load_edge_model, shipped_model_path

    if config.initial_edge not in ("shipped", "scratch"):
        model, tokenizer = load_edge_model(config.initial_edge)
    elif config.initial_edge == "shipped" and (shipped_model_path() / "config.json").exists():
        model, tokenizer = load_edge_model()
    else:
        from netgpt_lite.edge.sft import SFTSettings, train_edge_from_scratch

        settings = SFTSettings(n_epochs=config.warmup_epochs, seed=config.seed, show_progress=False)
        model, tokenizer, _ = train_edge_from_scratch(config.warmup_tasks, data_seed=config.seed, settings=settings)
    return model, tokenizer, {}


def edge_agent(system) -> EdgeAgent:
    """Greedy :class:`EdgeAgent` over a system's edge (batches of 64 tiny / 16 SmolLM2 prompts)."""
    batch = 16 if system.template else 64
    return EdgeAgent(system.model, system.tokenizer, batch_size=batch, template_kwargs=system.template)


def train_edge(system, examples, config, r: int):
    """SFT on ``(task, cloud call)`` pairs, then ``config.rl_steps`` of SFT-anchored RL.

    Returns:
        ``(model, kl_to_sft)``: the trained model and its exact KL to the round's SFT model per
        completion token (0.0 when no RL ran).
    """
    tasks, calls = [t for t, _ in examples], [c for _, c in examples]
    data = rl_dataset(tasks, system.tokenizer, answers=calls, **system.template)
    if config.edge == "smollm2":
        return _train_smollm2(system, data, config, r)
    return _train_tiny(system, data, config, r)


def _train_tiny(system, data, config, r: int):
    from netgpt_lite.edge.sft import SFTSettings, token_lengths, train_sft

    model, tokenizer = system.model, system.tokenizer
    settings = SFTSettings(n_epochs=config.sft_epochs, learning_rate=2e-3, seed=config.seed + r, show_progress=False)
    fits = np.flatnonzero(token_lengths(data, tokenizer) <= settings.max_length)  # never let TRL truncate
    data = data.select(fits.tolist())
    if len(data) == 0:
        return model, 0.0
    model, _ = train_sft(copy.deepcopy(model), tokenizer, data.select_columns(["prompt", "completion"]), settings)
    if config.rl_steps == 0 or len(data) < 8:
        return model, 0.0
    model.requires_grad_(True)  # (the SFT trainer may hand the model back with frozen parameters)
    sft_model = _frozen_copy(model)
    rl = RLSettings(steps=config.rl_steps, prompts_per_step=8, sft_batch_size=min(16, len(data)), seed=config.seed + r)
    model, _ = train_minimal(model, tokenizer, data, data, rl, ref_model=sft_model)
    return model, kl_to_reference(model, sft_model, tokenizer, data["prompt"][:64], data["completion"][:64])


def _train_smollm2(system, data, config, r: int):
    from netgpt_lite.edge.lora import LoraSettings, load_adapter, save_adapter, train_lora

    model, tokenizer, template = system.model, system.tokenizer, system.template
    if config.sft_epochs == 0 and config.rl_steps == 0:
        return model, 0.0
    with tempfile.TemporaryDirectory(prefix="netgpt-synergy-") as tmp:
        if config.sft_epochs > 0:
            settings = LoraSettings(learning_rate=5e-4, n_epochs=float(config.sft_epochs), warmup_ratio=0.0,
                                    seed=config.seed + r, tool_format=template["tool_format"])
            model, _ = train_lora(model, tokenizer, list(data["prompt"]), list(data["completion"]), settings,
                                  Path(tmp) / "sft", progress=False)
        if config.rl_steps == 0 or len(data) < 4:
            return model, 0.0
        save_adapter(model, Path(tmp) / "anchor", template["tool_format"])
        sft_model, _, _ = load_adapter(Path(tmp) / "anchor", trainable=False)  # frozen: the RL anchor
    sft_model.requires_grad_(False)
    model, _ = train_minimal(model, tokenizer, data, data, smollm2_rl_settings(config.rl_steps, config.seed + r),
                             ref_model=sft_model, template_kwargs=template, progress=False)
    n = KL_EXAMPLES["smollm2"]
    return model, kl_to_reference(model, sft_model, tokenizer, data["prompt"][:n], data["completion"][:n])


def _frozen_copy(model):
    """An independent, frozen copy of ``model`` (fresh tensors: nothing shared with the trained model)."""
    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_config(model.config)
    ref.load_state_dict({k: v.detach().clone() for k, v in model.state_dict().items()})
    return ref.eval().requires_grad_(False)


def kl_to_reference(model, ref_model, tokenizer, prompts, completions, batch_size: int = 8) -> float:
    """Exact KL(model || ref) per completion token (full vocabulary), teacher-forced on ``completions``."""
    import torch

    total, tokens = 0.0, 0.0
    for i in range(0, len(prompts), batch_size):
        p_ids, p_mask, c_ids, c_mask = encode_pairs(tokenizer, list(prompts[i:i + batch_size]),
                                                    list(completions[i:i + batch_size]))
        ids, mask, n = torch.cat([p_ids, c_ids], 1), torch.cat([p_mask, c_mask], 1), p_ids.shape[1]
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits[:, n - 1 : -1]
            ref = ref_model(input_ids=ids, attention_mask=mask).logits[:, n - 1 : -1]
        total += float((exact_kl(logits, ref) * c_mask).sum())  # exact_kl: [B, T]
        tokens += float(c_mask.sum())
    return total / max(tokens, 1.0)


def save_edge(system, folder: Path) -> None:
    """The edge's weights: the tiny model (``edge/``) or the SmolLM2 adapter (``edge_adapter/``)."""
    if system.template:
        from netgpt_lite.edge.lora import save_adapter

        save_adapter(system.model, Path(folder) / ADAPTER_DIR, system.template["tool_format"])
        return
    from netgpt_lite.edge.tiny_lm import save_edge_model

    save_edge_model(system.model, system.tokenizer, Path(folder) / "edge")


def load_edge(folder: Path, config):
    """``(model, tokenizer, template_kwargs)`` from :func:`save_edge`'s folder (safetensors + JSON only)."""
    if config.edge == "smollm2":
        from netgpt_lite.edge.lora import load_adapter

        return load_adapter(Path(folder) / ADAPTER_DIR, trainable=True)
    from netgpt_lite.edge.tiny_lm import load_edge_model

    model, tokenizer = load_edge_model(Path(folder) / "edge")
    return model, tokenizer, {}
