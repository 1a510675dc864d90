"""The seeded task generator: tool-calling requests with a gold tool_call, in train/validation/test splits.

Two kinds of task, as in NetGPT's application (planning network-operations and federated-learning
workflows):

* ``single_step``: the request names what to do ("Put cell-3 in eco mode for 2 hours").
* ``next_step``: a goal, the steps already done (with their results), and the tools: choose the next
  call. The next call may need a value read from an earlier result (a round id, a model version).

Difficulty: *easy* tasks say values in canonical units and offer 2 unrelated distractor tools;
*medium* tasks paraphrase, may add an optional argument and offer one similar tool among 3; *hard*
tasks need unit conversions ("half a gigabit" -> 500), relative times ("in 2 hours" after "It is
14:20."), enums said in words ("top priority" -> "high"), several optional arguments, and offer 4-5
tools including every similar one.

Splits: train and validation draw from the same *train* templates (validation measures in-distribution
held-out samples, e.g. for early stopping and calibration); test uses only *test* templates, never seen
in training, so test accuracy measures generalisation to new phrasings. Task ``i`` of a split depends
only on ``(seed, split, i, variety)``: generating more tasks extends the list without changing its prefix.

Varieties: ``"classic"`` (the default) is the generator above, unchanged.  ``"broad"`` keeps its kinds,
difficulties and splits but gives most tasks new features -- numbers in words, other units, more forms of
times, typos, fresh names, defaults said or left, near-miss tools (:mod:`netgpt_lite.tasks.variety`) --
and more templates; :func:`task_features` tells which features a task shows.

Example:
    >>> tasks = generate_tasks("train", 3, seed=0)
    >>> tasks[0].gold["name"] in [t["function"]["name"] for t in tasks[0].tools]
    True
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np

from netgpt_lite.tasks.phrasebook import extra_template_ids
from netgpt_lite.tasks.templates import KINDS, N_TRAIN_GOALS, N_TRAIN_TEMPLATES, SPECS, WORKFLOWS
from netgpt_lite.tasks.tools import SIMILAR_TOOLS, TOOL_FUNCTIONS, shared_schema
from netgpt_lite.tasks.variety import FEATURE_SHARE, Voice, broad_single_step, offer_tool

SPLITS = ("train", "validation", "test")
KINDS_OF_TASK = ("single_step", "next_step")
DIFFICULTIES = ("easy", "medium", "hard")
VARIETIES = ("classic", "broad")
NEXT_STEP_FRACTION = 0.35  # share of next_step tasks in every split
_SPLIT_CODE = {"train": 0, "validation": 1, "test": 2}
# the result field a next_step prompt reports for each finished step
_RESULT_KEY = {"select_fl_clients": "selected", "start_fl_round": "round_id", "schedule_fl_round": "round_id",
               "aggregate_models": "global_version", "get_cell_kpi": "value", "get_cell_alarms": "alarms",
               "set_power_mode": "status", "run_speed_test": "throughput_mbps", "reroute_traffic": "status"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Task:
    """One tool-calling request and its gold answer.

    Attributes:
        task_id: Unique id, ``"{split}-{seed}-{index}"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        kind: ``"single_step"`` or ``"next_step"``.
        difficulty: ``"easy"``, ``"medium"`` or ``"hard"``.
        template_id: Phrasing template, e.g. ``"single/set_power_mode/2"`` or ``"next/fault/0"``.
        messages: Chat messages ``[{"role": "user", "content": ...}]``.
        tools: Offered tools in OpenAI format (the gold tool plus distractors, shuffled). The schema dicts
            are shared between tasks: treat them as read-only (``to_dict`` returns copies).
        gold: The right tool_call ``{"name": ..., "arguments": {...}}``.
    """

    task_id: str
    split: str
    kind: str
    difficulty: str
    template_id: str
    messages: list
    tools: list
    gold: dict

    def to_dict(self) -> dict:
        """A plain JSON-ready dict (deep copy)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> Task:
        """Inverse of :meth:`to_dict`; ``tools``/``gold`` may also be JSON strings (Dataset rows)."""
        d = dict(d)
        for key in ("tools", "gold"):
            if isinstance(d[key], str):
                d[key] = json.loads(d[key])
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})

    @property
    def prompt(self) -> str:
        """The last user message (what the tiny edge LM reads)."""
        return self.messages[-1]["content"]


CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"  # Hermes tags: the checker accepts them, no agent emits them


