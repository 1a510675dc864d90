"""Tests for the seeded task generator: determinism, splits, gold validity, export round trips."""

from __future__ import annotations

import functools
import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.tasks.generate import (
    DIFFICULTIES,
    SPLITS,
    Task,
    difficulty_counts,
    format_completion,
    generate_tasks,
    kind_counts,
    read_jsonl,
    tasks_to_dataset,
    template_ids,
    transcript_texts,
    write_jsonl,
)
from netgpt_lite.tasks.tools import SIMILAR_TOOLS, TOOL_FUNCTIONS, tool_schemas


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(tool_schemas([name])[0]["function"]["parameters"])


@functools.cache
def _many() -> tuple[Task, ...]:
    return tuple(t for split in SPLITS for t in generate_tasks(split, 800, seed=3))


def test_same_seed_same_tasks_different_seed_different():
    a, b = generate_tasks("train", 60, seed=5), generate_tasks("train", 60, seed=5)
    assert a == b
    c = generate_tasks("train", 60, seed=6)
    assert sum(x.messages != y.messages for x, y in zip(a, c)) > 50
    assert generate_tasks("train", 30, seed=5) == a[:30]  # prefix-stable


def test_splits_differ_and_ids_unique():
    tasks = _many()
    assert len({t.task_id for t in tasks}) == len(tasks)
    train = {t.prompt for t in tasks if t.split == "train"}
    test = {t.prompt for t in tasks if t.split == "test"}
    assert not train & test


def test_test_templates_never_seen_in_training():
    assert not set(template_ids("train")) & set(template_ids("test"))
    assert template_ids("validation") == template_ids("train")
    used = {split: {t.template_id for t in _many() if t.split == split} for split in SPLITS}
    assert used["train"] <= set(template_ids("train")) and used["validation"] <= set(template_ids("train"))
    assert used["test"] <= set(template_ids("test"))
    assert not used["test"] & (used["train"] | used["validation"])
    assert len(used["train"]) >= 0.9 * len(template_ids("train"))  # (almost) every template appears
    assert len(used["test"]) >= 0.9 * len(template_ids("test"))


def test_every_gold_call_validates_against_its_schema():
    for task in _many():
        names = [t["function"]["name"] for t in task.tools]
        assert task.gold["name"] in names and len(set(names)) == len(names)
        errors = list(_validator(task.gold["name"]).iter_errors(task.gold["arguments"]))
        assert not errors, (task.task_id, task.prompt, task.gold, errors[0].message)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), split=st.sampled_from(SPLITS))
def test_gold_validates_for_any_seed(seed, split):
    for task in generate_tasks(split, 8, seed=seed):
        assert not list(_validator(task.gold["name"]).iter_errors(task.gold["arguments"]))


def test_coverage_of_kinds_difficulties_and_tools():
    tasks = _many()
    diff, kinds = difficulty_counts(tasks), kind_counts(tasks)
    assert all(n > 0.25 * len(tasks) for n in diff.values())
    assert 0.25 * len(tasks) < kinds["next_step"] < 0.45 * len(tasks)
    assert {t.gold["name"] for t in tasks} == set(TOOL_FUNCTIONS)


def test_harder_tasks_offer_more_and_more_similar_distractors():
    for task in _many():
        names = {t["function"]["name"] for t in task.tools} - {task.gold["name"]}
        n_similar = len(names & set(SIMILAR_TOOLS[task.gold["name"]]))
        level = DIFFICULTIES.index(task.difficulty)
        assert len(names) == [2, 3][level] if level < 2 else len(names) in (4, 5)
        assert n_similar == [0, 1, 2][level]


def test_prompts_are_short_and_hard_tasks_use_conversions():
    tasks = _many()
    words = [len(t.prompt.split()) for t in tasks]
    assert max(words) <= 45 and sum(words) / len(words) < 25
    hard = [t for t in tasks if t.difficulty == "hard"]
    assert any(
        "half a gigabit" in t.prompt and t.gold["arguments"].get("bandwidth_mbps") == 500 for t in hard
    )
    assert any(t.prompt.startswith("It is ") for t in hard)
    assert not any(t.prompt.startswith("It is ") for t in tasks if t.difficulty == "easy")
    easy_single = [t for t in tasks if t.difficulty == "easy" and t.kind == "single_step"]
    assert all(len(t.gold["arguments"]) <= len(tool_schemas([t.gold["name"]])[0]["function"]["parameters"]
                                                    ["required"]) for t in easy_single)  # fmt: skip


def test_relative_time_is_resolved_against_stated_time():
    for task in _many():
        if task.kind == "single_step" and task.prompt.startswith("It is ") and "in 2 hours" in task.prompt:
            now_h, now_m = map(int, task.prompt[6:11].split(":"))
            start_h, start_m = map(int, task.gold["arguments"]["start_time"].split(":"))
            assert (start_h * 60 + start_m) - (now_h * 60 + now_m) == 120


def test_next_step_gold_reads_earlier_results():
    deploys = [t for t in _many() if t.kind == "next_step" and t.gold["name"] == "aggregate_models"]
    assert deploys
    for task in deploys:
        assert str(task.gold["arguments"]["round_id"]) in task.prompt


def test_jsonl_and_dataset_round_trip(tmp_path):
    tasks = generate_tasks("validation", 40, seed=2)
    assert read_jsonl(write_jsonl(tasks, tmp_path / "t.jsonl")) == tasks
    ds = tasks_to_dataset(tasks)
    assert ds.column_names[:6] == ["task_id", "split", "kind", "difficulty", "template_id", "messages"]
    assert isinstance(ds[0]["tools"], str) and json.loads(ds[0]["gold"]) == tasks[0].gold
    assert [Task.from_dict(row) for row in ds] == tasks


def test_texts_and_completion_format():
    tasks = generate_tasks("train", 5)
    texts = transcript_texts(tasks)
    assert len(texts) == 10 and texts[1] == format_completion(tasks[0].gold)
    assert texts[1].startswith('{"name":') and texts[1].endswith("}") and "<tool_call>" not in texts[1]


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="split"):
        generate_tasks("dev", 3)
    with pytest.raises(ValueError, match="n and seed"):
        generate_tasks("train", -1)


def test_cli_tasks_writes_jsonl_and_summary(tmp_path, capsys):
    from netgpt_lite.cli import main

    out = tmp_path / "tasks.jsonl"
    assert main(["tasks", "--split", "test", "--n", "12", "--seed", "4", "--out", str(out)]) == 0
    assert read_jsonl(out) == generate_tasks("test", 12, seed=4)
    assert "wrote 12 test tasks (seed 4" in capsys.readouterr().out
    assert main(["tasks", "--n", "-3", "--out", str(out)]) == 2
