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

With ``--day test`` the day is the deployment day of E5 (``netgpt-lite e5 --day test``): the routed requests,
the cloud's calls, the replayed SFT answers and the curve's requests are that E5's, read from its start
record ``--start-record`` (``runs/sft.json`` of its run folder, written by the E5 command), and each setting
runs as E5's ``rl`` arm does (:func:`~netgpt_lite.experiments.rl_arms.run_rl`).  Still no test request is
evaluated: the curve's requests are other requests of the day's phrasings.  Each run keeps its final
checkpoint (``--out/<name>/rl-seed<seed>/checkpoint``), so ``--extend-from NAME`` starts a setting that
differs from the finished run NAME only in more ``steps`` where NAME ended, with the same result as a run
from the start.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/rl_sweep.py --day test --out runs/rl_sweep_day \
        --start-record netgpt_lite/data/rl/deployment_day/run_records/sft.json --eval-every 4 \
        --settings "s24:steps=24" --summary netgpt_lite/data/results/rl_sweep/deployment_day.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import evaluate
from netgpt_lite.edge.lora import load_adapter, shipped_adapter_path
from netgpt_lite.experiments.rl_arms import load_start, practice_data, run_rl, start_identity
from netgpt_lite.experiments.rl_comparison import E5Config, day_of_requests, day_pools
from netgpt_lite.provenance import Recorder, atomic_write_json, cpu_seconds, file_sha256, peak_rss_mb
from netgpt_lite.rl.data import rl_dataset
from netgpt_lite.rl.minimal import train_minimal
from netgpt_lite.rl.settings import SMOLLM2_RL, RLSettings
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


def e5_settings(changes: dict, seed: int, base: RLSettings = SMOLLM2_RL) -> RLSettings:
    """E5's RL settings (``base``: :data:`~netgpt_lite.rl.settings.SMOLLM2_RL`) with ``changes`` and ``seed``."""
    known = set(RLSettings.__dataclass_fields__) | {"epsilon", "beta", "gamma", "kl_estimator"}
    if set(changes) - known:
        raise SystemExit(f"--settings: unknown field(s) {sorted(set(changes) - known)}; see RLSettings")
    return base.replace(seed=seed, **changes)


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
    parser.add_argument("--day", choices=("validation", "test"), default="validation",
                        help="test: E5's deployment day, read from --start-record")
    parser.add_argument("--start-record", default=None, help="with --day test: E5's runs/sft.json")
    parser.add_argument("--extend-from", default=None, metavar="NAME",
                        help="with --day test: continue the finished run NAME (same settings, fewer steps) instead "
                             "of repeating its steps")
    args = parser.parse_args(argv)
    named = [parse_setting(s) for s in args.settings]
    out = Path(args.out)
    if args.day == "test":  # E5's recipe (SMOLLM2_RL), so that the chosen change carries over to E5
        runs = {name: e5_settings(changes, args.seed) for name, changes in named}  # errors before any work
        return deployment_day_sweep(args, runs, out)
    runs = {name: settings_for(changes, args.seed) for name, changes in named}  # errors before any work
    out.mkdir(parents=True, exist_ok=True)
    ref_model, tokenizer, template = load_adapter(shipped_adapter_path())
    ref_model.requires_grad_(False)
    day = the_day(out, args.n_pool, args.n_val, ref_model, tokenizer, template)
    pool = generate_tasks("validation", args.n_pool, seed=3000)
    routed = [pool[i] for i in day["routed"]]
    data = rl_dataset(routed, tokenizer, day["answers"], **template)
    others = generate_tasks("validation", 2 * args.n_val, seed=4000)
    val = [others[i] for i in day["val"]]
    for name, settings in runs.items():
        path = out / f"{name}-seed{args.seed}.json"
        if path.exists():
            print(json.dumps(json.loads(path.read_text())["summary"]), flush=True)
            continue
        recorder = Recorder(seed=args.seed, split="validation", sizes={"n_routed": len(routed), "n_val": len(val)},
                            config={"rl": settings, "start_sha256": file_sha256(shipped_adapter_path()
                                                                                / "adapter_model.safetensors")})
        model = history = None  # the last setting's policy goes before this one's loads: one policy at a time
        model, _, _ = load_adapter(shipped_adapter_path(), trainable=True)
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        model, history = train_minimal(model, tokenizer, data, data, settings, eval_tasks=val,
                                       eval_every=args.eval_every, ref_model=ref_model, template_kwargs=template,
                                       checkpoint_dir=out / f"{name}-seed{args.seed}", checkpoint_every=1,
                                       progress=True)
        shutil.rmtree(out / f"{name}-seed{args.seed}", ignore_errors=True)
        write_run(path, name, args.seed, settings, history, recorder, cpu0, t0)
    if args.summary:
        write_summary(args, runs, out, {"n_routed": len(routed), "n_val": len(val)},
                      {"n_routed": len(routed), "n_val": len(val), "val": day["val"]})


