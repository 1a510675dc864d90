"""LoRA fine-tuning of the SmolLM2 edge on logged cloud answers: a small, resumable training loop (chapter 4).

Only the low-rank adapters of the seven linear layers of every block train (rank 16: 4.9 M of 139 M
parameters); the loss is on the completion tokens only (the prompt is masked with -100).  The loop is
short and explicit rather than TRL's ``SFTTrainer`` for two reasons that matter here: resuming must
never unpickle a file (checkpoints are safetensors + JSON: the adapter, the AdamW moments, the step),
and bf16 autocast must be a measured choice per machine (on CPUs with AVX-512 BF16 or AMX it is about
1.8x faster for this model; fp32 stays the fallback).

A run writes ``out_dir/checkpoint`` every ``save_every_steps`` optimiser steps (atomically: a temporary
folder renamed) and the final adapter into ``out_dir`` (``adapter_config.json``, ``adapter_model.safetensors``
in bf16, ``netgpt_prompt.json`` naming the tool rendering, ``manifest.json``).  Killed and rerun with the
same arguments, it continues from the last checkpoint with the same batches, so the result is the same
as an uninterrupted run's up to floating-point reduction order.

Example:
    >>> LoraSettings(rank=8).alpha
    16.0
    >>> LoraSettings(rank=0)
    Traceback (most recent call last):
    ValueError: rank must be an integer >= 1 (the adapter's rank); got 0
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from netgpt_lite.agents.cloud_sim import SimulatedCloud
from netgpt_lite.edge.prompt import render_prompt
from netgpt_lite.edge.sft_batches import batch_order, collate, completion_loss, encode_examples
from netgpt_lite.edge.smollm import GGUF_FILE, gguf_path, load_smollm
from netgpt_lite.provenance import Recorder, atomic_write_json, file_sha256, peak_rss_mb, write_manifest
from netgpt_lite.runtime import (
    SFT_MMAP_BYTES,
    RunFolderError,
    prefer_bf16,
    release_freed_memory,
    training_memory,
)
from netgpt_lite.tasks.generate import generate_tasks

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PROMPT_FILE = "netgpt_prompt.json"  # how prompts are rendered for this adapter (the tool format)
TRIM_EVERY_STEPS = 8  # optimiser steps between heap trims (each costs about a seventh of a step)
# The SFT settings the shipped E5 run used when it continues an adapter ("more SFT"): kept so that
# artifact regenerates as it is; synergy rounds use the defaults.
SHIPPED_LOOP_LORA = {"batch_size": 8, "micro_batch_size": 8, "dropout": 0.05, "gradient_checkpointing": True,
                     "attention": "sdpa"}


@dataclass(frozen=True)
class LoraSettings:
    """Settings of one LoRA SFT run.

    Attributes:
        rank: adapter rank r (>= 1); alpha defaults to 2 r.
        alpha: LoRA scaling numerator (the update is scaled by alpha / r); None means 2 r.
        dropout: dropout on the adapter input, in [0, 1).  Default 0: dropout keeps a copy of every adapted
            layer's input for the backward pass (a quarter of the activations) and makes the training-mode
            forward differ from the eval-mode one that RL's ratio compares against.
        learning_rate: peak AdamW learning rate, in (0, 1).
        warmup_ratio: share of steps with linear warm-up, then cosine decay to 10% of the peak.
        batch_size: examples per optimiser step (>= 1).
        micro_batch_size: examples per forward and backward pass (>= 1); a step accumulates the gradients of
            ``ceil(batch_size / micro_batch_size)`` passes, each weighted by its share of the step's completion
            tokens, so the step is the same as one pass over the whole batch.  The activations held at once
            scale with it: without checkpointing a short bench in passes of 4 peaked at 5.0 GB, in passes of
            2 at 3.2 GB (1: 2.8 GB), at no more CPU per example (``scripts/bench_lora_cost.py``,
            ``scripts/bench_memory.py lora``).  Over a whole run the heap grows between trims: the shipped
            600-step run in passes of 2 peaked at 6.2 GB (its manifest's ``peak_rss_mb``).
        attention: the attention kernel while training, ``eager`` (matrix products) or ``sdpa`` (PyTorch's
            fused kernel, which generation keeps using).  On CPU the fused kernel's backward pass measured
            slower for these short sequences (1.58 against 1.50 CPU-s per example in passes of 2,
            ``scripts/bench_lora_cost.py --attention eager,sdpa``); eager keeps the attention weights for
            the backward pass (0.35 GB more at passes of 2).
        n_epochs: passes over the data (> 0; fractions allowed).
        max_length: longest prompt + completion in tokens; longer examples raise before training.
        tool_format: how the tools are rendered in the prompt (``names``, ``compact`` or ``full``).
        bf16: bf16 autocast for forward and backward; None picks it when a timed probe on this machine
            finds it faster (:func:`~netgpt_lite.runtime.prefer_bf16`: CPUs with AVX-512 BF16 or AMX) or on
            a GPU that supports it.
        save_every_steps: checkpoint interval in optimiser steps (>= 1).
        seed: seeds the adapter initialisation, dropout and the data order.
        gradient_checkpointing: keep only each layer's input in the forward pass and recompute the rest
            in the backward pass: a fraction of the activation memory (a batch of 8 SmolLM2 examples peaks
            at 1.5 GB with it, 5.9 GB without) for about 1.6x the CPU time (``scripts/bench_lora_cost.py``).
            Off by default: passes of 2 examples without it peak at 3.2 GB on a short bench and 6.2 GB over a
            600-step run; for less, turn this on.
    """

    rank: int = 16
    alpha: float | None = None
    dropout: float = 0.0
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.05
    batch_size: int = 4
    micro_batch_size: int = 2
    attention: str = "eager"
    n_epochs: float = 1.0
    max_length: int = 768
    tool_format: str = "compact"
    bf16: bool | None = None
    save_every_steps: int = 25
    seed: int = 0
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        need(isinstance(self.rank, int) and self.rank >= 1, f"rank must be an integer >= 1 (the adapter's rank); got {self.rank}")
        if self.alpha is None:
            object.__setattr__(self, "alpha", float(2 * self.rank))
        need(self.alpha > 0, f"alpha must be > 0; got {self.alpha}")
        need(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1); got {self.dropout}")
        need(0.0 < self.learning_rate < 1.0, f"learning_rate must be in (0, 1); got {self.learning_rate}")
        need(0.0 <= self.warmup_ratio < 1.0, f"warmup_ratio must be in [0, 1); got {self.warmup_ratio}")
        need(self.batch_size >= 1, f"batch_size must be >= 1; got {self.batch_size}")
        need(self.micro_batch_size >= 1, f"micro_batch_size must be >= 1; got {self.micro_batch_size}")
        need(self.attention in ("eager", "sdpa"), f"attention must be eager or sdpa; got {self.attention!r}")
        need(self.n_epochs > 0, f"n_epochs must be > 0; got {self.n_epochs}")
        need(self.max_length >= 16, f"max_length must be >= 16 tokens; got {self.max_length}")
        need(self.tool_format in ("names", "compact", "full"),
             f"tool_format must be one of names, compact, full; got {self.tool_format!r}")
        need(self.save_every_steps >= 1, f"save_every_steps must be >= 1; got {self.save_every_steps}")
        need(self.seed >= 0, f"seed must be >= 0; got {self.seed}")


def cpu_has_bf16() -> bool:
    """True when the CPU advertises AVX-512 BF16 or AMX (Linux ``/proc/cpuinfo``); False elsewhere.

    A hint for reports only: whether to train in bf16 is decided by timing it
    (:func:`~netgpt_lite.runtime.prefer_bf16`)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def learning_rate_at(step: int, n_steps: int, settings: LoraSettings) -> float:
    """Linear warm-up over ``warmup_ratio`` of the steps, then cosine decay to 10% of the peak.

    Example:
        >>> s = LoraSettings(learning_rate=1e-3, warmup_ratio=0.1)
        >>> [round(learning_rate_at(k, 10, s) * 1e3, 3) for k in (0, 1, 9)]
        [1.0, 1.0, 0.127]
    """
    warm = _warm_steps(settings, n_steps)
    if step < warm:
        return settings.learning_rate * (step + 1) / warm
    progress = (step - warm) / max(1, n_steps - warm)
    return settings.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _warm_steps(settings: LoraSettings, n_steps: int) -> int:
    return max(1, int(round(settings.warmup_ratio * n_steps)))


def save_checkpoint(folder: Path, tensors: dict, optimizer, record: dict) -> None:
    """A training checkpoint without pickle: ``tensors`` (e.g. the adapter) and the optimiser's moments as
    safetensors, ``record`` (step, losses, RNG states, ...) and the optimiser's hyper-parameters as JSON.
    Atomic: written into a temporary folder that is then renamed over ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp / "adapter.safetensors"))
    state = optimizer.state_dict()
    moments = {f"{pid}.{name}": value.detach().contiguous() for pid, slots in state["state"].items()
               for name, value in slots.items()}
    save_file(moments, str(tmp / "optimizer.safetensors"))
    atomic_write_json(tmp / "state.json", {**record, "param_groups": state["param_groups"]})
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def load_checkpoint(folder: Path, optimizer) -> tuple[dict, dict]:
    """Read what :func:`save_checkpoint` wrote, restoring ``optimizer``; ``(tensors, record)``.

    Raises:
        RunFolderError: naming the file and the fix (a ``ValueError``), when a file is missing or unreadable.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    path = folder / "state.json"  # the file being read, for the message
    try:
        record = json.loads(path.read_text())
        path = folder / "adapter.safetensors"
        tensors = load_file(str(path))
        path = folder / "optimizer.safetensors"
        moments = load_file(str(path))
        slots: dict[int, dict] = {}
        for key, value in moments.items():
            pid, name = key.split(".", 1)
            slots.setdefault(int(pid), {})[name] = value
        optimizer.load_state_dict({"state": slots, "param_groups": record.pop("param_groups")})
    except (OSError, KeyError, ValueError, json.JSONDecodeError, SafetensorError) as err:
        damaged = f"truncated or damaged ({type(err).__name__}: {err})"
        what = "missing" if isinstance(err, FileNotFoundError) else damaged
        raise RunFolderError(f"the checkpoint in {folder} is unreadable: {path.name} is {what}; delete that folder "
                             "to restart the run from step 0 (the run's other outputs are kept)") from None
    return tensors, record


def save_adapter(model, out_dir: str | Path, tool_format: str) -> Path:
    """Write the trained adapter (bf16 safetensors + ``adapter_config.json``) and its prompt format."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(state, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    model.peft_config["default"].save_pretrained(str(out))
    atomic_write_json(out / PROMPT_FILE, {"tool_format": tool_format})
    return out


def train_lora(model, tokenizer, prompts: Sequence[str], completions: Sequence[str], settings: LoraSettings,
               out_dir: str | Path, *, progress: bool = True, optimizer_state=None) -> tuple:
    """Fine-tune LoRA adapters on ``model`` and write them to ``out_dir``; resumable.

    ``model`` is a plain causal LM (a new adapter is added) or a PEFT model whose adapter was loaded
    trainable (``load_smollm(adapter, trainable=True)``): then that adapter trains further ("more SFT").
    With an ``optimizer_state`` (:class:`~netgpt_lite.edge.optimizer_state.OptimizerState`, e.g. the previous
    synergy round's), AdamW starts from its moments and the rate warms up over the first steps of all runs
    together and then stays constant (no cosine: the number of later runs is open); the state of the last
    step is left in it.

    Returns:
        ``(peft_model, history)``.  ``history`` has the keys ``step``, ``loss`` (the mean completion-token
        cross-entropy of each step), ``bf16``, ``resumed_from_step`` and ``settings``.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm

    out = Path(out_dir)
    rows = encode_examples(tokenizer, prompts, completions, settings.max_length)  # raises before any work
    batches = batch_order([len(x) for x, _ in rows], settings)
    n_labelled = [len(y) - y.count(-100) for _, y in rows]  # completion tokens + eos of each example
    use_cuda = next(model.parameters()).is_cuda
    bf16 = prefer_bf16("cuda" if use_cuda else "cpu") if settings.bf16 is None else settings.bf16  # a timed probe
    torch.manual_seed(settings.seed)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=list(TARGET_MODULES), task_type="CAUSAL_LM")
    if not hasattr(model, "peft_config"):  # a PeftModel (an adapter loaded trainable) continues its adapter
        model = get_peft_model(model, config)
    if settings.gradient_checkpointing:  # non-reentrant: dropout masks are replayed, the result is unchanged
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    attention_before = model.config._attn_implementation
    model.set_attn_implementation(settings.attention)  # restored below: generation keeps its own kernel
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    step, losses = 0, []
    offset = 0 if optimizer_state is None else optimizer_state.restore(optimizer)  # steps of earlier runs
    checkpoint = out / "checkpoint"
    if checkpoint.exists():
        from peft import set_peft_model_state_dict

        adapter, record = load_checkpoint(checkpoint, optimizer)
        set_peft_model_state_dict(model, adapter)
        step, losses = int(record["step"]), list(record["losses"])
    resumed_from = step
    model.train()
    device = "cuda" if use_cuda else "cpu"
    bar = tqdm(total=len(batches), initial=step, desc="LoRA SFT", unit="step", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)  # steps done, rate, time left
    with bar, training_memory(SFT_MMAP_BYTES):  # large freed activations leave RSS: a laptop holds the run
        while step < len(batches):
            torch.manual_seed(settings.seed * 1_000_003 + step)  # dropout masks depend on the step, not the history
            for group in optimizer.param_groups:
                group["lr"] = (learning_rate_at(step, len(batches), settings) if optimizer_state is None else
                               settings.learning_rate * min(1.0, (offset + step + 1) / _warm_steps(settings, len(batches))))
            batch, size = batches[step], settings.micro_batch_size
            n_targets = sum(n_labelled[i] for i in batch)
            step_loss = 0.0
            for start in range(0, len(batch), size):  # gradient accumulation: activations of one pass at a time
                chunk = batch[start:start + size]
                input_ids, labels, mask = (t.to(device) for t in collate(rows, chunk, tokenizer.pad_token_id))
                share = sum(n_labelled[i] for i in chunk) / n_targets
                with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
                    loss = completion_loss(model, input_ids, mask, labels)
                (loss * share).backward()  # token-weighted: the step's gradient is that of one pass over the batch
                step_loss += float(loss.detach()) * share
                del loss
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(round(step_loss, 5))
            step += 1
            if step % TRIM_EVERY_STEPS == 0:
                release_freed_memory()  # what the heap kept between steps of other lengths
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.4f}", refresh=False)
            if step % settings.save_every_steps == 0 and step < len(batches):
                from peft import get_peft_model_state_dict

                save_checkpoint(checkpoint, get_peft_model_state_dict(model), optimizer, {"step": step, "losses": losses})
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_disable()  # generation after training wants its KV cache back
        model.disable_input_require_grads()
    model.set_attn_implementation(attention_before)
    model.eval()
    save_adapter(model, out, settings.tool_format)
    shutil.rmtree(checkpoint, ignore_errors=True)
    if optimizer_state is not None:
        optimizer_state.capture(optimizer, offset + len(batches))
    history = {"step": list(range(1, len(losses) + 1)), "loss": losses, "bf16": bool(bf16),
               "resumed_from_step": resumed_from, "settings": asdict(settings)}
    return model, history