def format_completion(tool_call: dict) -> str:
    """The one completion text of a tool_call, for every agent: ``{"name":...,"arguments":{...}}``.

    Compact JSON (no spaces), ``name`` first, argument keys sorted, non-ASCII kept as is: the edge LMs
    are trained to emit exactly this text, and the clouds write their answers the same way.  There are
    no ``<tool_call>`` tags: the checker finds the JSON without them, and for SmolLM2's tokenizer the
    two tags would cost 9 of a median 48 generated tokens.  Arguments
    that are not a dict (a malformed remote answer) are written as they are.

    Example:
        >>> format_completion({"name": "open_ticket", "arguments": {"site": "port", "priority": "high"}})
        '{"name":"open_ticket","arguments":{"priority":"high","site":"port"}}'
    """
    arguments = tool_call["arguments"]
    if isinstance(arguments, dict):
        arguments = dict(sorted(arguments.items()))
    body = {"name": tool_call["name"], "arguments": arguments}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _say(kind: str, value, level: int, rng: np.random.Generator) -> tuple[str, str]:
    """Phrase a value; returns ``(phrase, prefix)`` (only times add a prefix such as "It is 14:20. ")."""
    out = KINDS[kind][1](value, level, rng)
    return out if isinstance(out, tuple) else (out, "")


def _distractors(gold_name: str, level: int, rng: np.random.Generator) -> list[str]:
    """Gold tool plus distractors, shuffled: 2 unrelated (easy), 3 with one similar, 4-5 with all similar."""
    similar = list(SIMILAR_TOOLS[gold_name])
    others = [n for n in TOOL_FUNCTIONS if n != gold_name and n not in similar]
    n_similar, n_total = [(0, 2), (1, 3), (len(similar), int(rng.integers(4, 6)))][level]
    picked = [similar[i] for i in rng.permutation(len(similar))[:n_similar]]
    picked += [others[i] for i in rng.permutation(len(others))[: n_total - n_similar]]
    names = [gold_name, *picked]
    return [names[i] for i in rng.permutation(len(names))]


def _single_step(level: int, test_templates: bool, rng: np.random.Generator) -> tuple[str, str, dict]:
    """Sample a single_step request: returns ``(template_id, text, gold)``."""
    name = str(rng.choice(list(SPECS)))
    required, optional, templates = SPECS[name]
    args = {arg: KINDS[kind][0](rng) for arg, kind in required.items()}
    if name == "reroute_traffic":  # traffic must move to a different site
        while args["to_site"] == args["from_site"]:
            args["to_site"] = KINDS["site"][0](rng)
    p_optional = (0.0, 0.4, 0.75)[level]
    slots, prefix = {}, ""
    for arg, (kind, connect) in optional.items():
        slots[arg] = ""
        if rng.random() < p_optional:
            args[arg] = KINDS[kind][0](rng)
            slots[arg] = connect.format(_say(kind, args[arg], level, rng)[0])
    for arg, kind in required.items():
        slots[arg], pre = _say(kind, args[arg], level, rng)
        prefix += pre
    index = int(
        rng.integers(N_TRAIN_TEMPLATES, len(templates)) if test_templates else rng.integers(N_TRAIN_TEMPLATES)
    )
    text = prefix + templates[index].format(**slots)
    return f"single/{name}/{index}", text, {"name": name, "arguments": args}


def _workflow_calls(name: str, v: dict) -> list[dict]:
    """The calls of a workflow for goal values ``v``; later calls read earlier (stub) results."""
    if name == "fl_deploy":
        rid = TOOL_FUNCTIONS["start_fl_round"](v["model_name"], v["n_clients"])["round_id"]
        calls = [("select_fl_clients", {"n_clients": v["n_clients"]}),
                 ("start_fl_round", {"model_name": v["model_name"], "n_clients": v["n_clients"]}),
                 ("aggregate_models", {"round_id": rid}),
                 ("deploy_model", {"model_name": v["model_name"], "site": v["site"], "version": rid + 1})]  # fmt: skip
    elif name == "fl_eval":
        rid = TOOL_FUNCTIONS["schedule_fl_round"](v["model_name"], v["start_time"], v["n_clients"])[
            "round_id"
        ]
        calls = [("schedule_fl_round", {k: v[k] for k in ("model_name", "start_time", "n_clients")}),
                 ("aggregate_models", {"round_id": rid, "method": v["method"]}),
                 ("evaluate_global_model", {"model_name": v["model_name"]})]  # fmt: skip
    elif name == "congestion":
        calls = [("get_cell_kpi", {"cell_id": v["cell_id"], "metric": "prb_usage"}),
                 ("set_power_mode", {"cell_id": v["cell_id"], "mode": v["mode"]}),
                 ("run_speed_test", {"site": v["site"]})]  # fmt: skip
    elif name == "fault":
        calls = [("get_cell_alarms", {"cell_id": v["cell_id"], "severity": "critical"}),
                 ("open_ticket", {k: v[k] for k in ("site", "issue", "urgency")})]  # fmt: skip
    elif name == "maintenance":
        calls = [("reroute_traffic", {"from_site": v["site"], "to_site": v["to_site"], "percent": v["percent"]}),
                 ("schedule_maintenance", {k: v[k] for k in ("site", "start_time", "duration_minutes")})]  # fmt: skip
    else:  # slice
        calls = [("run_speed_test", {"site": v["site"]}),
                 ("configure_slice", {k: v[k] for k in ("slice_id", "bandwidth_mbps", "priority")})]  # fmt: skip
    return [{"name": n, "arguments": a} for n, a in calls]


