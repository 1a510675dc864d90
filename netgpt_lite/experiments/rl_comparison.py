"""E5: does SFT-anchored RL make the real edge better than SFT, and than its cheaper rivals? (chapters 6, 8)

One experiment, one artifact (``netgpt_lite/data/rl/e5.json``), written by ``netgpt-lite e5``:

* **Start**: the shipped SFT LoRA adapter of the SmolLM2 edge (``edge="tiny"``: the from-scratch model,
  the fast path of the tests).  The SFT model, frozen, is the reference of both KL terms.
* **A day of new requests** (validation-split phrasings, or with ``day_split="test"`` the deployment's own
  phrasings; the SFT data contained neither): the SFT
  edge answers ``n_pool`` of them greedily; the least confident half falls back to the cloud, whose
  answers become **labels**: the paper's data.  With ``reward_model`` the confident half, which no cloud
  answered, joins RL rewarded by a learned reward model (:mod:`netgpt_lite.rl.reward_model`); off by default,
  because a reward model fitted on a day's pairs is easy to game.
* **Arms at equal labelled data** (:mod:`netgpt_lite.experiments.rl_arms`): ``sft`` (the start),
  ``more_sft`` (fine-tuned on the cloud's answers plus replayed SFT data), ``raft`` (rejection sampling:
  fine-tuned on its own samples that the checker accepts), ``rl`` (SFT-anchored RL, the full composite) and
  the ablations ``no_forward_kl``, ``no_reverse_kl``, ``plain_pg``.
* **Evaluation**: greedy, on ``n_eval`` held-out test-split phrasings (the same requests for every arm),
  on the hand-written requests, and for RL a learning curve on ``n_curve`` validation requests (the least
  confident half of ``2 n_curve``, task seed 4000).  Every arm keeps its per-request verdicts, so
  :func:`paired_summary` compares each with the start on the same requests (95% intervals, McNemar p)
  and :func:`contrasts` the arms with each other (RL against its rivals, each ablation against RL).

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
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netgpt_lite.agents.cloud_sim import SimulatedCloud
from netgpt_lite.edge.lora import save_adapter
from netgpt_lite.edge.scoring import auroc
from netgpt_lite.experiments.e5_records import (  # noqa: F401 - API
    STORED_NAMES,
    kept_adapter,
    read_e5,
    ship_adapter,
    with_current_names,
)
from netgpt_lite.experiments.rl_arms import (
    RL_ARMS,
    evaluate_arm,
    load_start,
    practice_data,
    run_more_sft,
    run_more_sft_rl,
    run_raft,
    run_rl,
    start_identity,
)
from netgpt_lite.experiments.rl_summary import CONTRASTS, contrast, contrasts, paired_summary, summarise
from netgpt_lite.provenance import (
    Recorder,
    atomic_write_json,
    file_sha256,
    git_state,
    source_hash,
    write_manifest,
)
from netgpt_lite.rl.data import judge
from netgpt_lite.rl.minimal import RLSettings
from netgpt_lite.rl.reward_model import RewardModel
from netgpt_lite.rl.settings import SMOLLM2_RL
from netgpt_lite.runtime import RunFolderError
from netgpt_lite.tasks.checker import check_call
from netgpt_lite.tasks.generate import generate_tasks

__all__ = ["E5Config", "RL_ARMS", "evaluate_arm", "load_start", "start_identity", "run_e5", "summarise",
           "paired_summary", "contrasts", "contrast", "CONTRASTS", "read_e5", "with_current_names", "day_of_requests", "STORED_NAMES"]


@dataclass(frozen=True)
class E5Config:
    """What E5 runs.  The defaults are the preset of the shipped artifact, on 2 CPU cores.

    Attributes:
        edge: ``"smollm2"`` (the shipped SFT adapter) or ``"tiny"`` (the from-scratch model; fast).
        n_pool: new requests of the day (split ``day_split``, task seed ``task_seed``); half are labelled.
        day_split: the day's traffic: ``"validation"`` phrasings, or ``"test"``: the deployment's own phrasings
            (the test split's templates, other requests than the evaluation's: another seed, and any request
            whose text an evaluation request has is dropped), what a router in deployment logs.  The learning
            curve's requests follow it.
        n_replay: logged SFT examples (train split, task seed 0) replayed by every arm beside the day's labels.
        n_eval: held-out test-split requests (task seed 0), the same for every arm.
        n_curve: validation requests of the RL learning curve (0: none); ``curve_every``: steps between points.
        seeds: seeds of the rivals (``more_sft``, ``raft``); ``rl_seeds``: seeds of anchored RL.
        sft_rl_seeds: seeds of ``more_sft_rl``: more SFT, then anchored RL anchored to that SFT model (what a
            synergy round does); none by default.
        ablation_seeds: seeds of the anchor-free variants; ``ablation_arms``: which of them run.
        rl: the RL settings of the full composite (each variant changes its weights, each run its seed).
        raft_samples: samples per routed request for ``raft`` (default: as many rollouts as an RL run draws).
        more_sft_epochs, more_sft_learning_rate: passes and peak rate of ``more_sft`` and ``raft``;
            ``more_sft_lora``: other :class:`~netgpt_lite.edge.lora.LoraSettings` fields they change.
        reward_model: let RL practise on the unlabelled half too, rewarded by a reward model fitted on
            the day's cloud-routed pairs (off: only the cloud's labels are rewards).
        cloud_seed, task_seed: the simulated cloud's seed; the day's task seed.
    """

    edge: str = "smollm2"
    n_pool: int = 512
    day_split: str = "validation"
    n_replay: int = 64
    n_eval: int = 500
    n_curve: int = 100
    curve_every: int = 4
    seeds: tuple = (0, 1)
    rl_seeds: tuple = (0, 1, 2)
    sft_rl_seeds: tuple = ()
    ablation_seeds: tuple = (0,)
    ablation_arms: tuple = ("no_forward_kl", "no_reverse_kl", "plain_pg")
    rl: RLSettings = field(default_factory=lambda: SMOLLM2_RL)
    raft_samples: int | None = None
    more_sft_epochs: float = 1.0
    more_sft_learning_rate: float = 2e-4
    more_sft_lora: dict = field(default_factory=dict)
    reward_model: bool = False
    cloud_seed: int = 0
    task_seed: int = 3000

    def __post_init__(self) -> None:
        if self.edge not in ("smollm2", "tiny"):
            raise ValueError(f"edge must be 'smollm2' or 'tiny', got {self.edge!r}")
        if self.day_split not in ("validation", "test"):
            raise ValueError(f"day_split must be 'validation' or 'test', got {self.day_split!r}")
        if self.n_pool < 4:
            raise ValueError(f"n_pool must be >= 4 (half of it is labelled), got {self.n_pool}")
        for name in ("n_replay", "n_eval"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be >= 2, got {getattr(self, name)}")
        if self.n_curve < 0 or self.curve_every < 1:
            raise ValueError(f"n_curve must be >= 0 and curve_every >= 1, got {self.n_curve}, {self.curve_every}")
        every = (*self.seeds, *self.rl_seeds, *self.ablation_seeds, *self.sft_rl_seeds)
        if not (self.seeds or self.rl_seeds) or not all(isinstance(s, int) and s >= 0 for s in every):
            raise ValueError(f"seeds must be tuples of integers >= 0, some given; got {self.seeds}, "
                             f"{self.rl_seeds}, {self.ablation_seeds}")
        unknown = [a for a in self.ablation_arms if a not in RL_ARMS or a == "rl"]
        if unknown:
            raise ValueError(f"ablation_arms must be among {[a for a in RL_ARMS if a != 'rl']}, got {unknown}")
        if self.more_sft_epochs <= 0 or not 0 < self.more_sft_learning_rate < 1:
            raise ValueError("more_sft_epochs must be > 0 and more_sft_learning_rate in (0, 1)")
        if self.raft_samples is not None and self.raft_samples < 1:
            raise ValueError(f"raft_samples must be >= 1 or None (as many rollouts as RL), got {self.raft_samples}")

    def raft_samples_per_request(self) -> int:
        """Samples per routed request for ``raft``: ``raft_samples``, or RL's rollouts over the routed requests."""
        if self.raft_samples is not None:
            return self.raft_samples
        return max(1, round(self.rl.steps * self.rl.prompts_per_step * self.rl.group_size / (self.n_pool // 2)))

    def runs(self) -> list[tuple[str, int]]:
        """``(arm, seed)`` in the order they run: seed by seed, each seed's headline arms then its ablation
        variants (so an interrupted run has complete seeds to resume from)."""
        order = []
        for s in sorted({*self.seeds, *self.rl_seeds, *self.ablation_seeds, *self.sft_rl_seeds}):
            order += [("rl", s)] if s in self.rl_seeds else []
            order += [(arm, s) for arm in ("more_sft", "raft") if s in self.seeds]
            order += [("more_sft_rl", s)] if s in self.sft_rl_seeds else []
            order += [(arm, s) for arm in self.ablation_arms if s in self.ablation_seeds]
        return order


# --- the day -----------------------------------------------------------------------------------------
def day_of_requests(config: E5Config, agent_outputs, pool) -> dict:
    """Split the day's pool by the SFT edge's confidence: the least confident half fell back to the cloud."""
    confidence = np.array([o.confidence("mean") for o in agent_outputs])
    order = np.argsort(confidence, kind="stable")
    routed = sorted(order[: len(pool) // 2].tolist())
    kept = sorted(order[len(pool) // 2 :].tolist())
    answers = SimulatedCloud(seed=config.cloud_seed).propose([pool[i] for i in routed])
    return {"routed": routed, "kept": kept, "answers": [a.tool_call for a in answers],
            "threshold": float(confidence[order[len(pool) // 2]])}  # fmt: skip


def day_pools(config: E5Config, evaluation: list) -> tuple[list, list]:
    """The day's requests (``n_pool``, task seed ``task_seed``) and the learning curve's (``2 n_curve``, seed
    4000), both of ``config.day_split``; a deployment day (``"test"``) drops any request whose text one of the
    ``evaluation`` requests has (validation phrasings cannot have it: other templates).

    Example:
        >>> pool, curve = day_pools(E5Config(edge="tiny", n_pool=8, n_curve=2, day_split="test"), [])
        >>> len(pool), len(curve), {t.task_id.split("-")[0] for t in pool}
        (8, 4, {'test'})
    """
    seen = {t.messages[-1]["content"] for t in evaluation} if config.day_split == "test" else set()
    return tuple([t for t in generate_tasks(config.day_split, n, seed=seed) if t.messages[-1]["content"] not in seen]
                 for n, seed in ((config.n_pool, config.task_seed), (2 * config.n_curve, 4000)))


FINGERPRINT_NEUTRAL = {"day_split": "validation"}
"""Settings added after runs were made, left out of a run's fingerprint while at the value those runs had."""


def run_fingerprint(config: E5Config, suites: dict) -> str:
    """What a finished run depends on besides its arm and seed: the config without the lists of seeds and arms,
    and the evaluation suites by name and size.  A run file with another fingerprint is run again."""
    settings = {k: v for k, v in dataclasses.asdict(config).items()
                if k not in ("seeds", "rl_seeds", "ablation_seeds", "ablation_arms", "sft_rl_seeds")
                and not (k in FINGERPRINT_NEUTRAL and v == FINGERPRINT_NEUTRAL[k])}  # fmt: skip
    payload = json.dumps({"config": settings, "suites": {k: len(v) for k, v in suites.items()}}, sort_keys=True,
                         default=str)  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _read_run(path: Path, fingerprint: str | None = None) -> dict | None:
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        if {"arm", "seed", "eval"} <= set(record):
            if fingerprint is not None and record.get("fingerprint", fingerprint) != fingerprint:
                print(f"{path} was made with other settings (fingerprint {record['fingerprint']}, now "
                      f"{fingerprint}): running that run again", flush=True)
                return None
            return with_current_names(record)
    except (OSError, json.JSONDecodeError):
        pass
    print(f"found a broken run file {path}: running that run again", flush=True)
    return None


def run_e5(config: E5Config = E5Config(), out_dir: str | Path = "runs/e5", handwritten=None,  # noqa: B008
           command: str | None = None, progress: bool = True, shard: tuple[int, int] | None = None) -> dict:
    """Run E5 (resumable) and write ``out_dir/e5.json`` and the headline arm's adapter ``out_dir/rl_adapter``
    (:func:`ship_adapter`).

    Args:
        config: :class:`E5Config`.
        out_dir: the run folder (``runs/`` one JSON per finished run, checkpoints, the artifact).
        handwritten: requests written by hand (:func:`~netgpt_lite.tasks.request_file.read_request_file`),
            a list (the suite ``handwritten``) or ``{suite name: tasks}``; evaluated beside the test split
            for the headline arms, never trained or tuned on.
        command: the command line for the manifest; default this process's.
        progress: progress bars on stderr (runs done and time left; each run's steps).
        shard: ``(i, n)``: run only the runs whose position in :meth:`E5Config.runs` is ``i`` modulo ``n``, so
            ``n`` processes share the work (one per core); shard 0 evaluates the start, the others need its
            ``runs/sft.json``.  A call that finds another shard's run unfinished returns the ``missing`` runs
            instead of the artifact; once all have finished, a call without ``shard`` assembles it.

    Returns:
        The artifact: ``manifest``, ``config``, ``day`` (how the pool split), ``reward_model`` (fit and
        held-out AUROC, when used), ``runs`` (one record per arm and seed), ``summary`` (:func:`summarise`)
        and ``paired`` (:func:`paired_summary`).
    """
    out = Path(out_dir)
    if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard}")
    if shard is not None and shard[0] > 0 and not (out / "runs" / "sft.json").exists():
        raise RunFolderError(f"{out / 'runs' / 'sft.json'} is missing: start shard 0 first and this one once that "
                             f"file exists (it holds the start's evaluation and the day every shard shares)")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    extra = {"handwritten": list(handwritten)} if isinstance(handwritten, list) else dict(handwritten or {})
    recorder = Recorder(seed=None, split="validation+test", command=command, entry=[__name__],
                        sizes={"n_pool": config.n_pool, "n_replay": config.n_replay, "n_eval": config.n_eval,
                               **{f"n_{k}": len(v) for k, v in extra.items()}, "rl_steps": config.rl.steps},
                        config={"e5": config, "start": start_identity(config.edge)})  # fmt: skip
    suites = {"test": generate_tasks("test", config.n_eval, seed=0), **extra}
    pool, curve_pool = day_pools(config, suites["test"])
    ref_model, tokenizer, template = load_start(config.edge, trainable=False)
    ref_model.requires_grad_(False)
    start_record, reward_model = _start(config, out, ref_model, tokenizer, template, suites, pool, curve_pool)
    day = start_record["day"]
    data = practice_data(config, pool, curve_pool, start_record, tokenizer, template, reward_model)
    runs = [{"arm": "sft", "seed": None, "eval": start_record["eval"], "seconds": start_record["seconds"]}]
    from tqdm.auto import tqdm

    first_rl = ("rl", min(config.rl_seeds)) if config.rl_seeds else None
    bar = tqdm(config.runs(), desc="E5 runs", unit="run", disable=not progress, dynamic_ncols=True)
    missing, fingerprint = [], run_fingerprint(config, suites)
    for k, (arm, seed) in enumerate(bar):
        path = out / "runs" / f"{arm}-seed{seed}.json"
        record = _read_run(path, fingerprint)
        if record is None and path.exists():  # broken or made with other settings: so is any checkpoint of it
            shutil.rmtree(out / f"{arm}-seed{seed}", ignore_errors=True)
        bar.set_postfix(run=f"{arm} seed {seed}", resumed=record is not None)
        if record is None and shard is not None and k % shard[1] != shard[0]:
            missing.append(f"{arm}-seed{seed}")  # another shard's run, not finished yet
            continue
        if record is None:
            t0 = time.perf_counter()
            if arm == "more_sft":
                model, tok, tmpl, info = run_more_sft(seed, config, data, out, progress)
            elif arm == "raft":
                model, tok, tmpl, info = run_raft(seed, config, data, out, progress)
            elif arm == "more_sft_rl":  # more_sft's adapter when that run has finished it, else trained again
                finished = _read_run(out / "runs" / f"more_sft-seed{seed}.json", fingerprint) is not None
                model, tok, tmpl, info = run_more_sft_rl(seed, config, data, out, progress, finished)
            else:
                model, tok, tmpl, info = run_rl(arm, seed, config, data, ref_model, reward_model, out, progress)
                shutil.rmtree(out / f"{arm}-seed{seed}", ignore_errors=True)  # its checkpoint's folder, empty now
            # the hand-written requests are evaluated for the headline arms only (2 CPU cores: minutes each)
            headline = arm in ("rl", "more_sft", "raft", "more_sft_rl")
            metrics, _ = evaluate_arm(model, tok, tmpl, suites if headline else {"test": suites["test"]})
            if config.edge == "smollm2" and ((arm, seed) == first_rl or arm == "more_sft_rl"):
                save_adapter(model, kept_adapter(out, arm, seed), tmpl["tool_format"])  # ship_adapter picks one
            record = {"arm": arm, "seed": seed, "eval": metrics, **info, "seconds": round(time.perf_counter() - t0, 1),
                      "fingerprint": fingerprint,
                      "computed_by": {"git_commit": git_state()[0], "source_hash": source_hash()}}
            atomic_write_json(path, record)
        runs.append(record)
    bar.close()
    if missing:
        return {"missing": missing, "runs": runs}
    artifact = {"config": dataclasses.asdict(config),
                "day": {k: day[k] for k in ("routed", "kept", "threshold", "curve") if k in day},
                "reward_model": start_record["reward_model"], "runs": runs, "summary": summarise(runs),
                "paired": paired_summary(runs), "contrasts": contrasts(runs)}  # fmt: skip
    # a resumed run's own wall time covers only what it computed: the runs' seconds say what all of them took
    artifact["manifest"] = recorder.finish(summary=artifact["summary"],
                                           runs_seconds_total=round(sum(r["seconds"] for r in runs), 1))
    atomic_write_json(out / "e5.json", artifact)
    adapter, first = out / "rl_adapter", ship_adapter(config, out, runs)
    if first is not None:
        write_manifest(adapter, {**artifact["manifest"], "run": {k: first[k] for k in ("arm", "seed", "eval", "seconds")},
                                 "sha256_adapter_safetensors": file_sha256(adapter / "adapter_model.safetensors")})
    return artifact


def _start(config: E5Config, out: Path, ref_model, tokenizer, template: dict, suites: dict, pool,
           curve_pool) -> tuple:
    """The start, evaluated once (greedy decoding is deterministic), the day it routes, the curve's requests
    (the least confident half of ``curve_pool``) and, with ``config.reward_model``, the reward model fitted
    on its cloud-routed pairs; cached in ``out/runs/sft.json`` with the pairs it was fitted on."""
    from netgpt_lite.rl.reward_model import sample_outputs

    path = out / "runs" / "sft.json"
    day_settings = {k: getattr(config, k) for k in ("edge", "n_pool", "n_curve", "task_seed", "cloud_seed")}
    if config.day_split != FINGERPRINT_NEUTRAL["day_split"]:  # (a validation day keeps its earlier key)
        day_settings["day_split"] = config.day_split
    key = hashlib.sha256(json.dumps({**day_settings, "suites": {k: len(v) for k, v in suites.items()}},
                                    sort_keys=True).encode()).hexdigest()[:16]  # fmt: skip
    record = _read_run(path, key)
    if record is None or "pairs" not in record:
        t0 = time.perf_counter()
        metrics, evaluations = evaluate_arm(ref_model, tokenizer, template,
                                            {**suites, "pool": pool, **({"curve_pool": curve_pool} if curve_pool else {})})
        outputs = {name: ev.outputs for name, ev in evaluations.items()}
        day = day_of_requests(config, outputs["pool"], pool)
        curve_eval = None
        if curve_pool:
            day["curve"] = day_of_requests(config, outputs["curve_pool"], curve_pool)["routed"]
            curve = [(curve_pool[i], outputs["curve_pool"][i]) for i in day["curve"]]
            curve_eval = {k: float(v.mean()) for k, v in judge([o.completion for _, o in curve],
                                                               [json.dumps(t.tools) for t, _ in curve],
                                                               [json.dumps(t.gold) for t, _ in curve]).items()}
        routed_outputs = [outputs["pool"][i] for i in day["routed"]]
        labels = [int(check_call(o.tool_call, pool[i].tools, a).correct)
                  for i, o, a in zip(day["routed"], routed_outputs, day["answers"])]  # fmt: skip
        pairs = {"prompt": [o.prompt for o in routed_outputs], "completion": [o.completion for o in routed_outputs],
                 "tools": [json.dumps(pool[i].tools) for i in day["routed"]],
                 "token_logprobs": [o.token_logprobs.tolist() for o in routed_outputs],
                 "n_input_tokens": [o.n_input_tokens for o in routed_outputs], "label": labels}  # fmt: skip
        report, reward_model = None, None
        if config.reward_model:
            reward_model = RewardModel.fit(ref_model, tokenizer, routed_outputs, labels)
            right = [int(check_call(o.tool_call, t.tools, t.gold).correct)
                     for t, o in zip(suites["test"], outputs["test"])]  # fmt: skip
            report = {**reward_model.fit_report,
                      "test_auroc": float(auroc(reward_model.probability(outputs["test"]), right))}
        record = {"arm": "sft", "seed": None,
                  "eval": {k: v for k, v in metrics.items() if k not in ("pool", "curve_pool")},
                  "pool_eval": metrics["pool"], "day": day, "pairs": pairs, "reward_model": report,
                  "curve_eval": curve_eval, "fingerprint": key,
                  "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
        atomic_write_json(path, record)
        return record, reward_model
    if not config.reward_model:
        return record, None
    pairs = record["pairs"]
    outputs = sample_outputs(pairs["prompt"], pairs["completion"], pairs["tools"],
                             [np.array(x) for x in pairs["token_logprobs"]], pairs["n_input_tokens"])  # fmt: skip
    return record, RewardModel.fit(ref_model, tokenizer, outputs, pairs["label"])
