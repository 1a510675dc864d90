"""Accuracy of the SmolLM2 LoRA edge against training size, prompt rendering and epochs: a resumable sweep.

Every point is the documented pair of commands, run as a reader would run them:
``netgpt-lite train-edge --base smollm2 --out DIR --n-train N --tool-format F --epochs E`` (resumable),
then ``netgpt-lite eval-edge --model DIR ... --json`` for each evaluation set.  A point whose adapter
(``DIR/manifest.json``) or evaluation (``DIR/eval-NAME.json``) exists is not redone, so a killed sweep is
rerun with the same command.  The table ``OUT/sweep.json`` (one row per point: training CPU seconds
per example, median prompt tokens, exact match / schema-valid / AUROC per evaluation set) is rewritten
after every step.

    # the prompt rendering, chosen on validation accuracy at a fixed small size, 3 training seeds each
    OMP_NUM_THREADS=1 .venv/bin/python scripts/sft_sweep.py --out runs/render \\
        --sizes 400 --formats names,compact,full --seeds 0,1,2 --eval validation:300
    # the scaling curve
    OMP_NUM_THREADS=1 .venv/bin/python scripts/sft_sweep.py --out runs/scaling \\
        --sizes 400,800,1600,3200 --eval validation:300,test:500,independent

A setting trained with several ``--seeds`` is compared with the reference's setting over its seeds
(``by_setting`` in the summary): one paired interval over requests of the seed-averaged verdicts, and each
seed's own paired difference, since one training run is not a setting.

Evaluation sets: ``SPLIT:N[:VARIETY]`` (generated requests of a split, classic unless ``:broad``),
``independent`` and ``handwritten``
(the two hand-written files in ``tests/data``: reported, never used to choose a setting).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = {"independent": ROOT / "tests/data/independent_requests.jsonl",
         "handwritten": ROOT / "tests/data/handwritten_requests.jsonl"}


def _run(cmd: list[str], log: Path) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd[2:])}", flush=True)
    with log.open("a") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")


def _eval_args(spec: str) -> tuple[str, list[str]]:
    """``(name, eval-edge arguments)`` of an evaluation spec: ``SPLIT:N[:VARIETY]`` or a file's name."""
    if spec in FILES:
        return spec, ["--tasks", str(FILES[spec])]
    split, n, variety = (spec.split(":") + ["classic"])[:3]
    if split not in ("train", "validation", "test") or not n.isdigit() or variety not in ("classic", "broad"):
        raise SystemExit(f"--eval: {spec!r} is not SPLIT:N[:VARIETY] (train, validation, test; classic, broad) "
                         f"or one of {sorted(FILES)}")
    return f"{split}{n}{'' if variety == 'classic' else '-' + variety}", ["--split", split, "--n", n,
                                                                          "--variety", variety]


def prompt_tokens(tool_format: str, n: int = 200) -> float:
    """Median prompt length in tokens of ``n`` validation requests rendered with ``tool_format``."""
    import numpy as np
    from transformers import AutoTokenizer

    from netgpt_lite.edge.prompt import render_prompt
    from netgpt_lite.edge.smollm import base_model_dir, configure_tokenizer
    from netgpt_lite.tasks.generate import generate_tasks

    tokenizer = configure_tokenizer(AutoTokenizer.from_pretrained(str(base_model_dir())))
    lengths = [len(tokenizer(render_prompt(tokenizer, t.messages, t.tools, tool_format=tool_format),
                             add_special_tokens=False)["input_ids"]) for t in generate_tasks("validation", n, seed=0)]
    return float(np.median(lengths))


def _evaluate(exe: list[str], model: str, folder: Path, spec: str, log: Path) -> None:
    """``netgpt-lite eval-edge`` of ``model`` on one set, unless its result is already in ``folder``."""
    name, spec_args = _eval_args(spec)
    path = folder / f"eval-{name}.json"
    if path.is_file():
        return
    tmp = path.with_suffix(".tmp")
    print(f"[{time.strftime('%H:%M:%S')}] eval {model} on {name}", flush=True)
    with tmp.open("w") as f, log.open("a") as err:
        done = subprocess.run([*exe, "eval-edge", "--model", model, *spec_args, "--out", str(folder / f"eval-{name}"),
                               "--json", "--quiet"], stdout=f, stderr=err, check=False)
    if done.returncode != 0:
        sys.exit(f"evaluation failed ({done.returncode}); see {log}")
    os.replace(tmp, path)


def _eval_rows(folder: Path, evals: list[str]) -> dict:
    row = {}
    for spec in evals:
        name, _ = _eval_args(spec)
        path = folder / f"eval-{name}.json"
        if path.is_file():
            result = json.loads(path.read_text())
            row[name] = {"n": result["n"], "exact_match": round(result["exact_match"], 4),
                         "schema_valid": round(result["schema_valid"], 4),
                         "by_difficulty": {k: round(v["exact_match"], 4) for k, v in result["by_difficulty"].items()},
                         "auroc": {k: round(v["auroc"], 4) for k, v in result["scores"].items()},
                         "ece": {k: round(v["ece_raw"], 4) for k, v in result["scores"].items()}}
    return row


def write_summary(path: Path, out: Path, rows: list[dict], evals: list[str], reference: str | None,
                  command: str) -> None:
    """The shippable record of a sweep: its rows, every point's per-request verdicts and scores on each set
    (aligned by request), the paired comparison of each point with ``reference`` (default: the first point)
    on each set, and a manifest."""
    from netgpt_lite.edge.evaluation import compare_records, read_records
    from netgpt_lite.provenance import Recorder, atomic_write_json

    recorder = Recorder(seed=None, split=None, command=command, entry=["netgpt_lite.edge.lora",
                                                                        "netgpt_lite.edge.evaluation"],
                        sizes={"n_points": len(rows)}, config={"evals": evals, "reference": reference})
    reference = reference or rows[0]["point"]
    sets, paired = {}, []
    for spec in evals:
        name, _ = _eval_args(spec)
        records = {}
        for row in rows:
            files = sorted((out / row["point"] / f"eval-{name}").glob("*.jsonl"))
            if files:
                records[row["point"]] = read_records(files[0])[1]
        if not records:
            continue
        keys = sorted(r["request"] for r in next(iter(records.values())))
        _, spec_args = _eval_args(spec)
        source = ({"tasks_file": Path(spec_args[1]).name} if spec_args[0] == "--tasks" else
                  {"split": spec_args[1], "n": int(spec_args[3]), "variety": spec_args[5], "seed": 0})
        sets[name] = {**source, "requests": keys, "points": {
            point: {"correct": [int(by[k]["correct"]) for k in keys], "confidence": [by[k]["confidence"] for k in keys],
                    "difficulty": [by[k]["difficulty"] for k in keys], "completion": [by[k]["completion"] for k in keys]}
            for point, recs in records.items() for by in [{r["request"]: r for r in recs}]}}
        for point, recs in records.items():
            if point != reference and reference in records:
                paired.append({"set": name, "a": point, "b": reference,
                               **compare_records(recs, records[reference], seed=0)})
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"rows": rows, "sets": sets, "paired": paired, "reference": reference,
                             "by_setting": by_setting(sets, reference), "manifest": recorder.finish()})
    print(f"wrote {path}", flush=True)


SEED_TAG = re.compile(r"-s(\d+)(?=-|$)")  # a point's training seed: "-s2" at the end or before a variety tag


def setting_of(point: str) -> str:
    """A point's setting: its name without the training seed (``names-n400-e1-s2`` -> ``names-n400-e1``;
    ``compact-n400-e1-s0-broad`` -> ``compact-n400-e1-broad``); a model evaluated as it is keeps its name."""
    return SEED_TAG.sub("", point, count=1)


def _seed(point: str) -> str | None:
    found = SEED_TAG.search(point)
    return found and found.group(1)


def by_setting(sets: dict, reference: str) -> list[dict]:
    """Each setting against the reference's setting on each set, over their training seeds: the
    seed-averaged paired difference (:func:`~netgpt_lite.stats.paired_mean_difference`; its interval covers
    the requests, not a new seed) and, for each seed both trained, that seed's paired difference, so the
    spread between seeds is in view beside the interval.

    Example:
        >>> pts = {"a-s0": {"correct": [1, 1, 0, 1]}, "a-s1": {"correct": [1, 0, 0, 1]},
        ...        "b-s0": {"correct": [1, 0, 0, 0]}, "b-s1": {"correct": [1, 0, 0, 1]}}
        >>> row = by_setting({"val": {"points": pts}}, reference="a-s0")[0]
        >>> row["a"], row["b"], row["n_seeds"], row["difference"], [s["difference"] for s in row["per_seed"]]
        ('b', 'a', 2, -0.25, [-0.5, 0.0])
    """
    from netgpt_lite.stats import paired_comparison, paired_mean_difference

    base = setting_of(reference)
    out = []
    for name, found in sets.items():
        groups: dict[str, dict[str, list]] = {}
        for point, p in found["points"].items():
            groups.setdefault(setting_of(point), {})[point] = p["correct"]
        if base not in groups:
            continue
        b = groups[base]
        for setting, a in groups.items():
            if setting == base:
                continue
            seeds = [(pa, pb) for pa in a for pb in b if _seed(pa) is not None and _seed(pa) == _seed(pb)]
            per_seed = [{"a": pa, "b": pb, **paired_comparison(a[pa], b[pb], seed=0)} for pa, pb in seeds]
            out.append({"set": name, "a": setting, "b": base, "points_a": sorted(a), "points_b": sorted(b),
                        **paired_mean_difference(list(a.values()), list(b.values())),
                        "per_seed": [{k: r[k] for k in ("a", "b", "difference", "ci_low", "ci_high")}
                                     for r in per_seed]})
    return out


def _model_facts(model: str) -> dict:
    """What an adapter folder's manifest says about its training (nothing for a name like ``sft``); the
    weights' sha256 says which adapter a point is (a test regenerates the answers of the shipped one)."""
    path = Path(model) / "manifest.json"
    if not path.is_file():
        return {}
    manifest = json.loads(path.read_text())
    return {"n_train": manifest["sizes"]["n_train_tasks"], "variety": manifest["config"].get("variety", "classic"),
            "tool_format": manifest["config"]["lora_settings"]["tool_format"],
            "sha256_adapter_safetensors": manifest.get("sha256_adapter_safetensors")}


def row_of(folder: Path, evals: list[str]) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    settings = manifest["config"]["lora_settings"]
    # a resumed run's manifest times only the steps after the checkpoint it resumed from
    n_examples = (manifest["n_steps"] - manifest["resumed_from_step"]) * settings["batch_size"]
    row = {"point": folder.name, **_model_facts(str(folder)),
           "epochs": settings["n_epochs"], "seed": settings["seed"], "train_cpu_s": manifest["cpu_s"],
           "train_wall_s": manifest["wall_s"], "cpu_s_per_example": round(manifest["cpu_s"] / n_examples, 3),
           "omp_num_threads": manifest["machine"].get("omp_num_threads"),
           "resumed_from_step": manifest["resumed_from_step"], "peak_rss_mb": manifest.get("peak_rss_mb")}
    return {**row, **_eval_rows(folder, evals)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="sweep folder (one sub-folder per point)")
    parser.add_argument("--sizes", default="400", help="comma-separated training sizes (logged cloud answers)")
    parser.add_argument("--formats", default="compact", help="comma-separated tool formats: names, compact, full")
    parser.add_argument("--epochs", default="1", help="comma-separated numbers of passes")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    parser.add_argument("--eval", default="validation:300", help="comma-separated evaluation sets (see above)")
    parser.add_argument("--variety", choices=["classic", "broad"], default="classic",
                        help="generator variety of the training requests")
    parser.add_argument("--models", default="",
                        help="comma-separated existing models to evaluate beside the trained points (e.g. sft: the "
                             "shipped adapter); the first is the reference of the paired comparisons")
    parser.add_argument("--summary", type=Path, default=None,
                        help="also write a shippable summary here: rows, each point's verdicts and scores per set, "
                             "paired comparisons against the reference, and a manifest")
    parser.add_argument("--summary-only", action="store_true",
                        help="train and evaluate nothing: summarise the points already in --out")
    parser.add_argument("--train-args", default="", help="extra train-edge arguments, e.g. '--lr 5e-4'")
    args = parser.parse_args(argv)
    evals = [e for e in args.eval.split(",") if e]
    for spec in evals:
        _eval_args(spec)  # every evaluation spec checked before any work
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "sweep.log"
    exe = [sys.executable, "-m", "netgpt_lite"]
    table = args.out / ("summary-only.json" if args.summary_only else "sweep.json")
    rows, lengths = [], {}
    for model in (m for m in args.models.split(",") if m):
        folder = args.out / f"model-{Path(model).name}"
        folder.mkdir(exist_ok=True)
        for spec in evals:
            if not args.summary_only:
                _evaluate(exe, model, folder, spec, log)
        rows = [r for r in rows if r["point"] != folder.name] + [{"point": folder.name, "model": model,
                                                                     **_model_facts(model),
                                                                     **_eval_rows(folder, evals)}]
        table.write_text(json.dumps({"rows": rows, "evals": evals}, indent=1) + "\n")
    for fmt in args.formats.split(","):
        lengths[fmt] = prompt_tokens(fmt)
        for size in (int(s) for s in args.sizes.split(",") if s):
            for epochs in args.epochs.split(","):
                for seed in args.seeds.split(","):
                    tag = "" if args.variety == "classic" else f"-{args.variety}"
                    folder = args.out / f"{fmt}-n{size}-e{epochs}-s{seed}{tag}"
                    if args.summary_only and not (folder / "manifest.json").is_file():
                        continue
                    if not (folder / "manifest.json").is_file():
                        _run([*exe, "train-edge", "--base", "smollm2", "--out", str(folder), "--n-train", str(size),
                              "--tool-format", fmt, "--epochs", epochs, "--seed", seed, "--quiet",
                              "--variety", args.variety,
                              *args.train_args.split()], log)
                    for spec in evals:
                        if not args.summary_only:
                            _evaluate(exe, str(folder), folder, spec, log)
                    rows = [r for r in rows if r["point"] != folder.name] + [row_of(folder, evals)]
                    rows[-1]["median_prompt_tokens"] = lengths[fmt]
                    table.write_text(json.dumps({"rows": rows, "evals": evals}, indent=1) + "\n")
                    print(json.dumps(rows[-1]), flush=True)
    if args.summary is not None:
        write_summary(args.summary, args.out, rows, evals, reference=rows[0]["point"] if args.models else None,
                      command=" ".join(["python", "scripts/sft_sweep.py",
                                       *[a for a in (argv or sys.argv[1:]) if a != "--summary-only"]]))


if __name__ == "__main__":
    main()