_GOAL_KIND = {"model_name": "model", "n_clients": "n_clients", "site": "site", "to_site": "site",
              "start_time": "time", "method": "agg_method", "cell_id": "cell", "mode": "power_mode",
              "urgency": "level", "issue": "issue", "percent": "percent", "duration_minutes": "maint_minutes",
              "slice_id": "slice", "bandwidth_mbps": "bandwidth", "priority": "level"}  # fmt: skip


def _next_step(level: int, test_templates: bool, rng: np.random.Generator, voice: Voice | None = None
               ) -> tuple[str, str, dict]:  # fmt: skip
    """Sample a next_step planning request: returns ``(template_id, text, gold)``; a broad task brings a voice."""
    name = str(rng.choice(list(WORKFLOWS)))
    goals, _ = WORKFLOWS[name]
    if voice is None:
        index = int(rng.integers(N_TRAIN_GOALS, len(goals)) if test_templates else rng.integers(N_TRAIN_GOALS))
        goal = goals[index]
    else:
        index, goal = voice.goal(name, test_templates, rng)
    sample, say = (voice.sample, voice.say) if voice else (lambda kind, r: KINDS[kind][0](r), _say)
    values = {k: sample(kind, rng) for k, kind in _GOAL_KIND.items() if "{" + k + "}" in goal}
    while "to_site" in values and values["to_site"] == values["site"]:
        values["to_site"] = sample("site", rng)
    slots, prefix = {}, ""
    for k, value in values.items():
        slots[k], pre = say(_GOAL_KIND[k], value, level, rng)
        prefix += pre
    calls = _workflow_calls(name, values)
    n_done = 1 if level == 0 else int(rng.integers(1, len(calls)))
    done = []
    for call in calls[:n_done]:
        result = TOOL_FUNCTIONS[call["name"]](**call["arguments"])
        shown = result[_RESULT_KEY[call["name"]]]
        done.append(f"{call['name']} -> {', '.join(shown) or 'none' if isinstance(shown, list) else shown}")
    done_word, ask = voice.frame(test_templates, rng) if voice else (
        ("Completed", "What now?") if test_templates else ("Done", "Next call?"))  # fmt: skip
    text = f"{prefix}Goal: {goal.format(**slots)} {done_word}: {'; '.join(done)}. {ask}"
    return f"next/{name}/{index}", text, calls[n_done]