def load_adapter(folder: str | Path, trainable: bool = False):
    """``(model, tokenizer, template_kwargs)``: SmolLM2 with the LoRA adapter in ``folder`` and the prompt
    format it was trained with (``netgpt_prompt.json``), e.g. ``{"tool_format": "compact"}``.

    Example:
        >>> model, tokenizer, template = load_adapter(shipped_adapter_path())  # doctest: +SKIP
    """
    from netgpt_lite.edge.smollm import DEFAULT_TOOL_FORMAT, load_smollm

    prompt_file = Path(folder) / PROMPT_FILE
    fmt = json.loads(prompt_file.read_text()).get("tool_format") if prompt_file.exists() else DEFAULT_TOOL_FORMAT
    model, tokenizer = load_smollm(folder, trainable=trainable)
    return model, tokenizer, {"tool_format": fmt}


def shipped_adapter_path() -> Path:
    """The SmolLM2 LoRA adapter shipped in the package (``netgpt_lite/data/smollm2_adapter``)."""
    return Path(__file__).resolve().parents[1] / "data" / "smollm2_adapter"


def shipped_rl_adapter_path() -> Path:
    """The RL adapter shipped in the package (``netgpt_lite/data/rl/deployment_day/rl_adapter``): E5's
    headline arm on the deployment's own traffic, the shipped SFT adapter after more SFT on the day's cloud
    answers and then SFT-anchored RL anchored to that model (``netgpt-lite e5 --day test``; its
    ``manifest.json`` names the run and seed)."""
    return Path(__file__).resolve().parents[1] / "data" / "rl" / "deployment_day" / "rl_adapter"


