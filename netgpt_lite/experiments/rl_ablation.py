"""One RL run of chapter 6 (``netgpt-lite rl``), and the variants of the composite objective.

:data:`ABLATIONS` are the variants (full, no SFT anchor, no reverse KL, plain clipped policy gradient)
that experiment E5 (:mod:`netgpt_lite.experiments.rl_comparison`) compares; :func:`run_rl` trains one
from an SFT edge on :func:`experiment_data` (prompts wider than the SFT data, logged cloud answers, a
held-out evaluation set).

Example:
    >>> sorted(ABLATIONS)
    ['full', 'no_forward_kl', 'no_reverse_kl', 'plain_pg']
"""

from __future__ import annotations

from pathlib import Path

from netgpt_lite.edge.tiny_lm import load_edge_model, save_edge_model, shipped_model_path
from netgpt_lite.provenance import Recorder, atomic_write_json, file_sha256, scrub_path, write_manifest
from netgpt_lite.rl.data import evaluate, rl_dataset
from netgpt_lite.rl.minimal import RLSettings, train_minimal
from netgpt_lite.rl.trl_trainer import train_trl
from netgpt_lite.tasks.generate import generate_tasks

# --- experiments: one run (the CLI) and the E5 ablation -----------------------------------------------
ABLATIONS = {"full": {}, "no_forward_kl": {"gamma": 0.0}, "no_reverse_kl": {"beta": 0.0},
             "plain_pg": {"beta": 0.0, "gamma": 0.0}}  # fmt: skip
"""E5 variants: changes to the objective weights of the full composite.  ``no_forward_kl`` (gamma = 0) drops
the SFT anchor, :func:`~netgpt_lite.rl.objective.anchor_nll_gap_per_token` (the "forward-KL anchor": on samples
of pi_SFT it estimates KL(pi_SFT || pi_theta), on logged answers it is an NLL gap); the arm keeps the name the
shipped E5 artifact stores it under."""


def experiment_data(tokenizer, n_prompts: int = 512, n_logged: int = 512, n_eval: int = 200, seed: int = 0):
    """``(prompts, logged, eval_tasks)``: a wider pool of unlabelled requests to practise on (train templates,
    task seed ``1000 + seed``, never seen in SFT), the logged cloud answers (task seed 0, the SFT data) and
    held-out test-template tasks."""

    prompts = rl_dataset(generate_tasks("train", n_prompts, seed=1000 + seed), tokenizer)
    logged = rl_dataset(generate_tasks("train", n_logged, seed=0), tokenizer)
    return prompts, logged, generate_tasks("test", n_eval, seed=0)


SMOLLM2_NAMES = ("smollm2", "sft", "rl", "smollm2-base")  # EdgeAgent.from_pretrained's names for SmolLM2


def rl_start(model=None):
    """The model :func:`run_rl` starts from: None (the shipped tiny checkpoint, also for ``"tiny"``), or the
    given model folder or Hub id.

    Raises:
        ValueError: for SmolLM2 (one of :data:`SMOLLM2_NAMES` or a LoRA adapter folder): :func:`run_rl` trains
            every weight of a full checkpoint; SFT-anchored RL of SmolLM2's adapter is experiment E5.

    Example:
        >>> rl_start("tiny") is None
        True
    """
    if model is None or str(model) == "tiny":
        return None
    if str(model) in SMOLLM2_NAMES or (Path(model) / "adapter_config.json").is_file():
        raise ValueError(f"{str(model)!r} is SmolLM2, which this RL run cannot train: it trains every weight of a "
                         "full checkpoint such as the tiny edge (the default); for SFT-anchored RL of SmolLM2 (its LoRA "
                         "adapter) run 'netgpt-lite e5 --edge smollm2'")
    return model