def generate_tasks(split: str, n: int, seed: int = 0, variety: str = "classic") -> list[Task]:
    """Generate ``n`` seeded tasks of one split.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"`` (test uses held-out phrasing templates).
        n: Number of tasks (>= 0).
        seed: Seed; task ``i`` depends only on ``(seed, split, i, variety)``.
        variety: ``"classic"`` (the original tasks, unchanged) or ``"broad"`` (most tasks show new features:
            numbers in words, other units, times, typos, fresh names, defaults, near-miss tools).

    Returns:
        A list of :class:`Task`, mixed kinds (~35% next_step) and difficulties (~1/3 each).

    Example:
        >>> [t.task_id for t in generate_tasks("test", 2, seed=1)]
        ['test-1-00000', 'test-1-00001']
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if n < 0 or seed < 0:
        raise ValueError(f"n and seed must be >= 0, got n={n}, seed={seed}")
    if variety not in VARIETIES:
        raise ValueError(f"variety must be one of {VARIETIES}, got {variety!r}")
    return [_make_task(split, seed, i, variety)[0] for i in range(n)]


def _make_task(split: str, seed: int, i: int, variety: str) -> tuple[Task, tuple[str, ...]]:
    """Task ``i`` of a split and the broad features it shows (``()`` for classic and classic-like tasks)."""
    key = [seed, _SPLIT_CODE[split], i] + ([1] if variety == "broad" else [])  # classic keys stay as they were
    rng = np.random.default_rng(np.random.SeedSequence(key))
    level = int(rng.integers(3))
    kind = "next_step" if rng.random() < NEXT_STEP_FRACTION else "single_step"
    test, features, excluded = split == "test", (), None
    if variety == "broad" and rng.random() < FEATURE_SHARE[level]:
        if kind == "next_step":
            voice = Voice(level)  # picks its features once it sees the workflow's goal
            template_id, text, gold = _next_step(level, test, rng, voice)
            features = voice.features_used()
        else:
            template_id, text, gold, features, excluded = broad_single_step(level, test, rng)
    else:
        template_id, text, gold = (_next_step if kind == "next_step" else _single_step)(level, test, rng)
    names = _distractors(gold["name"], level, rng)
    if excluded:  # the tool a near-miss sentence rules out must be offered
        names = offer_tool(names, excluded, gold["name"], rng)
    task = Task(task_id=f"{split}-{seed}-{i:05d}", split=split, kind=kind, difficulty=DIFFICULTIES[level],
                template_id=template_id, messages=[{"role": "user", "content": text}],
                tools=[shared_schema(n) for n in names], gold=gold)  # fmt: skip
    return task, features


def task_features(task: Task) -> tuple[str, ...]:
    """The broad-variety features a generated task shows (regenerated from its id); ``()`` for a classic task.

    Example:
        >>> [task_features(t) for t in generate_tasks("train", 2, seed=0, variety="broad")]
        [('units',), ('times', 'names')]
        >>> task_features(generate_tasks("train", 1, seed=0)[0])
        ()
    """
    split, seed, index = task.task_id.rsplit("-", 2)
    for variety in ("broad", "classic"):
        made, features = _make_task(split, int(seed), int(index), variety)
        if made == task:
            return features
    raise ValueError(f"task {task.task_id} is not one generate_tasks makes")


def difficulty_counts(tasks: list[Task]) -> dict[str, int]:
    """Number of tasks per difficulty, in the order easy, medium, hard."""
    counts = Counter(t.difficulty for t in tasks)
    return {d: counts[d] for d in DIFFICULTIES}


def kind_counts(tasks: list[Task]) -> dict[str, int]:
    """Number of tasks per kind, in the order single_step, next_step."""
    counts = Counter(t.kind for t in tasks)
    return {k: counts[k] for k in KINDS_OF_TASK}


def template_ids(split: str, variety: str = "classic") -> list[str]:
    """Every template id a split can use (train and validation share the train templates)."""
    if variety not in VARIETIES:
        raise ValueError(f"variety must be one of {VARIETIES}, got {variety!r}")
    test = split == "test"
    single = [f"single/{name}/{i}" for name, (_, _, tpl) in SPECS.items() for i in range(len(tpl))
              if (i >= N_TRAIN_TEMPLATES) == test]  # fmt: skip
    nxt = [f"next/{name}/{i}" for name, (goals, _) in WORKFLOWS.items() for i in range(len(goals))
           if (i >= N_TRAIN_GOALS) == test]  # fmt: skip
    return single + nxt + (extra_template_ids(test) if variety == "broad" else [])


def transcript_texts(tasks: list[Task]) -> list[str]:
    """Each task's whole transcript as plain texts: its message contents, then its gold completion.

    (The edge tokenizer's training text is :func:`netgpt_lite.edge.tiny_lm.tokenizer_corpus`.)

    Example:
        >>> texts = transcript_texts(generate_tasks("train", 2))
        >>> len(texts), texts[1].startswith('{"name":')
        (4, True)
    """
    return [text for t in tasks for text in (*(m["content"] for m in t.messages), format_completion(t.gold))]


def tasks_to_dataset(tasks: list[Task]):
    """A Hugging Face ``datasets.Dataset``; ``tools`` and ``gold`` are JSON strings (Arrow cannot hold the
    heterogeneous schemas). Rows convert back with ``Task.from_dict(row)``."""
    import datasets

    rows = [t.to_dict() for t in tasks]
    for row in rows:
        row["tools"], row["gold"] = json.dumps(row["tools"]), json.dumps(row["gold"])
    return datasets.Dataset.from_list(rows)


def write_jsonl(tasks: list[Task], path: str | Path) -> Path:
    """Write one task per line; returns the path."""
    path = Path(path)
    path.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tasks))
    return path


def read_jsonl(path: str | Path) -> list[Task]:
    """Read tasks written by :func:`write_jsonl`."""
    return [Task.from_dict(json.loads(line)) for line in Path(path).read_text().splitlines() if line.strip()]