def train_edge_adapter(out_dir: str | Path, n_train: int = 2000, data_seed: int = 0, cloud_seed: int = 0,
                       settings: LoraSettings = LoraSettings(), device: str = "cpu",  # noqa: B008
                       command: str | None = None, progress: bool = True, variety: str = "classic") -> dict:
    """The whole ``netgpt-lite train-edge --base smollm2`` run: logged cloud answers -> LoRA SFT -> adapter.

    The training data are what a deployment logs: ``n_train`` train-split requests (task seed
    ``data_seed``) answered by the simulated cloud (seed ``cloud_seed``; it is wrong on 1-7% of them,
    and the edge learns those answers too), of the generator's ``variety`` (``classic`` or ``broad``:
    :func:`~netgpt_lite.tasks.generate.generate_tasks`).  Rerun with the same arguments after a kill, it resumes.
    Writes the adapter and its ``manifest.json`` (through :mod:`netgpt_lite.provenance`) into ``out_dir``.

    Returns:
        The manifest.
    """
    if n_train < 1:
        raise ValueError(f"n_train must be >= 1; got {n_train}")
    rec = Recorder(seed=settings.seed, split="train", command=command, entry=[__name__],
                   sizes={"n_train_tasks": n_train},
                   config={"data_seed": data_seed, "cloud_seed": cloud_seed, "lora_settings": settings,
                           **({"variety": variety} if variety != "classic" else {}),  # classic manifests unchanged
                           "base": {"gguf_file": GGUF_FILE, "gguf_sha256": file_sha256(gguf_path())}})
    tasks = generate_tasks("train", n_train, seed=data_seed, variety=variety)
    answers = SimulatedCloud(seed=cloud_seed).propose(tasks)
    model, tokenizer = load_smollm(device=device)
    prompts = [render_prompt(tokenizer, t.messages, t.tools, tool_format=settings.tool_format) for t in tasks]
    completions = [a.completion for a in answers]
    model, history = train_lora(model, tokenizer, prompts, completions, settings, out_dir, progress=progress)
    manifest = rec.finish(
        n_trainable_parameters=int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        bf16=history["bf16"], resumed_from_step=history["resumed_from_step"],
        n_steps=len(history["loss"]), device=device,
        loss_curve={"step": history["step"][9::10], "loss": [round(float(np.mean(history["loss"][max(0, k - 9):k + 1])), 4)
                                                             for k in range(9, len(history["loss"]), 10)]},
        cloud_answer_accuracy=float(np.mean([a.tool_call == t.gold for a, t in zip(answers, tasks)])),
        sha256_adapter_safetensors=file_sha256(Path(out_dir) / "adapter_model.safetensors"),
        peak_rss_mb=peak_rss_mb(),  # of the whole run: loading, data, training
    )
    write_manifest(out_dir, manifest)
    return manifest