def start_model(model_dir=None) -> dict:
    """Which SFT edge a run starts from: ``"shipped"`` or the folder (machine paths scrubbed), and the sha256
    of its weights (``None`` for a Hub id), so a manifest names the start by content, not by path.

    Example:
        >>> start_model()["model_dir"], len(start_model()["sha256_model_safetensors"])
        ('shipped', 64)
    """
    folder = shipped_model_path() if model_dir is None else Path(model_dir)
    return {"model_dir": "shipped" if model_dir is None else scrub_path(str(model_dir)),
            "sha256_model_safetensors": file_sha256(Path(folder) / "model.safetensors")}


def run_rl(model_dir=None, settings: RLSettings = RLSettings(), trainer: str = "minimal",  # noqa: B008
           n_prompts: int = 512, n_eval: int = 200, eval_every: int = 10, out_dir=None,
           command: str | None = None, progress: bool = False) -> list[dict]:  # fmt: skip
    """One RL run from the SFT edge (default: the shipped checkpoint); returns the per-step history.

    Args:
        model_dir: the SFT model folder (or Hub id); ``None`` or ``"tiny"``: the shipped checkpoint; SmolLM2
            is refused (:func:`rl_start`).
        settings: the RL settings (steps, group size, objective weights, seed, ...).
        trainer: ``"minimal"`` (the from-scratch loop) or ``"trl"`` (TRL's ``GRPOTrainer``).
        n_prompts, n_eval: requests practised on (and logged answers anchored to); held-out test tasks.
        eval_every: evaluate every this many steps (minimal trainer).
        out_dir: if given (``netgpt-lite rl --out``), the trained checkpoint, ``metrics.json`` (the history)
            and ``manifest.json`` (written by :class:`~netgpt_lite.provenance.Recorder`) go there.
        command: the command line for the manifest; default: this process's.
        progress: a progress bar on stderr (minimal trainer: steps done, time left, the last step's numbers).

    Example:
        >>> run_rl(settings=RLSettings(steps=1), trainer="ppo")
        Traceback (most recent call last):
        ValueError: trainer must be 'minimal' or 'trl', got 'ppo'
    """
    if trainer not in ("minimal", "trl"):
        raise ValueError(f"trainer must be 'minimal' or 'trl', got {trainer!r}")
    model_dir = rl_start(model_dir)
    recorder = Recorder(seed=settings.seed, split="train", command=command, entry=[__name__],
                        sizes={"steps": settings.steps, "n_prompts": n_prompts, "n_logged": n_prompts, "n_eval": n_eval},
                        config={"trainer": trainer, "eval_every": eval_every, "eval_split": "test",
                                "start_model": start_model(model_dir)})  # fmt: skip
    model_dir = shipped_model_path() if model_dir is None else model_dir
    model, tokenizer = load_edge_model(model_dir)
    prompts, logged, eval_tasks = experiment_data(tokenizer, n_prompts, n_prompts, n_eval, settings.seed)
    if trainer == "minimal":
        model, history = train_minimal(model, tokenizer, prompts, logged, settings, eval_tasks, eval_every,
                                       progress=progress)
    else:
        before = evaluate(model, tokenizer, eval_tasks)
        model, history = train_trl(model_dir, prompts, logged, settings)
        after = evaluate(model, tokenizer, eval_tasks)
        history[0].update({f"eval_{k}": v for k, v in before.items()})
        history.append({"step": len(history), **{f"eval_{k}": v for k, v in after.items()}})
    if out_dir is not None:
        save_edge_model(model, tokenizer, out_dir)
        atomic_write_json(Path(out_dir) / "metrics.json", history)
        first, last = history[0], history[-1]
        metrics = {"eval_exact_match_before": first.get("eval_exact_match"),
                   "eval_exact_match_after": last.get("eval_exact_match"),
                   "eval_schema_valid_after": last.get("eval_schema_valid")}  # fmt: skip
        write_manifest(out_dir, recorder.finish(settings=settings, metrics=metrics))
    return history
