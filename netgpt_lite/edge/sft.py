"""Supervised fine-tuning (SFT) of the edge LM with TRL's ``SFTTrainer``, loss on the completion only.

The edge model learns to answer a task from (prompt, completion) pairs: the rendered chat prompt
(:func:`netgpt_lite.edge.prompt.render_prompt`) and the gold call in the one completion format (:func:`netgpt_lite.tasks.generate.format_completion`).
The same function later fine-tunes the edge on logged cloud answers (chapter 6/7): pass any
``datasets.Dataset`` with string columns ``prompt`` and ``completion``.
:func:`train_edge_from_scratch` is the one from-scratch recipe (tokenizer, model, SFT on generated
tasks) behind ``netgpt-lite train-edge`` (:func:`train_edge_checkpoint`), the synergy loop's
round-0 edge and the RL ablations' SFT start.

All knobs live in the frozen :class:`SFTSettings`; :meth:`SFTSettings.to_sft_config` is the one
place that turns them into TRL's ``SFTConfig`` and avoids the pitfalls measured on these machines:
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
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.scoring import evaluate_edge
from netgpt_lite.edge.tiny_lm import (
    EdgeModelConfig,
    build_model,
    n_parameters,
    save_edge_model,
    sft_dataset,
    tokenizer_corpus,
    train_tokenizer,
)
from netgpt_lite.provenance import Recorder, file_sha256, write_manifest
from netgpt_lite.runtime import torch_device
from netgpt_lite.tasks.generate import generate_tasks

LR_SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")


@dataclass(frozen=True)
class SFTSettings:
    """Settings of one SFT run (defaults: the tiny model's recipe, batch 32, lr 3e-3, cosine).

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
    """Raise if any example would be truncated (TRL's SFTTrainer truncates to ``max_length`` silently); return the longest."""
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


def train_edge_from_scratch(
    n_tasks: int,
    data_seed: int = 0,
    settings: SFTSettings = SFTSettings(),  # noqa: B008
    model_config: EdgeModelConfig | None = None,
    vocab_size: int = 1024,
    out_dir=None,
):
    """The one from-scratch recipe of the edge LM: tokenizer, model, SFT on generated tasks.

    Trains the BPE tokenizer on ``n_tasks`` train-split tasks (task seed ``data_seed``,
    :func:`~netgpt_lite.edge.tiny_lm.tokenizer_corpus`), builds the model (init seed ``settings.seed``)
    and fine-tunes it on the same tasks' gold calls with :func:`train_sft`.

    Args:
        n_tasks: Train-split tasks to learn from (>= 1).
        data_seed: Task seed of those tasks.
        settings: The SFT run's :class:`SFTSettings` (its seed also seeds the model's init).
        model_config: Shape of the model (default :class:`~netgpt_lite.edge.tiny_lm.EdgeModelConfig`).
        vocab_size: BPE vocabulary size before the markers are added.
        out_dir: If given, the trained model and tokenizer are saved there.

    Returns:
        ``(model, tokenizer, log_history)``.

    Example:
        >>> tiny = EdgeModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
        >>> model, tok, history = train_edge_from_scratch(16, settings=SFTSettings(max_steps=2, show_progress=False),
        ...                                               model_config=tiny, vocab_size=300)  # doctest: +SKIP
        >>> model.config.model_type                                                         # doctest: +SKIP
        'llama'
    """
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    tasks = generate_tasks("train", n_tasks, seed=data_seed)
    tokenizer = train_tokenizer(tokenizer_corpus(tasks), vocab_size=vocab_size)
    model = build_model(tokenizer, model_config or EdgeModelConfig(), seed=settings.seed)
    model, history = train_sft(model, tokenizer, sft_dataset(tasks, tokenizer), settings, out_dir=out_dir)
    return model, tokenizer, history


def train_edge_checkpoint(
    out_dir,
    n_train: int = 3000,
    data_seed: int = 0,
    settings: SFTSettings = SFTSettings(),  # noqa: B008
    model_config: EdgeModelConfig | None = None,
    vocab_size: int = 1024,
    n_test: int = 600,
    n_logs: int = 600,
    command: str | None = None,
) -> dict:
    """The whole ``netgpt-lite train-edge`` run: :func:`train_edge_from_scratch`, evaluation, manifest.

    Saves the model and tokenizer to ``out_dir``, evaluates them on the test split
    (:func:`netgpt_lite.edge.scoring.evaluate_edge`) and writes ``out_dir/manifest.json`` with the
    project's one manifest writer (:func:`netgpt_lite.provenance.write_manifest`).  Returns the manifest.

    Args:
        out_dir: Folder of the checkpoint.
        n_train: Train-split tasks for SFT; ``data_seed`` is their task seed.
        settings, model_config, vocab_size: As in :func:`train_edge_from_scratch`.
        n_test: Test-split tasks evaluated; ``n_logs``: logs the learned scorer is fitted on.
        command: The command line recorded (default: this process's).

    Example:
        >>> manifest = train_edge_checkpoint("runs/edge", n_train=3000)        # doctest: +SKIP
        >>> manifest["metrics"]["accuracy"]["exact_match"] > 0                 # doctest: +SKIP
        True
    """
    import torch

    model_config = model_config or EdgeModelConfig()
    rec = Recorder(seed=settings.seed, split="train", command=command, entry=[__name__],
                   sizes={"n_train_tasks": n_train, "n_test_tasks": n_test, "n_logs": n_logs},
                   config={"data_seed": data_seed, "sft_settings": settings, "model_config": model_config,
                           "bpe_vocab_size": vocab_size})  # fmt: skip
    start = time.perf_counter()
    model, tokenizer, history = train_edge_from_scratch(n_train, data_seed, settings, model_config, vocab_size,
                                                        out_dir=out_dir)  # fmt: skip
    training_time_s = time.perf_counter() - start
    metrics = evaluate_edge(EdgeAgent(model, tokenizer), "test", n_test, seed=0, n_logs=n_logs)
    steps, losses = loss_curve(history)
    manifest = rec.finish(
        metrics=metrics,
        n_parameters=n_parameters(model),
        vocab_size=len(tokenizer),
        n_steps=int(max((h.get("step", 0) for h in history), default=0)),
        training_time_s=round(training_time_s, 1),
        train_runtime_s=round(train_runtime_s(history), 1),
        threads=torch.get_num_threads(),
        device=settings.resolved_device(),
        loss_curve={"step": steps.tolist(), "loss": [round(float(x), 4) for x in losses]},
        sha256_model_safetensors=file_sha256(Path(out_dir) / "model.safetensors"),
    )
    write_manifest(out_dir, manifest)
    return manifest
