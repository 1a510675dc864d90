"""Choose the RL recipe on validation phrasings: one short SFT-anchored RL run per setting, with its curve.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/rl_sweep.py --out runs/rl_sweep \
        --settings "lr2e-5:learning_rate=2e-5" "lr5e-5:learning_rate=5e-5,updates_per_step=4"

The day is E5's (:mod:`netgpt_lite.experiments.rl_comparison`): the shipped SFT adapter answers ``--n-pool``
validation-split requests (task seed 3000), the least confident half falls back to the simulated cloud,
and those requests with the cloud's calls are what RL practises on (the checker's reward against the
cloud's call) and what the SFT anchor replays.  Each setting (``name:field=value,...`` over
:class:`~netgpt_lite.rl.settings.RLSettings`, ``epsilon``/``beta``/``gamma`` included, on top of
:data:`BASE`) trains from the SFT adapter and is evaluated greedily on ``--n-val`` *other* validation
requests, the least confident half of ``2 n_val`` (task seed 4000: where the room is, as on the routed
requests), at step 0, every ``--eval-every`` steps and at the end.  Test requests are never
touched: this is where settings are chosen.  Each finished run is ``--out/<name>-seed<seed>.json`` (history,
settings, CPU seconds, rollouts, peak RSS); a rerun skips finished runs and continues a killed one from its
checkpoint.  Prints one JSON line per run.  With ``--summary FILE`` it also writes one artifact with every
named run (its settings, curve and per-step history) and a manifest: what the book ships as
``netgpt_lite/data/results/rl_sweep/sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import evaluate
from netgpt_lite.edge.lora import load_adapter, shipped_adapter_path
from netgpt_lite.experiments.rl_comparison import E5Config, day_of_requests
from netgpt_lite.provenance import Recorder, atomic_write_json, cpu_seconds, file_sha256, peak_rss_mb
from netgpt_lite.rl.data import rl_dataset
from netgpt_lite.rl.minimal import train_minimal
from netgpt_lite.rl.settings import RLSettings
from netgpt_lite.tasks.generate import generate_tasks

BASE = {"steps": 12, "prompts_per_step": 8, "group_size": 8, "updates_per_step": 2, "learning_rate": 2e-5,
        "max_completion_tokens": 48, "sft_batch_size": 4, "bf16": False, "warmup_steps": 2, "beta": 0.04,
        "gamma": 0.1, "kl_estimator": "k2"}


def parse_setting(text: str) -> tuple[str, dict]:
    """``"name:field=value,..."`` -> ``(name, {field: value})``; values parsed as JSON where they can be."""
    name, _, body = text.partition(":")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise SystemExit(f"--settings: a setting starts with a name of letters, digits, - and _: got {text!r}")
    changes = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        try:
            changes[key] = json.loads(value)
        except json.JSONDecodeError:
            changes[key] = value
    return name, changes


def settings_for(changes: dict, seed: int) -> RLSettings:
    """:class:`RLSettings` from :data:`BASE` with ``changes`` and ``seed`` (errors name the field)."""
    merged = {**BASE, **changes, "seed": seed}
    weights = {k: merged.pop(k) for k in ("epsilon", "beta", "gamma", "kl_estimator") if k in merged}
    unknown = set(merged) - set(RLSettings.__dataclass_fields__)
    if unknown:
        raise SystemExit(f"--settings: unknown field(s) {sorted(unknown)}; see RLSettings")
    return RLSettings(**merged).replace(**weights)


def the_day(out: Path, n_pool: int, n_val: int, model, tokenizer, template: dict) -> dict:
    """The routed half of the practice pool with the cloud's calls, and the selection set: the least confident
    half of ``2 n_val`` other validation requests (where the room is); cached in ``out/day.json``."""
    path = out / "day.json"
    if path.exists():
        return json.loads(path.read_text())
    agent = EdgeAgent(model, tokenizer, batch_size=16, template_kwargs=template)
    pool = generate_tasks("validation", n_pool, seed=3000)
    day = day_of_requests(E5Config(n_pool=n_pool), evaluate(agent, pool).outputs, pool)
    others = generate_tasks("validation", 2 * n_val, seed=4000)
    day["val"] = day_of_requests(E5Config(n_pool=2 * n_val), evaluate(agent, others).outputs, others)["routed"]
    atomic_write_json(path, day)
    return day


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--settings", nargs="+", required=True, help="name:field=value,... (over BASE)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-pool", type=int, default=512)
    parser.add_argument("--n-val", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=6)
    parser.add_argument("--summary", default=None, help="write every named run into this one JSON artifact")
    args = parser.parse_args(argv)
    named = [parse_setting(s) for s in args.settings]
    runs = {name: settings_for(changes, args.seed) for name, changes in named}  # errors before any work
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ref_model, tokenizer, template = load_adapter(shipped_adapter_path())
    ref_model.requires_grad_(False)
    day = the_day(out, args.n_pool, args.n_val, ref_model, tokenizer, template)
    pool = generate_tasks("validation", args.n_pool, seed=3000)
    routed = [pool[i] for i in day["routed"]]
    data = rl_dataset(routed, tokenizer, day["answers"], **template)
    others = generate_tasks("validation", 2 * args.n_val, seed=4000)
    val = [others[i] for i in day["val"]]
    recorder = Recorder(seed=args.seed, split="validation", sizes={"n_routed": len(routed), "n_val": len(val)},
                        config={"settings": list(args.settings), "base": BASE}) if args.summary else None
    for name, settings in runs.items():
        path = out / f"{name}-seed{args.seed}.json"
        if path.exists():
            print(json.dumps(json.loads(path.read_text())["summary"]), flush=True)
            continue
        recorder = Recorder(seed=args.seed, split="validation", sizes={"n_routed": len(routed), "n_val": len(val)},
                            config={"rl": settings, "start_sha256": file_sha256(shipped_adapter_path()
                                                                                / "adapter_model.safetensors")})
        model, _, _ = load_adapter(shipped_adapter_path(), trainable=True)
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        model, history = train_minimal(model, tokenizer, data, data, settings, eval_tasks=val,
                                       eval_every=args.eval_every, ref_model=ref_model, template_kwargs=template,
                                       checkpoint_dir=out / f"{name}-seed{args.seed}", checkpoint_every=1,
                                       progress=True)
        shutil.rmtree(out / f"{name}-seed{args.seed}", ignore_errors=True)
        cpu_s = cpu_seconds() - cpu0
        rollouts = settings.steps * settings.prompts_per_step * settings.group_size
        curve = [(r["step"], r["eval_exact_match"]) for r in history if "eval_exact_match" in r]
        summary = {"name": name, "seed": args.seed, "val_exact_match": curve, "cpu_s": round(cpu_s, 1),
                   "wall_s": round(time.perf_counter() - t0, 1), "rollouts": rollouts,
                   "peak_rss_mb": peak_rss_mb()}
        record = {"summary": summary, "history": history, "manifest": recorder.finish(summary=summary)}
        atomic_write_json(path, record)
        print(json.dumps(summary), flush=True)
    if recorder is not None:
        records = {name: json.loads((out / f"{name}-seed{args.seed}.json").read_text()) for name in runs}
        artifact = {"runs": [{"name": name, "settings": r["manifest"]["config"]["rl"], "summary": r["summary"],
                              "start_sha256": r["manifest"]["config"]["start_sha256"],
                              "history": r["history"], "made_by": {k: r["manifest"].get(k) for k in
                                                                   ("command", "git_commit", "started_utc")}}
                             for name, r in records.items()],
                    "day": {"n_routed": len(routed), "n_val": len(val), "val": day["val"]}}  # fmt: skip
        artifact["manifest"] = recorder.finish(summary={n: r["summary"]["val_exact_match"] for n, r in records.items()})
        Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.summary, artifact)


if __name__ == "__main__":
    main()
