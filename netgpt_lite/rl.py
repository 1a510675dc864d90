"""SFT-anchored RL of the edge model: a from-scratch loop and a TRL ``GRPOTrainer`` subclass (chapter 6).

Both optimise the composite objective of :mod:`netgpt_lite.rl_objective`,
``clipped_pg + beta * reverse_kl + gamma * forward_kl``, starting from the SFT edge model.
:func:`train_minimal` is one readable loop (CleanRL-style: sample a group per prompt, reward with the
chapter-3 checker, group-normalise, score old/ref log-probs, a few clipped updates); :func:`train_trl` runs TRL's ``GRPOTrainer`` (scales to real models and GPUs with accelerate) with ``gamma * forward_kl`` on
SFT-side examples added to its loss (:func:`anchored_grpo_trainer_class`).  Prompts and logged cloud answers
are ``datasets.Dataset`` objects (:func:`rl_dataset`); the reward is :func:`netgpt_lite.checker.reward`.

Example:
    >>> settings = RLSettings(steps=2, prompts_per_step=2, group_size=4)
    >>> settings.objective.beta, settings.objective.gamma
    (0.04, 0.1)
    >>> # model, history = train_minimal(model, tokenizer, prompts, sft_examples, settings)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass, field

import numpy as np

from netgpt_lite.rl_objective import (
    AnchoredRLSettings,
    anchored_loss,
    completion_logprobs,
    group_advantages,
    kl_per_token,
    token_mean,
    zero_variance_fraction,
)

METRICS = ("reward", "exact_match", "schema_valid", "kl_to_sft", "entropy", "frac_zero_std")
"""What both trainers log per step (see chapter 6, "What the logged metrics mean")."""


@dataclass(frozen=True)
class RLSettings:
    """One RL run.  Defaults: a minute-scale run of the ~1M-parameter edge model on 2 CPU cores.

    Attributes:
        steps: Optimiser rounds (each: one batch of sampled groups, ``updates_per_step`` updates).
        prompts_per_step: Prompts sampled per step.
        group_size: Completions per prompt (GRPO's G, >= 2): advantages are normalised within the group.
        updates_per_step: Clipped updates on each sampled batch (PPO's epochs; >1 makes clipping matter).
        learning_rate: Adam learning rate (a 1M-parameter model wants ~1e-4..1e-3, not TRL's 1e-6).
        temperature: Sampling temperature (1.0: sample the policy itself, the most exploration).
        max_completion_tokens: Generation budget per completion (the edge's calls are <= ~45 tokens).
        sft_batch_size: SFT-side (prompt, logged answer) pairs per update for the forward-KL term.
        dynamic_sampling: Drop groups whose rewards are all equal from the update (DAPO): they carry no
            policy-gradient signal and would only dilute the batch.
        max_grad_norm: Gradient-norm clip.
        objective: epsilon, beta, gamma and the reverse-KL estimator (:class:`AnchoredRLSettings`).
        seed: Seeds prompt order, sampling and (for TRL) data order.
        device: "cpu", "cuda" or None (CUDA when available).
    """

    steps: int = 40
    prompts_per_step: int = 8
    group_size: int = 8
    updates_per_step: int = 2
    learning_rate: float = 3e-4
    temperature: float = 1.0
    max_completion_tokens: int = 64
    sft_batch_size: int = 16
    dynamic_sampling: bool = True
    max_grad_norm: float = 1.0
    objective: AnchoredRLSettings = field(default_factory=AnchoredRLSettings)
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "prompts_per_step", "updates_per_step", "max_completion_tokens", "sft_batch_size",
                     "group_size"):  # fmt: skip
            if getattr(self, name) < (2 if name == "group_size" else 1):
                raise ValueError(f"{name} must be >= {2 if name == 'group_size' else 1}, got {getattr(self, name)}")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}; try 3e-4")
        if not 0.0 < self.temperature <= 2.0:
            raise ValueError(f"temperature must be in (0, 2], got {self.temperature}; 1.0 samples the policy")
        if self.max_grad_norm <= 0 or self.seed < 0:
            raise ValueError(f"max_grad_norm must be > 0 and seed >= 0, got {self.max_grad_norm}, {self.seed}")
        if self.device not in (None, "cpu", "cuda"):
            raise ValueError(f"device must be None, 'cpu' or 'cuda', got {self.device!r}")

    def replace(self, **changes) -> RLSettings:
        """A copy with some fields changed; ``epsilon``/``beta``/``gamma`` go into ``objective``."""
        weights = {k: changes.pop(k) for k in ("epsilon", "beta", "gamma", "kl_estimator") if k in changes}
        if weights:
            changes["objective"] = dataclasses.replace(self.objective, **weights)
        return dataclasses.replace(self, **changes)


# --- data ------------------------------------------------------------------------------------------
def rl_dataset(tasks, tokenizer, answers: list[dict] | None = None, **template_kwargs):
    """Tasks as a ``datasets.Dataset``: ``task_id, difficulty, prompt`` (rendered), ``completion, tools, gold``.

    ``answers`` are the logged (e.g. cloud) tool_calls, by default the tasks' gold calls: they become ``gold``
    (what the checker rewards) and ``completion`` (the SFT-side target of the forward KL).
    """
    from datasets import Dataset

    from netgpt_lite.edge_lm import format_completion, render_prompt

    answers = [t.gold for t in tasks] if answers is None else answers
    return Dataset.from_dict({
        "task_id": [t.task_id for t in tasks],
        "difficulty": [t.difficulty for t in tasks],
        "prompt": [render_prompt(tokenizer, t.messages, t.tools, **template_kwargs) for t in tasks],
        "completion": [format_completion(a) for a in answers],
        "tools": [json.dumps(t.tools) for t in tasks],
        "gold": [json.dumps(a) for a in answers],
    })  # fmt: skip


def judge(completions: list[str], tools_json: list[str], gold_json: list[str]) -> dict[str, np.ndarray]:
    """Reward, exact match and schema validity of each completion (the chapter-3 checker)."""
    from netgpt_lite.checker import check_completion, reward

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


def _sample(model, tokenizer, prompts: list[str], settings: RLSettings, device):
    """``group_size`` sampled completions per prompt: prompt/completion ids and masks, and the texts."""
    import torch

    enc = tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=False).to(device)
    prompt_ids = enc["input_ids"].repeat_interleave(settings.group_size, dim=0)  # [B*G, P]
    prompt_mask = enc["attention_mask"].repeat_interleave(settings.group_size, dim=0)
    with torch.no_grad():
        out = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, do_sample=True,
                             temperature=settings.temperature, top_k=0, top_p=1.0,
                             max_new_tokens=settings.max_completion_tokens,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    completion_ids = out[:, prompt_ids.shape[1] :]  # [B*G, T]
    is_eos = (completion_ids == tokenizer.eos_token_id).long()
    completion_mask = ((is_eos.cumsum(1) - is_eos) == 0).long()  # tokens up to and including the first eos
    texts = tokenizer.batch_decode(completion_ids * completion_mask + tokenizer.pad_token_id * (1 - completion_mask),
                                   skip_special_tokens=True)  # fmt: skip
    return prompt_ids, prompt_mask, completion_ids, completion_mask, texts


def evaluate(model, tokenizer, tasks, batch_size: int = 64) -> dict[str, float]:
    """Greedy exact match, schema-valid rate and mean reward of the edge on ``tasks``."""
    from netgpt_lite.edge_agent import EdgeAgent

    was_training, outputs = model.training, EdgeAgent(model, tokenizer, batch_size=batch_size).run(tasks)
    model.train(was_training)
    scores = judge([o.completion for o in outputs], [json.dumps(t.tools) for t in tasks],
                   [json.dumps(t.gold) for t in tasks])  # fmt: skip
    return {k: float(v.mean()) for k, v in scores.items()}


# --- the minimal trainer -----------------------------------------------------------------------------
def train_minimal(model, tokenizer, prompts, sft_examples, settings: RLSettings = RLSettings(),  # noqa: B008
                  eval_tasks=None, eval_every: int = 10, ref_model=None):  # fmt: skip
    """SFT-anchored GRPO, from scratch, in one loop.

    Args:
        model, tokenizer: The policy (starts as the SFT edge model; trained in place) and its tokenizer.
        prompts: :func:`rl_dataset` of the requests to practise on (``prompt``, ``tools``, ``gold``).
        sft_examples: :func:`rl_dataset` of logged cloud answers (``prompt``, ``completion``): the forward-KL side.
        settings: :class:`RLSettings`.
        eval_tasks: Tasks evaluated greedily (:func:`evaluate`) at step 0, every ``eval_every`` steps and at
            the end (history keys ``eval_exact_match``, ...).  ``ref_model``: the frozen SFT model (default: a copy).

    Returns:
        ``(model, history)``: the trained model and one dict of metrics per step (:data:`METRICS` and more).
    """
    import torch

    from netgpt_lite.runtime import torch_device

    device, rng = torch_device(settings.device), np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    model.to(device)
    ref_model = (copy.deepcopy(model) if ref_model is None else ref_model).to(device).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    obj, G, history = settings.objective, settings.group_size, []  # noqa: N806 (G as in the GRPO paper)
    for step in range(settings.steps + 1):
        row = {"step": step}
        if eval_tasks is not None and (step % eval_every == 0 or step == settings.steps):
            row.update({f"eval_{k}": v for k, v in evaluate(model, tokenizer, eval_tasks).items()})
        if step == settings.steps:  # the last row only evaluates the final model
            history.append(row)
            break
        start = time.perf_counter()
        # 1. sample a group of completions for each prompt, and reward them with the checker
        batch = prompts[rng.choice(len(prompts), settings.prompts_per_step, replace=False).tolist()]
        model.eval()
        p_ids, p_mask, c_ids, c_mask, texts = _sample(model, tokenizer, batch["prompt"], settings, device)
        scores = judge(texts, np.repeat(batch["tools"], G).tolist(), np.repeat(batch["gold"], G).tolist())
        rewards = torch.tensor(scores["reward"], dtype=torch.float32, device=device)  # [B*G]
        # 2. group-normalised advantages; optionally keep only groups whose rewards differ
        advantages = group_advantages(rewards, G)
        keep = torch.ones_like(rewards, dtype=torch.bool)
        if settings.dynamic_sampling:
            keep = (rewards.reshape(-1, G).std(dim=1) > 0).repeat_interleave(G)
        # 3. log-probs under the sampling policy (old) and the SFT model (ref), no gradient
        with torch.no_grad():
            logp_old, entropy = completion_logprobs(model, p_ids, p_mask, c_ids, c_mask, settings.temperature)
            logp_ref, _ = completion_logprobs(ref_model, p_ids, p_mask, c_ids, c_mask, settings.temperature)
        row.update({k: float(v.mean()) for k, v in scores.items()})
        row["kl_to_sft"] = float(token_mean(kl_per_token(logp_old, logp_ref, "k3"), c_mask))
        row["entropy"] = float(token_mean(entropy, c_mask))
        row["frac_zero_std"] = zero_variance_fraction(rewards, G)
        # 4. a few clipped updates of the composite loss on the kept completions
        model.train()
        for _ in range(settings.updates_per_step if bool(keep.any()) else 0):
            sft = sft_examples[rng.choice(len(sft_examples), settings.sft_batch_size, replace=False).tolist()]
            s_ids, s_mask, t_ids, t_mask = encode_pairs(tokenizer, sft["prompt"], sft["completion"], device)
            logp_new, _ = completion_logprobs(model, p_ids[keep], p_mask[keep], c_ids[keep], c_mask[keep],
                                              settings.temperature)  # fmt: skip
            sft_theta = sft_ref = None
            if obj.gamma > 0:
                sft_theta, _ = completion_logprobs(model, s_ids, s_mask, t_ids, t_mask)
                with torch.no_grad():
                    sft_ref, _ = completion_logprobs(ref_model, s_ids, s_mask, t_ids, t_mask)
            loss, terms = anchored_loss(logp_new, logp_old[keep], logp_ref[keep], advantages[keep], c_mask[keep],
                                        obj, sft_theta, sft_ref, t_mask)  # fmt: skip
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            row.update(terms)
        row["seconds"] = time.perf_counter() - start
        history.append(row)
    model.eval()
    return model, history


# --- the TRL trainer ---------------------------------------------------------------------------------
def exact_match_reward(completions, tools, gold, **kwargs) -> list[float]:
    """TRL reward function: 1.0 for an exact tool_call, else 0.0 (logged with weight 0)."""
    return judge(list(completions), list(tools), list(gold))["exact_match"].tolist()


def schema_valid_reward(completions, tools, gold, **kwargs) -> list[float]:
    """TRL reward function: 1.0 for a schema-valid tool_call, else 0.0 (logged with weight 0)."""
    return judge(list(completions), list(tools), list(gold))["schema_valid"].tolist()


def to_grpo_config(settings: RLSettings, output_dir: str):
    """TRL ``GRPOConfig`` for these settings: the one place the settings meet TRL (ML.md pitfalls 1-4)."""
    from trl import GRPOConfig

    from netgpt_lite.runtime import torch_device

    on_cpu = torch_device(settings.device) == "cpu"
    batch = settings.prompts_per_step * settings.group_size
    return GRPOConfig(
        output_dir=output_dir, max_steps=settings.steps * settings.updates_per_step,
        per_device_train_batch_size=batch, steps_per_generation=1, num_generations=settings.group_size,
        num_iterations=settings.updates_per_step, learning_rate=settings.learning_rate, lr_scheduler_type="constant",
        max_grad_norm=settings.max_grad_norm, temperature=settings.temperature, top_k=0, top_p=1.0,
        max_completion_length=settings.max_completion_tokens, beta=settings.objective.beta,
        epsilon=settings.objective.epsilon, loss_type="grpo", scale_rewards="group",
        reward_weights=[1.0, 0.0, 0.0], seed=settings.seed, data_seed=settings.seed,
        bf16=not on_cpu, use_cpu=on_cpu, activation_checkpointing=False, logging_steps=settings.updates_per_step,
        save_strategy="no", report_to="none", disable_tqdm=True, log_level="warning", dataloader_num_workers=0,
    )  # fmt: skip


def anchored_grpo_trainer_class():
    """``AnchoredGRPOTrainer``: TRL's ``GRPOTrainer`` plus ``gamma * forward_kl(pi_SFT || pi_theta)``.

    The class is built on first call because ``import trl`` takes ~10 s.  Extra constructor arguments:
    ``sft_examples`` (a :func:`rl_dataset`), ``gamma``, ``sft_batch_size``, ``seed``.
    """
    import torch
    from trl import GRPOTrainer

    from netgpt_lite.rl_objective import forward_kl_per_token, sequence_mean

    class AnchoredGRPOTrainer(GRPOTrainer):
        def __init__(self, *args, sft_examples, gamma: float, sft_batch_size: int = 16, seed: int = 0, **kwargs):
            super().__init__(*args, **kwargs)
            self.sft_examples, self.gamma, self.sft_batch_size = sft_examples, gamma, sft_batch_size
            self._sft_rng = np.random.default_rng(seed)
            # the SFT model: TRL's reference when beta > 0, else a frozen copy of the starting policy
            self.sft_model = self.ref_model if self.ref_model is not None else copy.deepcopy(self.model)
            self.sft_model.eval().requires_grad_(False)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            mode = "train" if model.training else "eval"
            if self.beta == 0.0:  # TRL logs "kl" only when it uses it; log KL to SFT anyway
                with torch.no_grad():
                    args = (inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"],
                            inputs["completion_mask"], self.temperature)  # fmt: skip
                    logp, _ = completion_logprobs(model, *args)
                    logp_sft, _ = completion_logprobs(self.sft_model, *args)
                self._metrics[mode]["kl"].append(float(token_mean(kl_per_token(logp, logp_sft), args[3])))
            if self.gamma > 0:
                rows = self._sft_rng.choice(len(self.sft_examples), self.sft_batch_size, replace=False).tolist()
                sft = self.sft_examples[rows]
                batch = encode_pairs(self.processing_class, sft["prompt"], sft["completion"], loss.device)
                logp_theta, _ = completion_logprobs(model, *batch)
                with torch.no_grad():
                    logp_sft, _ = completion_logprobs(self.sft_model, *batch)
                forward = sequence_mean(forward_kl_per_token(logp_theta, logp_sft), batch[3])
                loss = loss + self.gamma * forward / self.current_gradient_accumulation_steps
                self._metrics[mode]["forward_kl"].append(float(forward.detach()))
            return loss

    return AnchoredGRPOTrainer


def train_trl(model_dir, prompts, sft_examples, settings: RLSettings = RLSettings(), out_dir=None):  # noqa: B008
    """Run :func:`anchored_grpo_trainer_class` from a saved SFT folder (TRL rebuilds the reference from it).

    Returns ``(model, history)``: one dict per step with :data:`METRICS` (as in :func:`train_minimal`) and TRL's keys.
    """
    import tempfile

    import transformers
    from transformers import AutoTokenizer

    from netgpt_lite.checker import tool_call_reward

    transformers.logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), padding_side="left")
    trainer_class = anchored_grpo_trainer_class()
    with tempfile.TemporaryDirectory(prefix="netgpt_rl_") as scratch:
        trainer = trainer_class(
            model=str(model_dir), reward_funcs=[tool_call_reward, exact_match_reward, schema_valid_reward],
            args=to_grpo_config(settings, scratch), train_dataset=prompts.select_columns(["prompt", "tools", "gold"]),
            processing_class=tokenizer, sft_examples=sft_examples, gamma=settings.objective.gamma,
            sft_batch_size=settings.sft_batch_size, seed=settings.seed,
        )  # fmt: skip
        trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        trainer.train()
    names = {"reward": "reward", "exact_match": "rewards/exact_match_reward/mean", "kl_to_sft": "kl",
             "schema_valid": "rewards/schema_valid_reward/mean", "entropy": "entropy",
             "frac_zero_std": "frac_reward_zero_std"}  # fmt: skip
    logs = [e for e in trainer.state.log_history if "reward" in e]
    history = [{"step": i, **{k: e.get(v, float("nan")) for k, v in names.items()}, **e,
                "seconds": e.get("step_time", float("nan")) * settings.updates_per_step} for i, e in enumerate(logs)]  # fmt: skip
    model = trainer.model.eval()
    if out_dir is not None:
        from netgpt_lite.edge_lm import save_edge_model

        save_edge_model(model, tokenizer, out_dir)
    return model, history


# --- experiments: one run (the CLI) and the E5 ablation -----------------------------------------------
ABLATIONS = {"full": {}, "no_forward_kl": {"gamma": 0.0}, "no_reverse_kl": {"beta": 0.0},
             "plain_pg": {"beta": 0.0, "gamma": 0.0}}  # fmt: skip
"""E5 variants: changes to the objective weights of the full composite."""


def experiment_data(tokenizer, n_prompts: int = 512, n_logged: int = 512, n_eval: int = 200, seed: int = 0):
    """``(prompts, logged, eval_tasks)``: a wider pool of unlabelled requests to practise on (train templates,
    task seed ``1000 + seed``, never seen in SFT), the logged cloud answers (task seed 0, the SFT data) and
    held-out test-template tasks."""
    from netgpt_lite.tool_tasks import generate_tasks

    prompts = rl_dataset(generate_tasks("train", n_prompts, seed=1000 + seed), tokenizer)
    logged = rl_dataset(generate_tasks("train", n_logged, seed=0), tokenizer)
    return prompts, logged, generate_tasks("test", n_eval, seed=0)


def run_rl(model_dir=None, settings: RLSettings = RLSettings(), trainer: str = "minimal",  # noqa: B008
           n_prompts: int = 512, n_eval: int = 200, eval_every: int = 10, out_dir=None) -> list[dict]:  # fmt: skip
    """Load the SFT edge (default: the shipped checkpoint), run one trainer, optionally save it; return history."""
    from netgpt_lite.edge_lm import load_edge_model, save_edge_model, shipped_model_path

    model_dir = shipped_model_path() if model_dir is None else model_dir
    model, tokenizer = load_edge_model(model_dir)
    prompts, logged, eval_tasks = experiment_data(tokenizer, n_prompts, n_prompts, n_eval, settings.seed)
    if trainer == "minimal":
        model, history = train_minimal(model, tokenizer, prompts, logged, settings, eval_tasks, eval_every)
    elif trainer == "trl":
        before = evaluate(model, tokenizer, eval_tasks)
        model, history = train_trl(model_dir, prompts, logged, settings)
        after = evaluate(model, tokenizer, eval_tasks)
        history[0].update({f"eval_{k}": v for k, v in before.items()})
        history.append({"step": len(history), **{f"eval_{k}": v for k, v in after.items()}})
    else:
        raise ValueError(f"trainer must be 'minimal' or 'trl', got {trainer!r}")
    if out_dir is not None:
        save_edge_model(model, tokenizer, out_dir)
    return history


def run_ablation(model_dir=None, settings: RLSettings = RLSettings(), seeds=(0, 1, 2),  # noqa: B008
                 variants=tuple(ABLATIONS), n_prompts: int = 512, n_eval: int = 200, eval_every: int = 10) -> dict:  # fmt: skip
    """E5: each variant of :data:`ABLATIONS` with each seed (minimal trainer).  Returns a results dict:
    ``{"manifest", "variants": {name: {"weights", "runs": [{"seed", "history"}]}}, "summary"}``."""
    import platform

    import torch
    import transformers

    import netgpt_lite

    start, out = time.time(), {}
    for name in variants:
        runs = [{"seed": s, "history": run_rl(model_dir, settings.replace(seed=s, **ABLATIONS[name]),
                 "minimal", n_prompts, n_eval, eval_every)} for s in seeds]  # fmt: skip
        out[name] = {"weights": dataclasses.asdict(settings.replace(**ABLATIONS[name]).objective), "runs": runs}
    summary = {name: ablation_summary(v["runs"]) for name, v in out.items()}
    manifest = {"settings": dataclasses.asdict(settings), "seeds": list(seeds), "n_prompts": n_prompts,
                "n_eval": n_eval, "model_dir": str(model_dir or "shipped"), "wall_s": round(time.time() - start, 1),
                "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": {
                    "netgpt_lite": netgpt_lite.__version__, "torch": torch.__version__, "python": platform.python_version(),
                    "transformers": transformers.__version__}}  # fmt: skip
    return {"manifest": manifest, "variants": out, "summary": summary}


def ablation_summary(runs: list[dict]) -> dict[str, float]:
    """Change of test exact match from step 0 to the end (mean, std over seeds), final schema-valid, last KL."""
    change = [r["history"][-1]["eval_exact_match"] - r["history"][0]["eval_exact_match"] for r in runs]
    return {"exact_match_change_mean": float(np.mean(change)),
            "exact_match_change_std": float(np.std(change, ddof=1)) if len(change) > 1 else 0.0,
            "schema_valid_final_mean": float(np.mean([r["history"][-1]["eval_schema_valid"] for r in runs])),
            "kl_to_sft_last_mean": float(np.mean([r["history"][-2]["kl_to_sft"] for r in runs]))}  # fmt: skip
