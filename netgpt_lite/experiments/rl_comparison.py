"""E5: does SFT-anchored RL improve the real edge beyond SFT, and what do its anchors do? (chapters 6 and 8)

One experiment, one artifact (``netgpt_lite/data/rl/e5.json``), written by ``netgpt-lite e5``:

* **Start**: the shipped SFT LoRA adapter of the SmolLM2 edge (``edge="tiny"``: the from-scratch model,
  the fast path of the tests).  The SFT model, frozen, is the reference of both KL terms.
* **A day of new requests** (validation-split phrasings, which the SFT data never contained): the SFT
  edge answers ``n_pool`` of them greedily; the least confident half falls back to the cloud, whose
  answers become **labels**; the rest the edge kept: **no label**.  RL practises on both, rewarded by
  the checker against the cloud's call where there is one and by a **reward model** (the learned
  scorer fitted on the cloud-routed pairs, :mod:`netgpt_lite.rl.reward_model`) where there is none.
* **Arms at equal labelled data**: ``sft`` (the start), ``more_sft`` (the adapter trained further on the
  same labels plus replayed SFT data), ``rl`` (SFT-anchored RL, the full composite); and the ablation
  of the composite (:data:`~netgpt_lite.experiments.rl_ablation.ABLATIONS`): ``no_forward_kl``,
  ``no_reverse_kl``, ``plain_pg``.
* **Evaluation**: greedy, on held-out test-split phrasings and on the hand-written requests.

Resumable: every finished run is a JSON file under ``out_dir/runs``; a rerun reuses them (a broken one is
named and run again), and an RL run killed midway continues from its checkpoint.  Run files and artifacts
written before two metrics were renamed are read with the current names (:func:`read_e5`,
:data:`STORED_NAMES`); the ablation arm ``no_forward_kl`` (gamma = 0) keeps its stored name.

Example:
    >>> E5Config(n_pool=1)
    Traceback (most recent call last):
    ValueError: n_pool must be >= 4 (half of it is labelled), got 1
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netgpt_lite.agents.cloud_sim import SimulatedCloud
from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import evaluate
from netgpt_lite.edge.lora import (
    SHIPPED_LOOP_LORA,
    LoraSettings,
    load_adapter,
    save_adapter,
    shipped_adapter_path,
    train_lora,
)
from netgpt_lite.edge.scoring import auroc
from netgpt_lite.experiments.rl_ablation import ABLATIONS
from netgpt_lite.provenance import (
    Recorder,
    atomic_write_json,
    file_sha256,
    git_state,
    source_hash,
    write_manifest,
)
from netgpt_lite.rl.data import rl_dataset
from netgpt_lite.rl.minimal import RLSettings, train_minimal
from netgpt_lite.rl.reward_model import RewardModel
from netgpt_lite.tasks.checker import check_call
from netgpt_lite.tasks.generate import generate_tasks

RL_ARMS = {"rl": {}, **{k: v for k, v in ABLATIONS.items() if k != "full"}}
"""The RL runs: ``rl`` is the full composite; the others drop one or both anchors."""


@dataclass(frozen=True)
class E5Config:
    """What E5 runs.  The defaults are the preset the shipped artifact was made with on 2 CPU cores.

    Attributes:
        edge: ``"smollm2"`` (the shipped SFT adapter) or ``"tiny"`` (the from-scratch model; fast).
        n_pool: new validation-split requests of the day (task seed ``task_seed``); half are labelled.
        n_replay: logged SFT examples (train split, task seed 0) replayed by the forward KL and ``more_sft``.
        n_eval: held-out test-split requests (task seed 0).
        seeds: seeds of the headline arms (``rl``, ``more_sft``).
        ablation_seeds: seeds of the anchor-free variants.
        ablation_arms: which anchor-free variants run (default all three of :data:`RL_ARMS` but ``rl``).
        rl: the RL settings of the full composite (each variant changes its weights, each run its seed).
        more_sft_epochs, more_sft_learning_rate: the ``more_sft`` arm's passes over its data and peak rate.
        cloud_seed, task_seed: the simulated cloud's seed; the day's task seed.
    """

    edge: str = "smollm2"
    n_pool: int = 64
    n_replay: int = 64
    n_eval: int = 60
    seeds: tuple = (0, 1)
    ablation_seeds: tuple = (0,)
    ablation_arms: tuple = ("no_forward_kl", "no_reverse_kl", "plain_pg")
    rl: RLSettings = field(default_factory=lambda: RLSettings(
        steps=4, prompts_per_step=4, group_size=8, updates_per_step=1, learning_rate=5e-4,
        max_completion_tokens=48, sft_batch_size=4, bf16=None))
    more_sft_epochs: float = 1.0
    more_sft_learning_rate: float = 5e-4
    cloud_seed: int = 0
    task_seed: int = 3000

    def __post_init__(self) -> None:
        if self.edge not in ("smollm2", "tiny"):
            raise ValueError(f"edge must be 'smollm2' or 'tiny', got {self.edge!r}")
        if self.n_pool < 4:
            raise ValueError(f"n_pool must be >= 4 (half of it is labelled), got {self.n_pool}")
        for name in ("n_replay", "n_eval"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be >= 2, got {getattr(self, name)}")
        if not self.seeds or not all(isinstance(s, int) and s >= 0 for s in (*self.seeds, *self.ablation_seeds)):
            raise ValueError(f"seeds must be a non-empty tuple of integers >= 0, got {self.seeds}, {self.ablation_seeds}")
        unknown = [a for a in self.ablation_arms if a not in RL_ARMS or a == "rl"]
        if unknown:
            raise ValueError(f"ablation_arms must be among {[a for a in RL_ARMS if a != 'rl']}, got {unknown}")
        if self.more_sft_epochs <= 0 or not 0 < self.more_sft_learning_rate < 1:
            raise ValueError("more_sft_epochs must be > 0 and more_sft_learning_rate in (0, 1)")

    def runs(self) -> list[tuple[str, int]]:
        """``(arm, seed)`` in the order they run: seed by seed, each seed's headline pair then its ablation
        variants (so an interrupted run has complete seeds to resume from)."""
        order = []
        for s in sorted(set(self.seeds) | set(self.ablation_seeds)):
            order += [(arm, s) for arm in ("rl", "more_sft") if s in self.seeds]
            order += [(arm, s) for arm in self.ablation_arms if s in self.ablation_seeds]
        return order


# --- the edge, its data and its evaluation -----------------------------------------------------------
def load_start(edge: str, trainable: bool = True):
    """``(model, tokenizer, template_kwargs)`` of the SFT start (trainable adapter for SmolLM2)."""
    if edge == "tiny":
        from netgpt_lite.edge.tiny_lm import load_edge_model

        model, tokenizer = load_edge_model(None)
        return model.requires_grad_(trainable), tokenizer, {}
    return load_adapter(shipped_adapter_path(), trainable=trainable)


def start_identity(edge: str) -> dict:
    """The start named by content: the sha256 of its weights."""
    if edge == "tiny":
        from netgpt_lite.edge.tiny_lm import shipped_model_path

        return {"edge": "tiny", "sha256": file_sha256(shipped_model_path() / "model.safetensors")}
    return {"edge": "smollm2", "sha256": file_sha256(shipped_adapter_path() / "adapter_model.safetensors")}


def evaluate_arm(model, tokenizer, template_kwargs: dict, suites: dict) -> tuple[dict, dict]:
    """Greedy accuracy of ``model`` on each suite (``{name: tasks}``) through the one evaluator
    (:func:`~netgpt_lite.edge.evaluation.evaluate`); ``(metrics, evaluations)``.  Each suite's metrics
    keep the per-request ``records``, so two arms can be compared paired on the same requests."""
    agent = EdgeAgent(model, tokenizer, batch_size=16, template_kwargs=template_kwargs)
    metrics, evaluations = {}, {}
    for name, tasks in suites.items():
        evaluations[name] = evaluate(agent, tasks)
        report = evaluations[name].report()
        metrics[name] = {k: report[k] for k in ("n", "exact_match", "schema_valid", "by_difficulty", "error_types")}
        metrics[name]["records"] = [{"request": r["request"], "correct": r["correct"]}
                                    for r in evaluations[name].records()]  # fmt: skip
    return metrics, evaluations


def day_of_requests(config: E5Config, agent_outputs, pool) -> dict:
    """Split the day's pool by the SFT edge's confidence: the least confident half fell back to the cloud."""
    confidence = np.array([o.confidence("mean") for o in agent_outputs])
    order = np.argsort(confidence, kind="stable")
    routed = sorted(order[: len(pool) // 2].tolist())
    kept = sorted(order[len(pool) // 2 :].tolist())
    answers = SimulatedCloud(seed=config.cloud_seed).propose([pool[i] for i in routed])
    return {"routed": routed, "kept": kept, "answers": [a.tool_call for a in answers],
            "threshold": float(confidence[order[len(pool) // 2]])}  # fmt: skip


# --- the arms -----------------------------------------------------------------------------------------
def _run_rl(arm: str, seed: int, config: E5Config, data: dict, ref_model, reward_model, work: Path, progress: bool):
    model, tokenizer, template = load_start(config.edge)
    settings = config.rl.replace(seed=seed, **RL_ARMS[arm])
    model, history = train_minimal(model, tokenizer, data["prompts"], data["logged"], settings, ref_model=ref_model,
                                   reward_model=reward_model, template_kwargs=template,
                                   checkpoint_dir=work / f"{arm}-seed{seed}", checkpoint_every=1, progress=progress)  # fmt: skip
    return model, tokenizer, template, {"history": history, "weights": dataclasses.asdict(settings.objective)}


def _run_more_sft(seed: int, config: E5Config, data: dict, work: Path, progress: bool):
    model, tokenizer, template = load_start(config.edge)
    logged = data["logged"]
    if config.edge == "tiny":
        from netgpt_lite.edge.sft import SFTSettings, loss_curve, train_sft

        settings = SFTSettings(n_epochs=config.more_sft_epochs, learning_rate=config.more_sft_learning_rate,
                               batch_size=8, seed=seed, show_progress=False)  # fmt: skip
        model, log = train_sft(model.requires_grad_(True), tokenizer, logged, settings)
        return model, tokenizer, template, {"history": {"loss": loss_curve(log)[1].tolist()}}
    settings = LoraSettings(learning_rate=config.more_sft_learning_rate, n_epochs=config.more_sft_epochs,
                            warmup_ratio=0.0, seed=seed, tool_format=template["tool_format"],
                            **SHIPPED_LOOP_LORA)  # fmt: skip
    model, history = train_lora(model, tokenizer, list(logged["prompt"]), list(logged["completion"]), settings,
                                work / f"more_sft-seed{seed}", progress=progress)  # fmt: skip
    return model, tokenizer, template, {"history": {"loss": history["loss"]}, "lora_settings": history["settings"]}


def _read_run(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        if {"arm", "seed", "eval"} <= set(record):
            return with_current_names(record)
    except (OSError, json.JSONDecodeError):
        pass
    print(f"found a broken run file {path}: running that run again", flush=True)
    return None


def run_e5(config: E5Config = E5Config(), out_dir: str | Path = "runs/e5", handwritten=None,  # noqa: B008
           command: str | None = None, progress: bool = True) -> dict:
    """Run E5 (resumable) and write ``out_dir/e5.json`` and the first ``rl`` seed's adapter ``out_dir/rl_adapter``.

    Args:
        config: :class:`E5Config`.
        out_dir: the run folder (``runs/`` one JSON per finished run, checkpoints, the artifact).
        handwritten: tasks written by hand (:func:`~netgpt_lite.tasks.request_file.read_request_file`),
            evaluated beside the test split; never trained or tuned on.
        command: the command line for the manifest; default this process's.
        progress: progress bars on stderr (runs done and time left; each run's steps).

    Returns:
        The artifact: ``manifest``, ``config``, ``day`` (how the pool split), ``reward_model`` (fit and
        held-out AUROC), ``runs`` (one record per arm and seed) and ``summary`` (:func:`summarise`).
    """
    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    recorder = Recorder(seed=None, split="validation+test", command=command, entry=[__name__],
                        sizes={"n_pool": config.n_pool, "n_replay": config.n_replay, "n_eval": config.n_eval,
                               "n_handwritten": len(handwritten or []), "rl_steps": config.rl.steps},
                        config={"e5": config, "start": start_identity(config.edge)})  # fmt: skip
    suites = {"test": generate_tasks("test", config.n_eval, seed=0)}
    if handwritten:
        suites["handwritten"] = list(handwritten)
    pool = generate_tasks("validation", config.n_pool, seed=config.task_seed)
    ref_model, tokenizer, template = load_start(config.edge, trainable=False)
    ref_model.requires_grad_(False)
    start_record, reward_model = _start(config, out, ref_model, tokenizer, template, suites, pool)
    day = start_record["day"]
    routed, kept = [pool[i] for i in day["routed"]], [pool[i] for i in day["kept"]]
    replay_tasks = generate_tasks("train", config.n_replay, seed=0)
    replay = SimulatedCloud(seed=config.cloud_seed).propose(replay_tasks)
    data = {
        "prompts": rl_dataset(routed + kept, tokenizer, day["answers"] + [t.gold for t in kept],
                              labelled=[True] * len(routed) + [False] * len(kept), **template),
        "logged": rl_dataset(routed + replay_tasks, tokenizer, day["answers"] + [a.tool_call for a in replay], **template),
    }  # fmt: skip
    runs = [{"arm": "sft", "seed": None, "eval": start_record["eval"], "seconds": start_record["seconds"]}]
    from tqdm.auto import tqdm

    bar = tqdm(config.runs(), desc="E5 runs", unit="run", disable=not progress, dynamic_ncols=True)
    for arm, seed in bar:
        path = out / "runs" / f"{arm}-seed{seed}.json"
        record = _read_run(path)
        bar.set_postfix(run=f"{arm} seed {seed}", resumed=record is not None)
        if record is None:
            t0 = time.perf_counter()
            if arm == "more_sft":
                model, tok, tmpl, extra = _run_more_sft(seed, config, data, out, progress)
            else:
                model, tok, tmpl, extra = _run_rl(arm, seed, config, data, ref_model, reward_model, out, progress)
                shutil.rmtree(out / f"{arm}-seed{seed}", ignore_errors=True)  # its checkpoint's folder, empty now
            # the hand-written requests are evaluated for the headline arms only (2 CPU cores: minutes each)
            metrics, _ = evaluate_arm(model, tok, tmpl, suites if arm in ("rl", "more_sft") else {"test": suites["test"]})
            if arm == "rl" and seed == config.seeds[0] and config.edge == "smollm2":
                save_adapter(model, out / "rl_adapter", tmpl["tool_format"])
            record = {"arm": arm, "seed": seed, "eval": metrics, **extra, "seconds": round(time.perf_counter() - t0, 1),
                      "computed_by": {"git_commit": git_state()[0], "source_hash": source_hash()}}
            atomic_write_json(path, record)
        runs.append(record)
    bar.close()
    artifact = {"config": dataclasses.asdict(config), "day": {k: day[k] for k in ("routed", "kept", "threshold")},
                "reward_model": start_record["reward_model"], "runs": runs, "summary": summarise(runs)}  # fmt: skip
    # a resumed run's own wall time covers only what it computed: the runs' seconds say what all of them took
    artifact["manifest"] = recorder.finish(summary=artifact["summary"],
                                           runs_seconds_total=round(sum(r["seconds"] for r in runs), 1))
    atomic_write_json(out / "e5.json", artifact)
    adapter = out / "rl_adapter"
    if (adapter / "adapter_model.safetensors").exists():
        first = next(r for r in runs if r["arm"] == "rl" and r["seed"] == config.seeds[0])
        write_manifest(adapter, {**artifact["manifest"], "run": {k: first[k] for k in ("arm", "seed", "eval", "seconds")},
                                 "sha256_adapter_safetensors": file_sha256(adapter / "adapter_model.safetensors")})
    return artifact


def _start(config: E5Config, out: Path, ref_model, tokenizer, template: dict, suites: dict, pool) -> tuple:
    """The start, evaluated once (greedy decoding is deterministic), the day it routes, and the reward model
    fitted on its cloud-routed pairs; cached in ``out/runs/sft.json`` with the pairs it was fitted on."""
    from netgpt_lite.rl.reward_model import sample_outputs

    path = out / "runs" / "sft.json"
    record = _read_run(path)
    if record is None or "pairs" not in record:
        t0 = time.perf_counter()
        metrics, evaluations = evaluate_arm(ref_model, tokenizer, template, {**suites, "pool": pool})
        outputs = {name: ev.outputs for name, ev in evaluations.items()}
        day = day_of_requests(config, outputs["pool"], pool)
        routed_outputs = [outputs["pool"][i] for i in day["routed"]]
        labels = [int(check_call(o.tool_call, pool[i].tools, a).correct)
                  for i, o, a in zip(day["routed"], routed_outputs, day["answers"])]  # fmt: skip
        pairs = {"prompt": [o.prompt for o in routed_outputs], "completion": [o.completion for o in routed_outputs],
                 "tools": [json.dumps(pool[i].tools) for i in day["routed"]],
                 "token_logprobs": [o.token_logprobs.tolist() for o in routed_outputs],
                 "n_input_tokens": [o.n_input_tokens for o in routed_outputs], "label": labels}  # fmt: skip
        reward_model = RewardModel.fit(ref_model, tokenizer, routed_outputs, labels)
        right = [int(check_call(o.tool_call, t.tools, t.gold).correct) for t, o in zip(suites["test"], outputs["test"])]
        report = {**reward_model.fit_report, "test_auroc": float(auroc(reward_model.probability(outputs["test"]), right))}
        record = {"arm": "sft", "seed": None, "eval": {k: v for k, v in metrics.items() if k != "pool"},
                  "pool_eval": metrics["pool"], "day": day, "pairs": pairs, "reward_model": report,
                  "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
        atomic_write_json(path, record)
        return record, reward_model
    pairs = record["pairs"]
    outputs = sample_outputs(pairs["prompt"], pairs["completion"], pairs["tools"],
                             [np.array(x) for x in pairs["token_logprobs"]], pairs["n_input_tokens"])  # fmt: skip
    return record, RewardModel.fit(ref_model, tokenizer, outputs, pairs["label"])


# --- the summary ---------------------------------------------------------------------------------------
def _last(history: list[dict], key: str, k: int = 3) -> float | None:
    values = [r[key] for r in history if r.get(key) is not None]
    return float(np.mean(values[-k:])) if values else None


def summarise(runs: list[dict]) -> dict:
    """Per arm: mean and std over seeds of test / hand-written exact match and schema-valid, their change
    from the SFT start (paired: same tasks), and for RL arms the last steps' KL to SFT, reward, and the
    reward model's score beside the checker's on the same unlabelled samples (first and last steps)."""
    start = next(r for r in runs if r["arm"] == "sft")["eval"]
    out = {}
    for arm in dict.fromkeys(r["arm"] for r in runs):
        rows = [r for r in runs if r["arm"] == arm]
        row = {"n_seeds": len(rows)}
        for suite in [k for k in start if all(k in r["eval"] for r in rows)]:
            for metric in ("exact_match", "schema_valid"):
                values = np.array([r["eval"][suite][metric] for r in rows])
                change = values - start[suite][metric]
                row[f"{suite}_{metric}_mean"] = float(values.mean())
                row[f"{suite}_{metric}_change_mean"] = float(change.mean())
                row[f"{suite}_{metric}_change_std"] = float(change.std(ddof=1)) if len(rows) > 1 else None
        histories = [r["history"] for r in rows if isinstance(r.get("history"), list)]
        if histories:
            for key in ("kl_k3_to_sft", "reward", "rm_reward_unlabelled", "checker_reward_unlabelled"):
                last = [_last(h, key) for h in histories]
                first = [_last(h[:3], key) for h in histories]
                row[f"{key}_last_mean"] = float(np.mean(last)) if None not in last else None
                row[f"{key}_first_mean"] = float(np.mean(first)) if None not in first else None
        out[arm] = row
    return out


# --- reading what earlier versions wrote ------------------------------------------------------------------
STORED_NAMES = {"kl_to_sft": "kl_k3_to_sft", "forward_kl": "anchor_nll_gap"}
"""RL history names before the renames -> now: the k3 KL to SFT on the samples (the synergy rounds' exact
``kl_to_sft`` keeps its name) and the SFT anchor, an NLL gap.  The shipped ``e5.json`` keeps the old ones."""


def with_current_names(record: dict) -> dict:
    """An E5 run record or artifact with :data:`STORED_NAMES` applied to its history rows and summary keys
    (``kl_to_sft_last_mean`` -> ``kl_k3_to_sft_last_mean``); current names pass unchanged, the manifest too.

    Example:
        >>> with_current_names({"arm": "rl", "history": [{"step": 0, "kl_to_sft": 0.0, "forward_kl": -0.1}]})
        {'arm': 'rl', 'history': [{'step': 0, 'kl_k3_to_sft': 0.0, 'anchor_nll_gap': -0.1}]}
    """

    def rename(row: dict) -> dict:
        old = {k: next((o for o in STORED_NAMES if k == o or k.startswith(o + "_")), None) for k in row}
        return {k if old[k] is None else STORED_NAMES[old[k]] + k[len(old[k]) :]: v for k, v in row.items()}

    record = dict(record)
    if isinstance(record.get("history"), list):  # RL runs; more_sft's history is {"loss": [...]}
        record["history"] = [rename(row) for row in record["history"]]
    if "runs" in record:
        record["runs"] = [with_current_names(run) for run in record["runs"]]
    if "summary" in record:
        record["summary"] = {arm: rename(row) for arm, row in record["summary"].items()}
    return record


def read_e5(path: str | Path | None = None) -> dict:
    """The E5 artifact (default: the shipped ``netgpt_lite/data/rl/e5.json``) with the current metric names."""
    shipped = Path(__file__).resolve().parents[1] / "data" / "rl" / "e5.json"
    return with_current_names(json.loads(Path(shipped if path is None else path).read_text()))
