"""Tests for the broad task variety: classic tasks unchanged, broad gold calls valid, features present."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.tasks.checker import check_call, schema_errors
from netgpt_lite.tasks.generate import (
    DIFFICULTIES,
    SPLITS,
    Task,
    difficulty_counts,
    generate_tasks,
    kind_counts,
    task_features,
    template_ids,
)
from netgpt_lite.tasks.numbers import (
    BROAD_VALUES,
    clock_words,
    number_to_words,
    phrasings,
    sample_clock,
    say_clock,
    spoken_number,
    twelve_hour,
)
from netgpt_lite.tasks.phrasebook import ARG_NOUNS, DEFAULT_LEFT, DEFAULT_SAID, FRAMES, NEAR_MISS, split_pool
from netgpt_lite.tasks.templates import MODELS, SITES
from netgpt_lite.tasks.tools import TOOL_FUNCTIONS, tool_schemas
from netgpt_lite.tasks.variety import FEATURES, add_typos, casualize

# sha256 of json.dumps([t.to_dict() for t in generate_tasks(split, 400, seed)]), computed before the broad
# variety existed: shipped artifacts and other tests depend on the classic tasks staying byte-for-byte the same
CLASSIC_SHA256 = {
    ("train", 0): "f31e3d591b6eba81e10d0d45e0b6c04624b6d83e7ea48c25b6073025b138aa58",
    ("train", 3): "89af826e8c72c83a974a3b2b5268bdcbec3876d266418e1afd488517eb1ebaab",
    ("validation", 0): "5dfe48f35fc8defbdf7f492c660c9dad74dec22cbb132f84da291c58216db14e",
    ("validation", 3): "44b414d57029f9d0fdef19e0682ea4c40aec880fa6b06a2109e72271747eb8f6",
    ("test", 0): "6839686651f82177c8a9e9c684b10c825ec1a119c71bcad4e9e8d717354df1de",
    ("test", 3): "1c576fc11630bdcdcea4dc39959bc5f2c9d2f0dce84ac7721d8c27160935a01a",
}


@pytest.mark.parametrize(("split", "seed"), sorted(CLASSIC_SHA256))
def test_classic_tasks_unchanged(split, seed):
    text = json.dumps([t.to_dict() for t in generate_tasks(split, 400, seed=seed)])
    assert hashlib.sha256(text.encode()).hexdigest() == CLASSIC_SHA256[split, seed]


# --- the broad variety --------------------------------------------------------------------------------------
@functools.cache
def _broad(split: str, n: int = 2000) -> tuple[Task, ...]:
    return tuple(generate_tasks(split, n, seed=0, variety="broad"))


@functools.cache
def _featured() -> tuple[tuple[Task, tuple[str, ...]], ...]:
    return tuple((t, task_features(t)) for t in _broad("train"))


def _parameters(name: str) -> dict:
    return tool_schemas([name])[0]["function"]["parameters"]


def test_broad_is_deterministic_prefix_stable_and_not_classic():
    a = generate_tasks("train", 50, seed=5, variety="broad")
    assert a == generate_tasks("train", 50, seed=5, variety="broad")
    assert generate_tasks("train", 20, seed=5, variety="broad") == a[:20]
    other = generate_tasks("train", 50, seed=6, variety="broad")
    assert sum(x.prompt != y.prompt for x, y in zip(a, other)) > 40
    classic = generate_tasks("train", 50, seed=5)
    assert sum(x.prompt != y.prompt for x, y in zip(a, classic)) > 40


def test_variety_is_validated():
    with pytest.raises(ValueError, match=r"variety must be one of \('classic', 'broad'\), got 'fancy'"):
        generate_tasks("train", 3, variety="fancy")
    with pytest.raises(ValueError, match="variety"):
        template_ids("train", variety="Broad")


@pytest.mark.parametrize("split", SPLITS)
def test_every_broad_gold_validates_and_is_offered(split):
    for task in _broad(split):
        names = [t["function"]["name"] for t in task.tools]
        assert task.gold["name"] in names and len(set(names)) == len(names)
        assert not schema_errors(task.gold["arguments"], _parameters(task.gold["name"])), (task.prompt, task.gold)
        assert check_call(task.gold, task.tools, task.gold).correct


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), split=st.sampled_from(SPLITS))
def test_broad_gold_validates_for_any_seed(seed, split):
    for task in generate_tasks(split, 10, seed=seed, variety="broad"):
        assert not schema_errors(task.gold["arguments"], _parameters(task.gold["name"])), (task.prompt, task.gold)


def test_broad_keeps_kinds_difficulties_and_tools():
    tasks = _broad("train")
    diff, kinds = difficulty_counts(tasks), kind_counts(tasks)
    assert all(n > 0.28 * len(tasks) for n in diff.values())
    assert 0.3 * len(tasks) < kinds["next_step"] < 0.4 * len(tasks)
    assert {t.gold["name"] for t in tasks} == set(TOOL_FUNCTIONS)


def test_broad_test_templates_and_sentences_are_unseen_in_training():
    train, test = set(template_ids("train", "broad")), set(template_ids("test", "broad"))
    assert not train & test and template_ids("validation", "broad") == list(template_ids("train", "broad"))
    assert set(template_ids("train")) < train and set(template_ids("test")) < test
    used = {split: {t.template_id for t in _broad(split)} for split in SPLITS}
    assert used["train"] <= train and used["validation"] <= train and used["test"] <= test
    assert len(used["train"]) >= 0.9 * len(train) and len(used["test"]) >= 0.9 * len(test)
    # the new sentences (near misses, defaults, next_step frames) split the same way: test ones never reach training
    lists = [*(tuple(s for _, s in v) for v in NEAR_MISS.values()), *DEFAULT_SAID.values(), DEFAULT_LEFT]
    seen = {s for options in lists for s in split_pool(options, test=False)}
    held_out = {s for options in lists for s in split_pool(options, test=True)}
    assert not held_out & seen
    markers = {s.split("{")[0].strip(" ,").lower() for s in held_out} | {f"{done}: ".lower() for done, _ in FRAMES[1]}
    for task in _broad("train") + _broad("validation"):
        assert not [m for m in markers if m in task.prompt.lower()], task.prompt
    assert sum(any(m in t.prompt.lower() for m in markers) for t in _broad("test")) > 100


def test_each_feature_is_common_and_more_so_when_harder():
    pairs = _featured()
    counts = Counter(f for _, features in pairs for f in features)
    shares = {f: counts[f] / len(pairs) for f in FEATURES}
    assert all(share >= 0.06 for share in shares.values()), shares
    assert sum(bool(features) for _, features in pairs) >= 0.55 * len(pairs)
    by_level = [np.mean([bool(f) for t, f in pairs if t.difficulty == d]) for d in DIFFICULTIES]
    assert by_level[0] < by_level[1] < by_level[2] and by_level[0] > 0.35 and by_level[2] > 0.75, by_level
    assert all(set(f) <= {"words", "units", "times", "typos", "names"} for t, f in pairs if t.kind == "next_step")


def test_fresh_names_are_copied_verbatim_and_new():
    free = ("site", "from_site", "to_site", "region", "cell_id", "slice_id")
    named = [t for t, features in _featured() if "names" in features]
    for task in named:
        values = [v for k, v in task.gold["arguments"].items() if k in free]
        assert all(v in task.prompt for v in values), (task.prompt, task.gold)
        assert task.gold["arguments"].get("model_name") in (None, *MODELS)  # an enum: never invented
    sites = {v for t in named for k, v in t.gold["arguments"].items() if k in ("site", "from_site", "to_site")}
    assert len(sites) > 50 and not sites & set(SITES)


def test_near_miss_tool_is_ruled_out_and_offered():
    hits = 0
    for task, features in _featured():
        if "nearmiss" not in features or "typos" in features:
            continue
        offered = {t["function"]["name"] for t in task.tools}
        said = [tool for tool, sentence in NEAR_MISS[task.gold["name"]] if sentence in task.prompt]
        assert said and said[0] in offered and said[0] != task.gold["name"], task.prompt
        hits += 1
    assert hits > 50


def test_defaults_are_in_the_gold_when_said_and_absent_when_left():
    n_said = n_left = 0
    for task, features in _featured():
        if "defaults" not in features or "typos" in features:
            continue
        parameters = _parameters(task.gold["name"])
        for arg, spec in parameters["properties"].items():
            said = any(phrase.strip(" ,") in task.prompt for phrase in DEFAULT_SAID.get(arg, ()))
            left = any(s.format(noun=ARG_NOUNS.get(arg, "?")) in task.prompt for s in DEFAULT_LEFT)
            if said:
                assert task.gold["arguments"][arg] == spec["default"], task.prompt
            if left:
                assert arg not in task.gold["arguments"], task.prompt
            n_said, n_left = n_said + said, n_left + left
        # the checker takes the call with or without its default-valued arguments
        bare = {k: v for k, v in task.gold["arguments"].items() if v != parameters["properties"][k].get("default")}
        full = {k: spec["default"] for k, spec in parameters["properties"].items() if "default" in spec} | bare
        for arguments in (bare, full):
            assert check_call({"name": task.gold["name"], "arguments": arguments}, task.tools, task.gold).correct
    assert n_said > 20 and n_left > 20


def test_typos_touch_only_the_template_words():
    rng = np.random.default_rng(0)
    template = "Schedule maintenance at {site} {start_time}, only for {duration_minutes} without delay."
    for _ in range(50):
        typed = add_typos(template, 3, rng)
        assert _SLOTS.findall(typed) == _SLOTS.findall(template)
        assert " only " in typed and len(typed.split()) == len(template.split()) and typed != template
        casual = casualize(typed, rng, urgent_ok=False)
        assert _SLOTS.findall(casual) == _SLOTS.findall(template) and "asap" not in casual.lower()


# --- numbers, units and times --------------------------------------------------------------------------------
_SLOTS = re.compile(r"\{\w+\}")
_SMALL = {w: i for i, w in enumerate(("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                      "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                                      "seventeen", "eighteen", "nineteen"))}  # fmt: skip
_SMALL |= {w: 10 * i for i, w in enumerate(("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
                                            "ninety"), 2)}  # fmt: skip


def _words_value(text: str) -> int:
    """An independent reading of English number words (the test's oracle for number_to_words)."""
    total = current = 0
    for word in text.replace("-", " ").split():
        if word == "and":
            continue
        if word == "hundred":
            current = max(current, 1) * 100
        elif word == "thousand":
            total, current = total + max(current, 1) * 1000, 0
        else:
            current += _SMALL[word]
    return total + current


def test_number_to_words_fixed_values_and_round_trip():
    assert [number_to_words(n) for n in (0, 13, 21, 40, 100, 101, 120, 999)] == [
        "zero", "thirteen", "twenty-one", "forty", "one hundred", "one hundred and one", "one hundred and twenty",
        "nine hundred and ninety-nine"]  # fmt: skip
    assert number_to_words(1500) == "one thousand five hundred" and number_to_words(2005) == "two thousand and five"
    assert number_to_words(120, use_and=False) == "one hundred twenty"
    assert number_to_words(25, hyphen=False) == "twenty five"
    assert number_to_words(999_999) == "nine hundred and ninety-nine thousand nine hundred and ninety-nine"
    for n in (*range(0, 2100), 10_000, 54_321, 999_999):
        assert _words_value(number_to_words(n)) == n == _words_value(number_to_words(n, use_and=False, hyphen=False))
    for bad in (-1, 1_000_000):
        with pytest.raises(ValueError, match="n must be"):
            number_to_words(bad)
    rng = np.random.default_rng(0)
    idioms = {n: {spoken_number(n, rng, idioms=True) for _ in range(60)} for n in (2, 6, 12, 24, 1500)}
    assert "a couple of" in idioms[2] and "half a dozen" in idioms[6] and "a dozen" in idioms[12]
    assert "two dozen" in idioms[24] and "fifteen hundred" in idioms[1500]


_UNIT_FACTORS = {  # unit -> value in the tool's unit, per kind family (an independent oracle)
    "minutes": {"seconds": 1 / 60, "minutes": 1, "min": 1, "h": 60, "hour": 60, "hours": 60, "day": 1440,
                "days": 1440},
    "hours": {"minutes": 1 / 60, "hours": 1, "day": 24, "days": 24},
    "seconds": {"ms": 1 / 1000, "milliseconds": 1 / 1000, "s": 1, "seconds": 1, "min": 60, "minute": 60,
                "minutes": 60},
    "bandwidth": {"kbps": 1 / 1000, "kilobits per second": 1 / 1000, "Gbps": 1000, "Gb/s": 1000,
                  "gigabits per second": 1000},
    "latency": {"µs": 1 / 1000, "microseconds": 1 / 1000, "s": 1000, "seconds": 1000},
}  # fmt: skip
_FAMILY = {"window": "minutes", "maint_minutes": "minutes", "power_minutes": "minutes", "hours": "hours",
           "test_seconds": "seconds", "bandwidth": "bandwidth", "latency": "latency"}  # fmt: skip


def _digits_value(phrase: str, family: str) -> float | None:
    """The value of a phrase of digits and units ("1 h 15 min", "0.75 Gbps"), or None if it has number words."""
    units = sorted(_UNIT_FACTORS[family], key=len, reverse=True)
    pairs = re.findall(r"([\d.,]+)\s?(" + "|".join(map(re.escape, units)) + r")\b", phrase)
    if not pairs or re.sub(r"[\d.,]+\s?(" + "|".join(map(re.escape, units)) + r")\b|and", "", phrase).strip():
        return None
    return sum(float(n.replace(",", "")) * _UNIT_FACTORS[family][u] for n, u in pairs)


def test_unit_conversions_fixed_examples_and_oracle():
    rng = np.random.default_rng(0)

    def said(kind, value, countable=False):
        return {p for p, tags in phrasings(kind, value, rng, countable) if "units" in tags}

    assert {"an hour and a half", "1.5 hours", "5400 seconds"} <= said("maint_minutes", 90)
    assert {"2 hours", "two hours", "7200 seconds"} <= said("power_minutes", 120) and "a day" in said("window", 1440)
    assert {"1.5 Gbps", "one and a half gigabits per second"} <= said("bandwidth", 1500)
    assert {"750000 kbps", "0.75 Gbps"} <= said("bandwidth", 750)
    assert "half a gigabit per second" in said("bandwidth", 500)
    assert {"a fifth", "0.2", "one in five"} <= said("percent", 20, countable=True)
    assert "one in five" not in said("percent", 20) and {"three tenths", "0.3"} <= said("percent", 30)
    assert {"a minute and a half", "1.5 minutes"} <= said("test_seconds", 90) and "a week" in said("hours", 168)
    assert {"a quarter of a second", "0.25 s"} <= said("latency", 250) and "a couple of" in str(phrasings(
        "n_clients", 2, np.random.default_rng(3)) + phrasings("n_clients", 2, np.random.default_rng(5)))  # fmt: skip
    checked = 0
    for kind, family in _FAMILY.items():
        for value in BROAD_VALUES[kind]:
            phrases = said(kind, value)
            assert phrases, (kind, value)
            for phrase in phrases:
                if (got := _digits_value(phrase, family)) is not None:
                    assert got == pytest.approx(value), (kind, value, phrase)
                    checked += 1
    assert checked > 150


def _clock(text: str) -> int | None:
    """Minutes after midnight of a written time ("09:40", "9:40 pm", "14h30", "1430 hours"), or None."""
    m = re.fullmatch(r"(\d{1,2})(?:[:.h](\d\d)|(\d\d) hours)?\s?(am|pm|AM|PM)?", text.strip())
    if not m:
        return None
    hour, minute = int(m[1]), int(m[2] or m[3] or 0)
    if m[4]:
        hour = hour % 12 + (12 if m[4].lower() == "pm" else 0)
    return hour * 60 + minute


def test_clock_times_fixed_and_resolved_against_the_stated_time():
    assert clock_words(10, 15) == "quarter past ten in the morning"
    assert clock_words(15, 30) == "half past three in the afternoon"
    assert clock_words(12, 0) == "noon" and clock_words(23, 40) == "twenty to midnight"
    assert clock_words(19, 5, part_of_day=False) == "five past seven"
    assert clock_words(22, 45) == "quarter to eleven at night"
    rng = np.random.default_rng(0)
    assert {twelve_hour(15, 45, rng) for _ in range(30)} >= {"3:45 pm", "3:45pm", "3.45pm", "3:45 PM"}
    parsed = 0
    for _ in range(1500):
        target = sample_clock(rng)
        gold = int(target[:2]) * 60 + int(target[3:])
        phrase, prefix = say_clock(target, rng)
        now = re.search(r"(\d{1,2}[:.]\d\d(?:\s?[ap]m|\s?[AP]M)?)", prefix or phrase)
        at = re.fullmatch(r"at (.+)", phrase)
        rel = re.fullmatch(r"(?:in )?(\d+) minutes(?: from now| after the current time of .+)?", phrase)
        if at and (t := _clock(at[1])) is not None:
            assert t == gold, (target, phrase)
        elif rel and now:
            assert _clock(now[1]) + int(rel[1]) == gold, (target, prefix, phrase)
        else:
            continue
        parsed += 1
    assert parsed > 300