def write_run(path: Path, name: str, seed: int, settings: RLSettings, history: list, recorder, cpu0: float,
              t0: float) -> None:
    """One finished run's record (summary with its curve and cost, history, manifest); prints the summary."""
    curve = [(r["step"], r["eval_exact_match"]) for r in history if "eval_exact_match" in r]
    summary = {"name": name, "seed": seed, "val_exact_match": curve, "cpu_s": round(cpu_seconds() - cpu0, 1),
               "wall_s": round(time.perf_counter() - t0, 1), "peak_rss_mb": peak_rss_mb(),
               "rollouts": settings.steps * settings.prompts_per_step * settings.group_size}  # fmt: skip
    atomic_write_json(path, {"summary": summary, "history": history, "manifest": recorder.finish(summary=summary)})
    print(json.dumps(summary), flush=True)


def write_summary(args, runs: dict, out: Path, sizes: dict, day: dict) -> None:
    """One artifact (``--summary``) with every named run's settings, curve and history, and a manifest."""
    recorder = Recorder(seed=args.seed, split=args.day, sizes=sizes,
                        config={"settings": list(args.settings), "base": BASE, "day": args.day})
    records = {name: json.loads((out / f"{name}-seed{args.seed}.json").read_text()) for name in runs}
    artifact = {"runs": [{"name": name, "settings": r["manifest"]["config"]["rl"], "summary": r["summary"],
                          "start_sha256": r["manifest"]["config"].get("start_sha256")
                          or r["manifest"]["config"]["start"]["sha256"],
                          "history": r["history"], "made_by": {k: r["manifest"].get(k) for k in
                                                               ("command", "git_commit", "started_utc")}}
                         for name, r in records.items()], "day": day}  # fmt: skip
    artifact["manifest"] = recorder.finish(summary={n: r["summary"]["val_exact_match"] for n, r in records.items()})
    Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.summary, artifact)


def deployment_day_sweep(args, runs: dict, out: Path, config: E5Config | None = None) -> None:
    """``--day test``: each setting (``runs``: name -> settings) runs as E5's ``rl`` arm on E5's deployment day
    (``config``: that E5's; default the shipped one's, with ``--n-pool``, ``--n-val`` and ``--eval-every``)."""
    if args.start_record is None or not Path(args.start_record).is_file():
        raise SystemExit(f"--start-record: E5's start record (runs/sft.json) is needed with --day test; got "
                         f"{args.start_record!r} (netgpt_lite/data/rl/deployment_day/run_records/sft.json ships)")
    start_record = json.loads(Path(args.start_record).read_text())
    config = config or E5Config(day_split="test", curve_every=args.eval_every, n_pool=args.n_pool,
                                n_curve=args.n_val)
    pool, curve_pool = day_pools(config, generate_tasks("test", config.n_eval, seed=0))
    day = start_record.get("day", {})
    if len(day.get("routed", [])) + len(day.get("kept", [])) != len(pool) or not day.get("curve"):
        raise SystemExit(f"--start-record {args.start_record}: its day does not split the {len(pool)} requests of "
                         f"a deployment day with --n-pool {args.n_pool} and --n-val {args.n_val}, or has no curve")
    out.mkdir(parents=True, exist_ok=True)
    ref_model, tokenizer, template = load_start(config.edge, trainable=False)
    ref_model.requires_grad_(False)
    data = practice_data(config, pool, curve_pool, start_record, tokenizer, template)
    sizes = {"n_routed": len(day["routed"]), "n_val": len(data["curve"])}
    for name, settings in runs.items():
        path = out / f"{name}-seed{args.seed}.json"
        if path.exists():
            print(json.dumps(json.loads(path.read_text())["summary"]), flush=True)
            continue
        recorder = Recorder(seed=args.seed, split="test-phrasings (no evaluated request)", sizes=sizes,
                            config={"rl": settings, "start": start_identity(config.edge), "day": "test"})
        if getattr(args, "extend_from", None):
            extend(out, args.extend_from, name, settings, args.seed)
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        run_config = dataclasses.replace(config, rl=settings)
        _, _, _, info = run_rl("rl", args.seed, run_config, data, ref_model, None, out / name, progress=True,
                               keep_checkpoint=True)  # fmt: skip
        write_run(path, name, args.seed, settings, info["history"], recorder, cpu0, t0)
    if args.summary:
        write_summary(args, runs, out, sizes, {"n_routed": sizes["n_routed"], "n_val": sizes["n_val"],
                                               "val": day["curve"], "split": "test"})


def extend(out: Path, base: str, name: str, settings: RLSettings, seed: int) -> None:
    """Start ``name`` from the kept final checkpoint of the finished run ``base`` (same settings but
    ``steps``, no more steps than ``name``'s): its steps are not repeated (the result is the same)."""
    target = out / name / f"rl-seed{seed}" / "checkpoint"
    if target.exists():  # resuming this run already
        return
    kept = out / base / f"rl-seed{seed}" / "checkpoint"
    record = out / f"{base}-seed{seed}.json"
    if not (kept / "state.json").is_file() or not record.is_file():
        raise SystemExit(f"--extend-from {base}: no finished run with a kept checkpoint ({record}, {kept})")
    made = json.loads(record.read_text())["manifest"]["config"]["rl"]
    mine = json.loads(json.dumps(dataclasses.asdict(settings)))
    if {k: v for k, v in made.items() if k != "steps"} != {k: v for k, v in mine.items() if k != "steps"} or \
            made["steps"] > settings.steps:
        raise SystemExit(f"--extend-from {base}: {name} must have {base}'s settings and at least its {made['steps']} "
                         f"steps; they differ")
    shutil.copytree(kept, target)


if __name__ == "__main__":
    main()
