"""The broad task variety: which features a task shows, fresh names, typos, defaults said or left, near misses.

``generate_tasks(split, n, seed, variety="broad")`` draws every task as the classic generator does, except that a
share :data:`FEATURE_SHARE` of them (45% of easy, 65% of medium, 85% of hard tasks) show one (easy), one or two
(medium) or two or three (hard) of the seven :data:`FEATURES`, chosen among those the task can show:

* ``words``: numbers said in full ("twenty-five devices", "a dozen clients", "round forty-two");
* ``units``: values in another unit than the tool takes ("an hour and a half" -> 90 minutes, "1.5 Gbps" ->
  1500 Mbps, "one in five of the sessions" -> 20 percent); see :mod:`netgpt_lite.tasks.numbers`;
* ``times``: start times as "at quarter past ten in the morning", "at 3:45 pm", "at 14h30", "in 35 minutes"
  after "It is 09:40. ", "20 minutes after the current time of 13:05"; the gold stays ``"HH:MM"``;
* ``typos``: slips in the template's own words (swapped, dropped or doubled letters), lower case, no final
  stop, "pls", "thx", "asap".  They are made in the template *before* its slots are filled, so the values the
  call copies are never touched, and negations and enum-like words ("not", "only", "critical") stay whole;
* ``names``: site, cell, slice and region names outside the classic vocabulary, made of syllables and place
  words with hyphens and digits ("velmora", "north-quay", "pier-7", "cell-312b").  Only free-string parameters
  get fresh names: ``model_name`` is an enum and keeps its four values;
* ``defaults``: an optional argument stated at its default ("with the default 10 second duration") or left to
  it on purpose ("No need to change the test duration.");
* ``nearmiss``: a sentence rules out a similar tool ("Not a scheduled round, start it now."); that tool is always
  among the offered ones.

Next_step tasks can show the first five (their goals hold the values); ``defaults`` and ``nearmiss`` are
single_step only.  A task's :class:`Voice` records the features it really used, which
:func:`netgpt_lite.tasks.generate.task_features` reports.

Defaults rule: the checker lets either side leave out an optional argument whose value is the schema default
(:mod:`netgpt_lite.tasks.checker`, stage 5), so writing the default and leaving it out are the same call.  The
gold follows the words: an argument the request *states* at its default is in the gold with the default value;
an argument the request *leaves* to its default is absent.  A completion is scored correct either way.

New sentences are split like the classic templates (:mod:`netgpt_lite.tasks.phrasebook`): test sentence
templates, goals, default and near-miss sentences are never used by the train and validation splits.  Value
phrasings ("1.5 Gbps") are shared by all splits, as the classic value phrasings are.

Example:
    >>> rng = np.random.default_rng(7)
    >>> template_id, text, gold, features, excluded = broad_single_step(2, False, rng)
    >>> template_id.split("/")[1] == gold["name"], set(features) <= set(FEATURES)
    (True, True)
"""

from __future__ import annotations

import inspect
import re

import numpy as np

from netgpt_lite.tasks.numbers import BROAD_VALUES, phrasings, sample_clock, say_clock
from netgpt_lite.tasks.phrasebook import (
    ARG_NOUNS,
    CASUAL,
    DEFAULT_LEFT,
    DEFAULT_SAID,
    FRAMES,
    NEAR_MISS,
    URGENT,
    goal_pool,
    single_pool,
    split_pool,
)
from netgpt_lite.tasks.templates import KINDS, SPECS
from netgpt_lite.tasks.tools import SIMILAR_TOOLS, TOOL_FUNCTIONS

FEATURES = ("words", "units", "times", "typos", "names", "defaults", "nearmiss")
FEATURE_SHARE = (0.45, 0.65, 0.85)  # share of easy / medium / hard broad tasks that show new features
_WEIGHTS = {"words": 1.0, "units": 2.0, "times": 4.0, "typos": 0.8, "names": 0.8, "defaults": 1.0, "nearmiss": 1.0}
_WORD_KINDS = frozenset(BROAD_VALUES)
_UNIT_KINDS = frozenset(("window", "hours", "bandwidth", "latency", "percent", "maint_minutes", "power_minutes",
                         "test_seconds"))  # fmt: skip
_NAME_KINDS = frozenset(("site", "cell", "slice"))
# goal slot -> the features its value can show (the slot's kind is the generator's _GOAL_KIND)
_GOAL_SLOT_FEATURES = {"n_clients": ("words",), "percent": ("words", "units"), "duration_minutes": ("words", "units"),
                       "bandwidth_mbps": ("words", "units"), "start_time": ("times",), "site": ("names",),
                       "to_site": ("names",), "cell_id": ("names",), "slice_id": ("names",)}  # fmt: skip
_NO_RUSH = ("schedule_maintenance", "schedule_fl_round", "open_ticket")  # "asap" would contradict a time or urgency
# words a typo must not touch: negations and words that pick the tool, an enum value or the default
_PROTECTED = frozenset((
    "only", "just", "without", "never", "nothing", "none", "instead", "rather", "later", "first", "then", "before",
    "after", "skip", "critical", "minor", "major", "uplink", "downlink", "default", "usual", "standard", "keep",
    "leave", "same", "right", "away", "immediately", "instant", "once", "already", "again", "yet",
))  # fmt: skip
_WORD = re.compile(r"[A-Za-z]{4,}")
_SLOT = re.compile(r"(\{\w+\})")

_SYLLABLES = ("kal", "mor", "vel", "tan", "bri", "dun", "os", "ren", "lor", "quin", "sar", "tel", "zan", "hol", "ner",
              "fen", "dal", "mar", "cor", "ast", "bel", "gar", "ivo", "jes", "kor", "lum", "nov", "pel", "rud", "sil",
              "tor", "ul", "vin", "wes", "yar", "ebb")  # fmt: skip
_ENDINGS = ("a", "o", "ia", "en", "ton", "by", "ford", "wick", "dale", "mere", "stead", "holm", "ville", "field")
_QUALIFIERS = ("north", "south", "east", "west", "upper", "lower", "old", "new", "little", "great", "inner", "outer")
_PLACES = ("quay", "mill", "gate", "pier", "yard", "ridge", "crossing", "hollow", "terrace", "wharf", "junction",
           "plaza", "heights", "meadow", "forge", "dock", "common", "square", "lane", "cliffs", "garden", "works",
           "exchange", "fairground", "terminal", "orchard", "quarry", "brook")  # fmt: skip
_SLICE_WORDS = ("video", "iot", "gaming", "urllc", "embb", "safety", "events", "drones", "telemetry", "xr", "v2x")


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _stem(rng: np.random.Generator) -> str:
    return _choice(rng, _SYLLABLES) + _choice(rng, (*_SYLLABLES, "", "")) + _choice(rng, _ENDINGS)


def fresh_site(rng: np.random.Generator) -> str:
    """A site name outside the classic vocabulary: invented syllables, place words, hyphens and digits.

    Example:
        >>> from netgpt_lite.tasks.templates import SITES
        >>> names = [fresh_site(np.random.default_rng(i)) for i in range(300)]
        >>> any(n in SITES for n in names), any("-" in n for n in names), any(c.isdigit() for n in names for c in n)
        (False, True, True)
    """
    form = int(rng.integers(5))
    if form == 0:
        stem = _stem(rng)
        return stem.capitalize() if rng.random() < 0.3 else stem  # the checker compares names case-blind
    if form == 1:
        return f"{_choice(rng, _QUALIFIERS)}-{_choice(rng, _PLACES)}"
    if form == 2:
        return f"{_choice(rng, _PLACES)}-{int(rng.integers(1, 40))}"
    return f"{_stem(rng)}-{_choice(rng, _PLACES)}" if form == 3 else f"{_stem(rng)}-{int(rng.integers(2, 10))}"


def fresh_cell(rng: np.random.Generator) -> str:
    """A cell id outside the classic ``cell-1`` ... ``cell-48``: ``cell-312``, ``cell-77b``, ``velmora-cell-3``."""
    form = int(rng.integers(3))
    if form == 0:
        return f"cell-{int(rng.integers(49, 1000))}"
    if form == 1:
        return f"cell-{int(rng.integers(1, 200))}{_choice(rng, 'abcd')}"
    return f"{_stem(rng)}-cell-{int(rng.integers(1, 10))}"


def fresh_slice(rng: np.random.Generator) -> str:
    """A slice id outside the classic ``slice-1`` ... ``slice-9``: ``slice-42``, ``slice-video``, ``iot-slice-2``."""
    form = int(rng.integers(3))
    if form == 0:
        return f"slice-{int(rng.integers(10, 100))}"
    word = _choice(rng, _SLICE_WORDS)
    return f"slice-{word}" if form == 1 else f"{word}-slice-{int(rng.integers(1, 10))}"


_FRESH = {"site": fresh_site, "cell": fresh_cell, "slice": fresh_slice}


def add_typos(template: str, n: int, rng: np.random.Generator) -> str:
    """``n`` letter slips (swap, drop, double) in the template's own words of 4+ letters, never in a ``{slot}``.

    Example:
        >>> add_typos("Schedule maintenance at {site} only.", 2, np.random.default_rng(1))
        'Scheduel mainteenance at {site} only.'
    """
    parts = _SLOT.split(template)
    spots = [(j, m.start(), m.end()) for j, part in enumerate(parts) if not _SLOT.fullmatch(part)
             for m in _WORD.finditer(part) if m.group().lower() not in _PROTECTED]  # fmt: skip
    for j, a, b in sorted((spots[k] for k in rng.permutation(len(spots))[:n]), reverse=True):  # right to left
        word, i = parts[j][a:b], int(rng.integers(1, b - a - 1))
        swapped, dropped, doubled = word[:i] + word[i + 1] + word[i] + word[i + 2 :], word[:i] + word[i + 1 :], (
            word[:i] + word[i] + word[i:])  # fmt: skip
        word = (swapped, dropped, doubled)[int(rng.integers(3))]
        parts[j] = parts[j][:a] + word + parts[j][b:]
    return "".join(parts)


def casualize(template: str, rng: np.random.Generator, urgent_ok: bool = True) -> str:
    """Casual writing of a template: maybe lower case, "u"/"pls", no final stop, an opener or a closer.

    Example:
        >>> casualize("Please check {site} for you.", np.random.default_rng(3))
        'pls check {site} for u. ty'
    """
    if rng.random() < 0.5:
        template = "".join(p if _SLOT.fullmatch(p) else p.lower() for p in _SLOT.split(template))
    template = re.sub(r"\byou\b", "u", re.sub(r"\b[Pp]lease\b", _choice(rng, ("pls", "plz")), template))
    if rng.random() < 0.6:
        template = template.rstrip(".")
    where = rng.random()
    if where < 0.35:
        openers = [o for o in CASUAL[0] if o.strip() not in template]  # not "plz pls check"
        return _choice(rng, openers) + template[:1].lower() + template[1:]
    if where < 0.75:
        return template + _choice(rng, CASUAL[1] + (URGENT if urgent_ok else ()))
    return template


def pick_features(applicable: list[str], level: int, rng: np.random.Generator) -> set[str]:
    """One (easy), one or two (medium) or two or three (hard) of the ``applicable`` features, at random.

    Features that few tools can show (times: 2 of 14 tools; units) are favoured so that each is common enough.
    """
    k = min(len(applicable), 1 if level == 0 else int(rng.integers(level, level + 2)))
    weights = np.array([_WEIGHTS[f] for f in applicable])
    return {applicable[j] for j in rng.choice(len(applicable), size=k, replace=False, p=weights / weights.sum())}


def classic_say(kind: str, value, level: int, rng: np.random.Generator) -> tuple[str, str]:
    """The classic phrasing of a value, at the highest level up to ``level`` whose phrase tables know it."""
    for lvl in range(level, -1, -1):
        try:
            out = KINDS[kind][1](value, lvl, rng)
        except KeyError:  # a broad value (e.g. 35 percent) the classic hard phrasings do not list
            continue
        return out if isinstance(out, tuple) else (out, "")
    raise ValueError(f"no classic phrasing of {kind} {value!r}")


class Voice:
    """How one broad task says its values: the features it may show, and :attr:`used`, the ones it showed.

    The generator's next_step sampler asks a voice for the goal template (:meth:`goal`, which also picks the
    features), the values (:meth:`sample`), their phrasings (:meth:`say`) and the closing words (:meth:`frame`);
    :func:`broad_single_step` uses one for the values of a single_step request.

    Example:
        >>> voice = Voice(1, {"units"})
        >>> voice.say("test_seconds", 90, 1, np.random.default_rng(0))[0] in ("a minute and a half", "1.5 minutes",
        ...                                                                   "1 min 30 s", "1 minute and 30 seconds")
        True
        >>> voice.used
        {'units'}
    """

    def __init__(self, level: int, features: set[str] | None = None) -> None:
        self.level, self.features, self.used = level, set(features or ()), set()
        self.countable = False  # the template says "{percent} of the sessions": ratios read well

    def shows(self, kind: str) -> bool:
        """Whether a value of ``kind`` can show one of this task's features (then an optional one is included)."""
        f = self.features
        return (kind in _NAME_KINDS and "names" in f) or ("words" in f and kind in _WORD_KINDS) or (
            "units" in f and kind in _UNIT_KINDS) or (kind == "time" and "times" in f)  # fmt: skip

    def sample(self, kind: str, rng: np.random.Generator):
        """A value of ``kind``: a fresh name, a value worth saying in words or other units, else a classic value."""
        if kind in _NAME_KINDS and "names" in self.features:
            return _FRESH[kind](rng)
        if kind == "time" and "times" in self.features:
            return sample_clock(rng)
        if kind in BROAD_VALUES and self.shows(kind):
            return int(_choice(rng, BROAD_VALUES[kind]))
        return KINDS[kind][0](rng)

    def say(self, kind: str, value, level: int, rng: np.random.Generator) -> tuple[str, str]:
        """Phrase a value with this task's features when one applies; returns ``(phrase, prefix)``."""
        if kind in _NAME_KINDS and "names" in self.features:
            self.used.add("names")
            return str(value), ""  # a fresh name is copied as written
        if kind == "time" and "times" in self.features:
            self.used.add("times")
            return say_clock(value, rng)
        options = [(p, tags) for p, tags in phrasings(kind, value, rng, self.countable) if tags <= self.features]
        if options:
            phrase, tags = _choice(rng, options)
            self.used |= tags
            return phrase, ""
        return classic_say(kind, value, level, rng)

    def goal(self, workflow: str, test: bool, rng: np.random.Generator) -> tuple[int, str]:
        """Pick a goal template of the split, then this task's features among those its slots can show."""
        index, goal = _choice(rng, goal_pool(workflow, test))
        slots = {f for slot in _SLOT.findall(goal) for f in _GOAL_SLOT_FEATURES.get(slot[1:-1], ())}
        self.features = pick_features([f for f in FEATURES if f in slots or f == "typos"], self.level, rng)
        if "typos" in self.features:
            goal = add_typos(goal, 1 + self.level, rng)
            self.used.add("typos")
        return index, goal

    def frame(self, test: bool, rng: np.random.Generator) -> tuple[str, str]:
        """How the prompt names the finished steps and asks for the next call, e.g. ``("Done", "Next call?")``."""
        return _choice(rng, FRAMES[test])

    def features_used(self) -> tuple[str, ...]:
        """The features this task showed, in :data:`FEATURES` order."""
        return tuple(f for f in FEATURES if f in self.used)


def broad_single_step(level: int, test: bool, rng: np.random.Generator) -> tuple[str, str, dict, tuple, str | None]:
    """Sample a single_step request with new features: ``(template_id, text, gold, features, excluded tool)``.

    ``excluded`` is the similar tool a near-miss sentence rules out (it must be offered), else None.

    Example:
        >>> template_id, text, gold, features, excluded = broad_single_step(1, True, np.random.default_rng(3))
        >>> int(template_id.split("/")[2]) in [i for i, _ in single_pool(gold["name"], test=True)]
        True
    """
    name = str(rng.choice(list(SPECS)))
    required, optional, _ = SPECS[name]
    kinds = [*required.values(), *(kind for kind, _ in optional.values())]
    can = (any(k in _WORD_KINDS for k in kinds), any(k in _UNIT_KINDS for k in kinds), "time" in kinds, True,
           any(k in _NAME_KINDS for k in kinds), bool(optional), True)  # fmt: skip
    voice = Voice(level, pick_features([f for f, ok in zip(FEATURES, can) if ok], level, rng))
    args = {arg: voice.sample(kind, rng) for arg, kind in required.items()}
    while name == "reroute_traffic" and args["to_site"] == args["from_site"]:
        args["to_site"] = voice.sample("site", rng)
    pool = single_pool(name, test)
    if name == "reroute_traffic" and "units" in voice.features:  # templates that name sessions, for "one in five"
        pool = [(i, t) for i, t in pool if i >= len(SPECS[name][2])]
    index, template = _choice(rng, pool)
    voice.countable = name == "reroute_traffic" and index >= len(SPECS[name][2])  # broad ones name sessions, users
    sentences, slots, prefix = [template], {}, ""
    n_defaulted = 1 + level // 2 if "defaults" in voice.features else 0  # two at most, when hard
    defaulted = [str(arg) for arg in rng.permutation(list(optional))[:n_defaulted]] if n_defaulted else []
    for arg, (kind, connect) in optional.items():
        slots[arg] = ""
        if arg in defaulted:
            voice.used.add("defaults")
            if rng.random() < 0.5:  # stated at its default: in the gold, with the default value
                args[arg] = inspect.signature(TOOL_FUNCTIONS[name]).parameters[arg].default
                slots[arg] = _choice(rng, split_pool(DEFAULT_SAID[arg], test))
            else:  # left to its default on purpose: absent from the gold
                sentences.append(_choice(rng, split_pool(DEFAULT_LEFT, test)).format(noun=ARG_NOUNS[arg]))
        elif voice.shows(kind) or rng.random() < (0.0, 0.4, 0.75)[level]:
            args[arg] = voice.sample(kind, rng)
            slots[arg] = connect.format(voice.say(kind, args[arg], level, rng)[0])
    for arg, kind in required.items():
        slots[arg], pre = voice.say(kind, args[arg], level, rng)
        prefix += pre
    excluded = None
    if "nearmiss" in voice.features:
        excluded, sentence = _choice(rng, split_pool(NEAR_MISS[name], test))
        sentences.insert(0 if rng.random() < 0.5 else len(sentences), sentence)
        voice.used.add("nearmiss")
    text = " ".join(sentences)
    if "typos" in voice.features:
        text = casualize(add_typos(text, 1 + level, rng), rng, urgent_ok=name not in _NO_RUSH)
        voice.used.add("typos")
    gold = {"name": name, "arguments": args}
    return f"single/{name}/{index}", prefix + text.format(**slots), gold, voice.features_used(), excluded


def offer_tool(names: list[str], tool: str, gold: str, rng: np.random.Generator) -> list[str]:
    """The offered tool names with ``tool`` among them: it replaces a distractor (one not similar to the gold if any).

    Example:
        >>> offer_tool(["open_ticket", "get_cell_kpi", "deploy_model"], "run_speed_test", "get_cell_kpi",
        ...            np.random.default_rng(0))
        ['open_ticket', 'get_cell_kpi', 'run_speed_test']
    """
    if tool in names:
        return names
    others = [j for j, n in enumerate(names) if n != gold]
    spare = [j for j in others if names[j] not in SIMILAR_TOOLS[gold]] or others
    names = list(names)
    names[spare[int(rng.integers(len(spare)))]] = tool
    return names
