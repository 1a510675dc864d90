"""Supervised fine-tuning (SFT) of the edge LM with TRL's ``SFTTrainer``, loss on the completion only.

The edge model learns to answer a task from (prompt, completion) pairs: the rendered chat prompt
(:func:`netgpt_lite.edge.tiny_lm.render_prompt`) and the Hermes ``<tool_call>...</tool_call>`` answer.
The same function later fine-tunes the edge on logged cloud answers (chapter 6/7): pass any
``datasets.Dataset`` with string columns ``prompt`` and ``completion``.

All knobs live in the frozen :class:`SFTSettings`; :meth:`SFTSettings.to_sft_config` is the one
place that turns them into TRL's ``SFTConfig`` and avoids the pitfalls measured here (ML.md):
``bf16=False`` and ``use_cpu=True`` on CPU (TRL defaults to bf16, ~14x slower on CPU), activation
checkpointing off (TRL defaults it on), no checkpoints saved, ``report_to="none"``.  TRL is imported
inside :func:`train_sft` because ``import trl`` costs ~10 s.

Measured here (3,000 train tasks, the 0.77 M-parameter default model): 4 epochs of batch 32 (376 steps)
teach the format and the tool choice but not yet to *copy* argument values from the request (validation
exact match ~0%); 8 epochs of batch 16 (1,504 steps, the shipped checkpoint, ``train_edge_checkpoint``)
reach ~55% on validation tasks.  Copying is learned abruptly, after enough optimiser steps.

Example:
    >>> settings = SFTSettings(n_epochs=4, batch_size=32, learning_rate=3e-3, seed=0)
    >>> settings.replace(max_steps=5).max_steps
    5
    >>> # model, log_history = train_sft(model, tokenizer, dataset, settings)
    >>> # steps, losses = loss_curve(log_history)
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LR_SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")


@dataclass(frozen=True)
class SFTSettings:
    """Settings of one SFT run (defaults: ML.md's tiny-model recipe, batch 32, lr 3e-3, cosine).

    Attributes:
        n_epochs: Passes over the dataset (> 0; fractional allowed). Ignored when ``max_steps > 0``.
        max_steps: Optimiser steps; ``-1`` means "use ``n_epochs``".
        batch_size: Examples per optimiser step (per device).
        learning_rate: Peak AdamW learning rate (a 1M-parameter model wants ~1e-3..5e-3, not TRL's 2e-5).
        lr_scheduler: One of :data:`LR_SCHEDULERS`.
        warmup_ratio: Fraction of steps of linear warmup, in [0, 1).
        weight_decay: AdamW weight decay (>= 0).
        max_length: Longest tokenized prompt + completion + eos; :func:`train_sft` refuses a dataset
            with a longer example instead of letting TRL truncate a completion silently.
        seed: Seeds data order and dropout (the model's init is seeded by ``build_model``).
        logging_steps: Log the training loss every this many steps (the loss curve's resolution).
        show_progress: Show TRL's tqdm progress bar (turn off in tests).
        device: ``"cpu"``, ``"cuda"`` or None for CUDA when available.
    """

    n_epochs: float = 4.0
    max_steps: int = -1
    batch_size: int = 32
    learning_rate: float = 3e-3
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_length: int = 256
    seed: int = 0
    logging_steps: int = 10
    show_progress: bool = True
    device: str | None = None

    def __post_init__(self) -> None:
        if not self.n_epochs > 0:
            raise ValueError(f"n_epochs must be > 0, got {self.n_epochs}; use max_steps for a step budget")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be -1 (use n_epochs) or >= 1, got {self.max_steps}")
        for name in ("batch_size", "max_length", "logging_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}; try 3e-3 for a tiny model")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ValueError(f"lr_scheduler must be one of {LR_SCHEDULERS}, got {self.lr_scheduler!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.device not in (None, "cpu", "cuda"):
            raise ValueError(f"device must be None, 'cpu' or 'cuda', got {self.device!r}")

    def replace(self, **changes) -> SFTSettings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def resolved_device(self) -> str:
        """The device this run uses: ``device``, or CUDA when available, else CPU."""
        from netgpt_lite.runtime import torch_device

        return torch_device(self.device)

    def to_sft_config(self, output_dir: str | Path):
        """TRL ``SFTConfig`` for these settings: the only place SFT settings meet TRL."""
        from trl import SFTConfig

        on_cpu = self.resolved_device() == "cpu"
        return SFTConfig(
            output_dir=str(output_dir),
            num_train_epochs=float(self.n_epochs),
            max_steps=self.max_steps,
            per_device_train_batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            lr_scheduler_type=self.lr_scheduler,
            warmup_steps=self.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
            weight_decay=self.weight_decay,
            max_length=self.max_length,
            completion_only_loss=True,  # loss on the tool_call tokens, never on the prompt
            packing=False,
            train_sampling_strategy="group_by_length",  # batches of similar length: ~30% less padding
            seed=self.seed,
            data_seed=self.seed,
            logging_steps=self.logging_steps,
            logging_strategy="steps",
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=not self.show_progress,
            bf16=not on_cpu,  # pitfall 1: TRL's bf16 default is ~14x slower on CPU
            use_cpu=on_cpu,
            activation_checkpointing=False,  # pitfall 2: TRL turns it on by default
            dataloader_num_workers=0,
            log_level="warning",
        )


def token_lengths(dataset, tokenizer) -> np.ndarray:
    """Token count of prompt + completion + eos for every example (what SFT will see)."""
    texts = [p + c + tokenizer.eos_token for p, c in zip(dataset["prompt"], dataset["completion"])]
    return np.array([len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]])


def check_lengths(dataset, tokenizer, max_length: int) -> int:
    """Raise if any example would be truncated (TRL cuts silently, ML.md pitfall 6); return the longest."""
    lengths = token_lengths(dataset, tokenizer)
    longest = int(lengths.max()) if len(lengths) else 0
    if longest > max_length:
        raise ValueError(
            f"max_length must be >= the longest example ({longest} tokens, {int((lengths > max_length).sum())} "
            f"examples too long); raise SFTSettings.max_length to at least {longest}"
        )
    return longest


def train_sft(model, tokenizer, dataset, settings: SFTSettings = SFTSettings(), out_dir=None):  # noqa: B008
    """Fine-tune ``model`` on a prompt-completion dataset with TRL's SFTTrainer (completion-only loss).

    Args:
        model: A causal LM (e.g. from :func:`netgpt_lite.edge.tiny_lm.build_model` or ``load_edge_model``).
        tokenizer: Its tokenizer (pad and eos set; TRL appends eos to every completion).
        dataset: ``datasets.Dataset`` with string columns ``prompt`` and ``completion``.
        settings: The run's :class:`SFTSettings`.
        out_dir: If given, the trained model and tokenizer are saved there (``save_edge_model``).

    Returns:
        ``(model, log_history)``: the trained model in eval mode and the trainer's log (a list of
        dicts; :func:`loss_curve` extracts the training loss; the last entry has ``train_runtime``).
    """
    import datasets
    import transformers
    from trl import SFTTrainer

    from netgpt_lite.edge.tiny_lm import save_edge_model

    missing = {"prompt", "completion"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"dataset must have string columns 'prompt' and 'completion'; missing {sorted(missing)}")
    check_lengths(dataset, tokenizer, settings.max_length)
    transformers.logging.set_verbosity_error()  # keep notebooks readable: no per-run info banners
    bars_were_on = datasets.is_progress_bar_enabled()
    if not settings.show_progress:
        datasets.disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory(prefix="netgpt_sft_") as scratch:
            trainer = SFTTrainer(
                model=model,
                args=settings.to_sft_config(scratch),
                train_dataset=dataset.select_columns(["prompt", "completion"]),
                processing_class=tokenizer,
            )
            if not settings.show_progress:  # without tqdm the trainer prints every log dict instead
                trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
            trainer.train()
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()
    model = trainer.model
    model.eval()
    if out_dir is not None:
        save_edge_model(model, tokenizer, out_dir)
    return model, list(trainer.state.log_history)


def loss_curve(log_history: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, losses)`` of the logged training loss, in step order.

    Example:
        >>> loss_curve([{"step": 10, "loss": 2.0}, {"step": 20, "loss": 1.5}, {"train_runtime": 3.0}])
        (array([10, 20]), array([2. , 1.5]))
    """
    rows = [(h["step"], h["loss"]) for h in log_history if "loss" in h and "step" in h]
    return np.array([r[0] for r in rows], dtype=int), np.array([r[1] for r in rows], dtype=float)


def train_runtime_s(log_history: list[dict]) -> float:
    """Wall time of the training loop in seconds, as the trainer measured it (nan if absent)."""
    return next((float(h["train_runtime"]) for h in reversed(log_history) if "train_runtime" in h), float("nan"))


def train_edge_checkpoint(
    out_dir,
    n_train: int = 3000,
    data_seed: int = 0,
    settings: SFTSettings = SFTSettings(),  # noqa: B008
    model_config=None,
    vocab_size: int = 1024,
    n_test: int = 600,
    n_logs: int = 600,
    command: str = "",
) -> dict:
    """The whole ``netgpt-lite train-edge`` recipe: tokenizer, model, SFT, evaluation, manifest.

    Trains the tokenizer and the model from scratch on ``n_train`` train-split tasks (task seed
    ``data_seed``), saves them to ``out_dir``, evaluates on the test split
    (:func:`netgpt_lite.edge.scoring.evaluate_edge`) and writes ``out_dir/manifest.json``.  Returns the manifest.
    """
    import datetime
    import hashlib
    import json
    import platform
    import time

    import tokenizers
    import torch
    import transformers
    import trl

    from netgpt_lite import __version__
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.edge.scoring import evaluate_edge
    from netgpt_lite.edge.tiny_lm import EdgeModelConfig, build_model, n_parameters, sft_dataset, task_texts
    from netgpt_lite.edge.tiny_lm import train_tokenizer as make_tokenizer
    from netgpt_lite.tasks.generate import generate_tasks

    model_config = model_config or EdgeModelConfig()
    tasks = generate_tasks("train", n_train, seed=data_seed)
    tokenizer = make_tokenizer(task_texts(tasks), vocab_size=vocab_size)
    model = build_model(tokenizer, model_config, seed=settings.seed)
    start = time.perf_counter()
    model, history = train_sft(model, tokenizer, sft_dataset(tasks, tokenizer), settings, out_dir=out_dir)
    wall_s = time.perf_counter() - start
    metrics = evaluate_edge(EdgeAgent(model, tokenizer), "test", n_test, seed=0, n_logs=n_logs)
    weights = Path(out_dir) / "model.safetensors"
    steps, losses = loss_curve(history)
    manifest = {
        "command": command,
        "data_seed": data_seed,
        "n_train_tasks": n_train,
        "n_epochs": settings.n_epochs,
        "n_steps": int(max((h.get("step", 0) for h in history), default=0)),
        "training_time_s": round(wall_s, 1),
        "train_runtime_s": round(train_runtime_s(history), 1),
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.system()}, {settings.resolved_device()}",
        "versions": {"netgpt_lite": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
                     "trl": trl.__version__, "tokenizers": tokenizers.__version__},  # fmt: skip
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "sft_settings": dataclasses.asdict(settings),
        "model_config": dataclasses.asdict(model_config),
        "n_parameters": n_parameters(model),
        "bpe_vocab_size": vocab_size,
        "vocab_size": len(tokenizer),
        "loss_curve": {"step": steps.tolist(), "loss": [round(x, 4) for x in losses]},
        "metrics": metrics,
        "sha256_model_safetensors": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest
