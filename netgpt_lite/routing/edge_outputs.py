"""The edge's answers on the fixed streams the routing chapters use, as a small shipped artifact.

Generating with SmolLM2 costs about a second per request on 2 CPU cores, so the edge outputs behind the
routing experiments are produced once, by one documented command, and shipped as JSONL with a manifest:

    netgpt-lite tables --edge smollm2 --out netgpt_lite/data/edge_outputs/smollm2

Each row holds what routing needs from the edge for one task: the completion, the two self-confidence
scores, the token counts, schema validity and the checker's verdict against the gold call.  The tasks
themselves are not stored: they are regenerated from the split, size and seed in the manifest, and the
rows are matched to them by ``task_id``.  :func:`table_from_outputs` turns rows into a
:class:`~netgpt_lite.routing.proposals.ProposalTable` (the simulated cloud's side is recomputed: it is
seeded and cheap).  A chapter that loads the artifact recomputes a few rows live with
:func:`recompute_sample` and asserts the agreement.

Example:
    >>> rows = [{"task_id": "t-1", "completion": "{}", "score_mean": 0.5, "score_min": 0.2,
    ...          "n_input_tokens": 200, "n_output_tokens": 12, "schema_valid": False, "correct": False,
    ...          "error_type": "unparseable"}]
    >>> validate_rows(rows, "demo.jsonl")[0]["score_mean"]
    0.5
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from netgpt_lite.edge.agent import EdgeAgent, EdgeOutput
from netgpt_lite.edge.evaluation import verdicts
from netgpt_lite.edge.lora import shipped_adapter_path
from netgpt_lite.edge.smollm import gguf_path
from netgpt_lite.edge.tiny_lm import shipped_model_path
from netgpt_lite.provenance import Recorder, file_sha256, write_manifest
from netgpt_lite.routing.proposals import ProposalTable
from netgpt_lite.routing.tables import model_sha, proposal_table
from netgpt_lite.tasks.checker import parse_tool_call
from netgpt_lite.tasks.generate import generate_tasks

ROW_FIELDS = {"task_id": str, "completion": str, "score_mean": float, "score_min": float, "n_input_tokens": int,
              "n_output_tokens": int, "schema_valid": bool, "correct": bool, "error_type": str}
STREAMS = {"logs": "validation", "test": "test", "deploy_logs": "test"}  # artifact file stem -> task split
SIZE_KEYS = {"logs": "n_logs", "test": "n_test", "deploy_logs": "n_deploy_logs"}  # stem -> its manifest size
SEED_OFFSETS = {"deploy_logs": 1}  # another day of the evaluation's traffic: the test split, the next seed
LOG_SOURCES = {"validation": "logs", "deployment": "deploy_logs"}  # where a router's logs come from -> stem
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "edge_outputs"


def edge_identity(edge: str) -> dict:
    """What identifies an edge's outputs: the model (and adapter and base weights) hashes.

    ``edge`` is ``"tiny"``, ``"smollm2"`` (the shipped adapter) or an adapter / model folder.
    """
    if edge == "tiny":
        return {"edge": "tiny", "model_sha": model_sha(shipped_model_path())}
    folder = shipped_adapter_path() if edge == "smollm2" else Path(edge)
    if (folder / "adapter_config.json").is_file():
        return {"edge": edge, "adapter_sha256": file_sha256(folder / "adapter_model.safetensors"),
                "base_gguf_sha256": file_sha256(gguf_path())}
    return {"edge": edge, "model_sha": model_sha(folder)}


def output_rows(tasks, outputs: list[EdgeOutput]) -> list[dict]:
    """One JSON-ready row per task (fields :data:`ROW_FIELDS`)."""
    return [{"task_id": t.task_id, "completion": o.completion, "score_mean": round(o.confidence("mean"), 6),
             "score_min": round(o.confidence("min"), 6), "n_input_tokens": o.n_input_tokens,
             "n_output_tokens": o.n_output_tokens, "schema_valid": bool(o.schema_valid), "correct": bool(v.correct),
             "error_type": v.error_type}
            for t, o, v in zip(tasks, outputs, verdicts(tasks, outputs))]


def validate_rows(rows: list, where: str) -> list[dict]:
    """Check every row has the fields of :data:`ROW_FIELDS` with the right types; errors name the row."""
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ValueError(f"{where} line {i}: a row must be a JSON object")
        for name, kind in ROW_FIELDS.items():
            value = row.get(name)
            if kind is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            elif kind is int:
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, kind)
            if not ok:
                raise ValueError(f"{where} line {i}: field {name!r} must be {kind.__name__}, got {value!r}")
        if not (0.0 <= row["score_mean"] <= 1.0 and 0.0 <= row["score_min"] <= 1.0):
            raise ValueError(f"{where} line {i}: scores must be in [0, 1]")
    return rows


def read_rows(path: str | Path) -> list[dict]:
    """Read an edge-outputs JSONL file; a malformed line raises ``ValueError`` naming the file and line."""
    path = Path(path)
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {i}: not valid JSON ({err.msg}); regenerate it with the command in "
                             f"its manifest") from None
    return validate_rows(rows, str(path))


def table_from_outputs(tasks, rows: list[dict], score: str = "mean", cloud_seed: int = 0,
                       n_cloud_draws: int = 4) -> ProposalTable:
    """The proposal table of stored edge rows (matched to ``tasks`` by id) and fresh simulated-cloud answers."""
    by_id = {r["task_id"]: r for r in rows}
    missing = [t.task_id for t in tasks if t.task_id not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} tasks have no stored edge output (first: {missing[0]}): the artifact was "
                         "made for other tasks; regenerate it")
    ordered = [by_id[t.task_id] for t in tasks]
    outputs = [EdgeOutput("", r["completion"], parse_tool_call(r["completion"]), r["schema_valid"], np.zeros(0),
                          r["n_input_tokens"], r["n_output_tokens"], 0.0) for r in ordered]
    table, _ = proposal_table(tasks, outputs, [r[f"score_{score}"] for r in ordered], cloud_seed=cloud_seed,
                              n_cloud_draws=n_cloud_draws, source=f"edge_outputs+simulated_cloud ({score} score)")
    return table


def build_edge_outputs(edge: str, out_dir: str | Path, n_test: int = 300, n_logs: int = 300, seed: int = 0,
                       batch_size: int = 16, command: str | None = None, progress: bool = False,
                       n_deploy_logs: int = 0) -> dict:
    """Run ``edge`` on the log stream (validation split), the evaluation stream (test split) and, with
    ``n_deploy_logs`` > 0, the deployment log stream (the test split's phrasings on another day: seed + 1, so
    other requests than the evaluation's); write ``logs.jsonl``, ``test.jsonl`` (``deploy_logs.jsonl``) and the
    manifest into ``out_dir``; return the manifest.  ``progress``: a progress bar with the time left on stderr."""
    if n_test < 1 or n_logs < 1 or n_deploy_logs < 0:
        raise ValueError(f"n_test and n_logs must be >= 1 and n_deploy_logs >= 0; got {n_test}, {n_logs}, "
                         f"{n_deploy_logs}")
    identity = edge_identity(edge)
    sizes = {"n_logs": n_logs, "n_test": n_test, **({"n_deploy_logs": n_deploy_logs} if n_deploy_logs else {})}
    rec = Recorder(seed=seed, split="validation+test", command=command, entry=[__name__],
                   sizes=sizes, config={"edge": identity, "batch_size": batch_size})
    agent = EdgeAgent.from_pretrained(edge, batch_size=batch_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for stem, split in STREAMS.items():
        if SIZE_KEYS[stem] not in sizes:
            continue
        tasks = generate_tasks(split, sizes[SIZE_KEYS[stem]], seed=seed + SEED_OFFSETS.get(stem, 0))
        rows = output_rows(tasks, agent.run(tasks, progress=progress))
        (out / f"{stem}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        summary[stem] = {"split": split, "n": len(rows), "exact_match": float(np.mean([r["correct"] for r in rows])),
                         "schema_valid": float(np.mean([r["schema_valid"] for r in rows]))}
    manifest = rec.finish(streams=summary, template_kwargs=agent.template_kwargs)
    write_manifest(out, manifest)
    return manifest


def stored_streams(folder: str | Path) -> list[str]:
    """The streams a :func:`build_edge_outputs` folder holds (``logs`` and ``test``; ``deploy_logs`` if made)."""
    sizes = json.loads((Path(folder) / "manifest.json").read_text())["sizes"]
    return [stem for stem in STREAMS if SIZE_KEYS[stem] in sizes]


def stream_tasks(folder: str | Path, stem: str) -> list:
    """The tasks of a stored stream (``"logs"``, ``"test"`` or ``"deploy_logs"``), regenerated from the
    folder's manifest."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    if SIZE_KEYS[stem] not in manifest["sizes"]:
        raise ValueError(f"{folder} holds no {stem!r} stream (made without it); regenerate it with "
                         "`netgpt-lite tables --edge smollm2 --n-deploy-logs 300 --out ...`")
    return generate_tasks(STREAMS[stem], manifest["sizes"][SIZE_KEYS[stem]],
                          seed=manifest["seed"] + SEED_OFFSETS.get(stem, 0))


def load_edge_tables(folder: str | Path = SHIPPED_DIR / "smollm2", score: str = "mean", n_cloud_draws: int = 4,
                     logs: str = "validation") -> tuple[ProposalTable, ProposalTable]:
    """``(log_table, test_table)`` from a :func:`build_edge_outputs` folder (default: the shipped SmolLM2 one).

    ``logs``: ``"validation"`` (the validation split's phrasings: a distribution shift from the evaluation's)
    or ``"deployment"`` (the evaluation's own traffic on another day, :data:`LOG_SOURCES`)."""
    if logs not in LOG_SOURCES:
        raise ValueError(f"logs must be one of {sorted(LOG_SOURCES)}; got {logs!r}")
    folder = Path(folder)
    seed = json.loads((folder / "manifest.json").read_text())["seed"]
    return tuple(table_from_outputs(stream_tasks(folder, stem), read_rows(folder / f"{stem}.jsonl"), score,
                                    cloud_seed=seed, n_cloud_draws=n_cloud_draws)
                 for stem in (LOG_SOURCES[logs], "test"))


def recompute_sample(folder: str | Path, agent: EdgeAgent, n: int = 4, stem: str = "test") -> dict:
    """Regenerate the first ``n`` rows of a stored stream live and compare: the share of identical
    completions and the largest score difference (a reader's check that the artifact is what the code gives)."""
    folder = Path(folder)
    tasks = stream_tasks(folder, stem)[:n]
    stored = read_rows(folder / f"{stem}.jsonl")[:n]
    live = output_rows(tasks, agent.run(tasks))
    return {"n": n, "same_completion": float(np.mean([a["completion"] == b["completion"] for a, b in zip(live, stored)])),
            "max_score_diff": float(max(abs(a["score_mean"] - b["score_mean"]) for a, b in zip(live, stored)))}
