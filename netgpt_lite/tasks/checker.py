"""The tool-call checker: parse a completion, validate it against JSON schemas, compare it to gold.

A model's answer to a tool-calling task is a *completion* (raw text).  The checker turns it into
a :class:`Verdict` with one named error type, in the spirit of the Berkeley Function Calling
Leaderboard's AST checker (BFCL's own rules live in :mod:`netgpt_lite.tasks.bfcl`).  Checks run in
this order and the first failing stage names the verdict:

1. **parse** -> ``"unparseable"``: :func:`parse_tool_call` finds no ``{"name", "arguments"}``.
2. **tool exists** -> ``"unknown_tool"``: the name is not among the offered tools.
3. **schema** (JSON Schema Draft 2020-12 via ``jsonschema``; every sub-error is named, the most
   basic one is reported): ``"missing_required"``, ``"unexpected_argument"`` (a key outside the
   tool's ``properties``: a function takes no unknown keyword), ``"wrong_type"``,
   ``"invalid_enum"``, ``"out_of_range"`` (minimum/maximum/length/items bounds), and
   ``"schema_invalid"`` for any other keyword (pattern, format, ...).
4. **name match** -> ``"wrong_tool"``: a valid call of another offered tool.
5. **arguments** -> ``"wrong_value"``: a gold argument is missing or differs, or the call adds an
   optional argument the gold call does not have.  Either side may leave out an optional argument
   whose value is the schema ``default``: writing the default explicitly is the same call.

Value rules (:func:`values_equal`): numbers compare by value (``500 == 500.0``, relative
tolerance 1e-9; JSON Schema 2020-12 also counts ``5.0`` as an integer, unlike BFCL) but booleans
are never numbers; strings compare after case folding and collapsing runs of whitespace
(``"New  York" == "new york"``) -- enum strings are still checked exactly by the schema stage;
lists compare element-wise in order; objects key by key.

Example:
    >>> tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    ...     "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    >>> gold = {"name": "get_weather", "arguments": {"city": "Paris"}}
    >>> v = check_completion('<tool_call>{"name": "get_weather", "arguments": {"city": "paris"}}</tool_call>',
    ...                      tools, gold)
    >>> v.error_type, v.correct, reward(v)
    ('ok', True, 1.0)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from netgpt_lite.tasks.schemas import schema_problem, schema_validator

_PARSE_AND_NAME = "ok unparseable unknown_tool"
_SCHEMA = "missing_required unexpected_argument wrong_type invalid_enum out_of_range schema_invalid"
ERROR_TYPES = tuple(f"{_PARSE_AND_NAME} {_SCHEMA} wrong_tool wrong_value".split())
"""Every verdict's ``error_type``, in the order the checks run (schema sub-errors by priority)."""

SCHEMA_ERRORS = ERROR_TYPES[3:9]
"""Error types that mean the call names an offered tool but breaks its JSON schema."""

INVALID_REWARD = -0.5
"""Reward for an unparseable, unknown-tool or schema-invalid completion (below a wrong tool's 0)."""

_RANGE_KEYWORDS = (
    "minimum maximum exclusiveMinimum exclusiveMaximum minLength maxLength minItems maxItems multipleOf"
)
# jsonschema keyword -> our error type; any other keyword is "schema_invalid"
_KEYWORD_ERRORS = {
    "required": "missing_required",
    "additionalProperties": "unexpected_argument",
    "unevaluatedProperties": "unexpected_argument",
    "type": "wrong_type",
    "enum": "invalid_enum",
    "const": "invalid_enum",
    **dict.fromkeys(_RANGE_KEYWORDS.split(), "out_of_range"),
}
_TAG_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_FENCE_RE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_MAX_BRACE_STARTS = 16  # how many '{' positions the last-resort scan tries (bounds the cost)


@dataclass(frozen=True)
class Verdict:
    """The checker's judgement of one completion.

    Attributes:
        error_type: One of :data:`ERROR_TYPES` (``"ok"`` when the call equals the gold call).
        detail: A human-readable reason, naming the argument and values involved.
        schema_valid: The completion parsed, names an offered tool, and its arguments validate
            against that tool's JSON schema.
        parsed: The parsed tool_call ``{"name", "arguments"}`` or None.
        arguments_matched: Fraction in [0, 1] of the gold arguments the call got right (scored
            only when the call names the gold tool and is schema-valid; else 0).
    """

    error_type: str
    detail: str
    schema_valid: bool
    parsed: dict | None
    arguments_matched: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.error_type not in ERROR_TYPES:
            raise ValueError(f"error_type must be one of {ERROR_TYPES}, got {self.error_type!r}")
        if not 0.0 <= self.arguments_matched <= 1.0:
            raise ValueError(f"arguments_matched must be in [0, 1], got {self.arguments_matched}")

    @property
    def correct(self) -> bool:
        """True when the call equals the gold call (``error_type == "ok"``)."""
        return self.error_type == "ok"

    @property
    def partial_credit(self) -> float:
        """1 for ok; 0.2 + 0.5 * arguments_matched (in [0.2, 0.7]) for the right tool with wrong
        values; 0 for a wrong tool or anything invalid."""
        if self.correct:
            return 1.0
        if self.error_type == "wrong_value":
            return 0.2 + 0.5 * self.arguments_matched
        return 0.0


def _strict_constant(name: str) -> float:
    raise ValueError(f"non-finite JSON constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} overflows a float")
    return value


def _loads(text: str) -> Any:
    """``json.loads`` that rejects NaN/Infinity and overflowing floats (the only decoder used)."""
    return json.loads(text, parse_constant=_strict_constant, parse_float=_finite_float)


def _as_call(obj: Any) -> dict | None:
    """Normalise one decoded JSON value to ``{"name": str, "arguments": dict}`` or None."""
    if isinstance(obj, list):
        return _as_call(obj[0]) if len(obj) == 1 else None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("tool_calls"), list):  # a whole chat message
        return _as_call(obj["tool_calls"])
    if isinstance(obj.get("function"), dict):  # OpenAI {"type": "function", "function": {...}}
        return _as_call(obj["function"])
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI sends arguments as a JSON string
        try:
            arguments = _loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            return None
    if not isinstance(arguments, dict):
        return None
    return {"name": name.strip(), "arguments": arguments}


def _explicit_candidates(text: str):
    """Yield the substrings that claim to be a call, most explicit format first."""
    yield from (m.group(1) for m in _TAG_RE.finditer(text))
    yield from (m.group(1) for m in _FENCE_RE.finditer(text))
    yield text


def _embedded_objects(text: str):
    """Yield JSON values starting at the first few '{' of prose (the last resort)."""
    decoder = json.JSONDecoder(parse_constant=_strict_constant, parse_float=_finite_float)
    start = text.find("{")
    for _ in range(_MAX_BRACE_STARTS):
        if start < 0:
            return
        try:
            value = decoder.raw_decode(text, start)[0]
        except (ValueError, RecursionError):
            value = None  # not JSON from here (a decoded '{' is never null)
        if value is not None:
            yield value
        start = text.find("{", start + 1)


def _parse(text: str) -> dict | None:
    decoded_json = False
    for candidate in _explicit_candidates(text):
        try:
            value = _loads(candidate.strip())
        except (ValueError, RecursionError):
            continue
        decoded_json = True
        if (call := _as_call(value)) is not None:
            return call
    if decoded_json:  # valid JSON that is not one call (e.g. two calls): do not dig inside it
        return None
    return next((c for c in map(_as_call, _embedded_objects(text)) if c is not None), None)


def parse_tool_call(text: Any) -> dict | None:
    """Parse a completion into a tool_call ``{"name": str, "arguments": dict}``; never raises.

    Accepts plain JSON, fenced Markdown ``json`` code blocks, Hermes ``<tool_call>...</tool_call>``
    tags, ``"parameters"`` instead of ``"arguments"``, OpenAI ``{"function": {...}}`` and
    arguments given as a JSON string, and finally the first JSON object inside prose.  Only
    ``json`` decodes (no ``eval``); NaN, Infinity and overflowing numbers are rejected, and so
    is a JSON list of several calls (exactly one call is expected).

    Example:
        >>> parse_tool_call('Sure! ```json\\n{"name": "f", "parameters": {"x": 1}}\\n```')
        {'name': 'f', 'arguments': {'x': 1}}
        >>> parse_tool_call('{"function": {"name": "f", "arguments": "{\\\\"x\\\\": 2}"}}')
        {'name': 'f', 'arguments': {'x': 2}}
        >>> parse_tool_call("I cannot help with that.") is None
        True
    """
    if not isinstance(text, str):
        return None
    try:
        return _parse(text)
    except Exception:  # noqa: BLE001 - a parser for model output must never crash its caller
        return None


def values_equal(value: Any, gold: Any) -> bool:
    """Compare an argument value to a gold value with the checker's normalisation rules.

    Example:
        >>> values_equal(500, 500.0), values_equal(" New  York", "new york"), values_equal(True, 1)
        (True, True, False)
    """
    if isinstance(value, bool) or isinstance(gold, bool):
        return type(value) is type(gold) and value == gold
    if isinstance(value, (int, float)) and isinstance(gold, (int, float)):
        if isinstance(value, int) and isinstance(gold, int):
            return value == gold
        try:
            return math.isclose(value, gold, rel_tol=1e-9, abs_tol=1e-12)
        except OverflowError:
            return False
    if isinstance(value, str) and isinstance(gold, str):
        return " ".join(value.split()).casefold() == " ".join(gold.split()).casefold()
    if isinstance(value, list) and isinstance(gold, list):
        return len(value) == len(gold) and all(values_equal(v, g) for v, g in zip(value, gold))
    if isinstance(value, dict) and isinstance(gold, dict):
        return value.keys() == gold.keys() and all(values_equal(value[k], gold[k]) for k in gold)
    return value is None and gold is None


def _tool_functions(tools: Sequence[dict]) -> dict[str, dict]:
    """Name -> function doc, accepting OpenAI ``{"type", "function"}`` entries or bare docs."""
    return {t.get("function", t)["name"]: t.get("function", t) for t in tools}


def schema_errors(arguments: dict, parameters: dict) -> list[tuple[str, str]]:
    """All ``(error_type, detail)`` schema violations of ``arguments``, most basic first.

    Example:
        >>> schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}},
        ...           "required": ["n"]}
        >>> schema_errors({"n": 0, "m": 1}, schema)[0]
        ('unexpected_argument', "argument 'm' is not a parameter of the tool")
    """
    parameters = parameters or {"type": "object", "properties": {}}
    if problem := schema_problem(parameters):  # a client's schema: never fetched, never a crash
        return [("schema_invalid", f"the tool's schema cannot be used: {problem}")]
    known = parameters.get("properties", {})
    errors = [
        ("unexpected_argument", f"argument {k!r} is not a parameter of the tool")
        for k in arguments
        if k not in known
    ]
    try:
        for e in schema_validator(parameters).iter_errors(arguments):
            where = "/".join(str(p) for p in e.absolute_path) or "arguments"
            errors.append((_KEYWORD_ERRORS.get(e.validator, "schema_invalid"), f"{where}: {e.message}"))
    except RecursionError:
        errors.append(("schema_invalid", "arguments nest too deeply to validate"))
    except Exception as err:  # noqa: BLE001 - what the pre-check missed is still this call's failure
        errors.append(
            ("schema_invalid", f"the tool's schema cannot be used: {type(err).__name__}: {err}"[:300])
        )
    errors.sort(key=lambda err: ERROR_TYPES.index(err[0]))  # stable: keeps argument order
    return errors


def _compare_arguments(arguments: dict, gold_arguments: dict, properties: dict) -> tuple[list[str], float]:
    """Mismatch details and the fraction of gold arguments matched (defaults may be omitted)."""
    problems, matched = [], 0
    for key, gold_value in gold_arguments.items():
        spec = properties.get(key, {})
        if key in arguments and values_equal(arguments[key], gold_value):
            matched += 1
        elif key not in arguments and "default" in spec and values_equal(spec["default"], gold_value):
            matched += 1  # the gold call spells out the default; leaving it out is the same call
        elif key not in arguments:
            problems.append(f"argument {key!r} is missing (gold: {gold_value!r})")
        else:
            problems.append(f"argument {key!r} is {arguments[key]!r}, gold is {gold_value!r}")
    for key in arguments.keys() - gold_arguments.keys():
        spec = properties.get(key, {})
        if not ("default" in spec and values_equal(arguments[key], spec["default"])):
            problems.append(f"argument {key!r}={arguments[key]!r} is not in the gold call")
    return problems, (matched / len(gold_arguments) if gold_arguments else 1.0)


def check_call(call: dict | None, tools: Sequence[dict], gold: dict) -> Verdict:
    """Judge an already-parsed tool_call (or None) against the offered tools and the gold call.

    Args:
        call: ``{"name": str, "arguments": dict}`` or None (a completion that did not parse).
        tools: The offered tools, OpenAI format ``[{"type": "function", "function": {...}}]``.
        gold: The gold tool_call ``{"name": str, "arguments": dict}``.

    Example:
        >>> tools = [{"type": "function", "function": {"name": "f", "parameters": {
        ...     "type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}}]
        >>> check_call({"name": "f", "arguments": {"x": 2}}, tools, {"name": "f", "arguments": {"x": 2.0}}).correct
        True
    """
    if not (
        isinstance(call, dict)
        and isinstance(call.get("name"), str)
        and isinstance(call.get("arguments"), dict)
    ):
        return Verdict("unparseable", "no tool call could be parsed", False, None)
    functions = _tool_functions(tools)
    if call["name"] not in functions:
        return Verdict("unknown_tool", f"{call['name']!r} is not one of {sorted(functions)}", False, call)
    parameters = functions[call["name"]].get("parameters") or {}
    errors = schema_errors(call["arguments"], parameters)
    if errors:
        return Verdict(errors[0][0], errors[0][1], False, call)
    if call["name"] != gold["name"]:
        return Verdict("wrong_tool", f"called {call['name']!r}, gold is {gold['name']!r}", True, call)
    problems, fraction = _compare_arguments(
        call["arguments"], gold["arguments"], parameters.get("properties", {})
    )
    if problems:
        return Verdict("wrong_value", "; ".join(problems), True, call, fraction)
    return Verdict("ok", "the call equals the gold call", True, call, 1.0)


def check_completion(completion: str, tools: Sequence[dict], gold: dict) -> Verdict:
    """Parse a raw completion and judge it: ``check_call(parse_tool_call(completion), tools, gold)``."""
    return check_call(parse_tool_call(completion), tools, gold)


def check_many(
    completions: Sequence[str], tools_list: Sequence[Sequence[dict]], golds: Sequence[dict]
) -> list[Verdict]:
    """Judge a batch: one completion, one tools list and one gold call per task."""
    if not len(completions) == len(tools_list) == len(golds):
        raise ValueError(
            f"completions, tools_list and golds must have the same length, got "
            f"{len(completions)}, {len(tools_list)}, {len(golds)}"
        )
    return [check_completion(c, t, g) for c, t, g in zip(completions, tools_list, golds)]


def reward(verdict: Verdict) -> float:
    """RL reward of a verdict: 1 exact, partial credit (0.2-0.7) for the right tool with wrong
    values, 0 for a wrong tool, :data:`INVALID_REWARD` (-0.5) for unparseable or schema-invalid.

    Example:
        >>> reward(Verdict("ok", "", True, {})), reward(Verdict("wrong_tool", "", True, {}))
        (1.0, 0.0)
        >>> reward(Verdict("wrong_value", "", True, {}, arguments_matched=0.5))
        0.45
        >>> reward(Verdict("unparseable", "", False, None))
        -0.5
    """
    if not verdict.schema_valid:
        return INVALID_REWARD
    return round(verdict.partial_credit, 12)


def tool_call_reward(
    completions: Sequence[Any], tools: Sequence[Any], gold: Sequence[Any], **kwargs: Any
) -> list[float]:
    """A TRL-style reward function: ``GRPOTrainer(reward_funcs=tool_call_reward, ...)``.

    TRL passes the dataset columns as keyword lists; ``tools`` and ``gold`` may be JSON strings
    (as :func:`netgpt_lite.tasks.generate.tasks_to_dataset` stores them) or Python objects, and a
    conversational completion (a list of messages) is judged by its last message's content.

    Example:
        >>> tools = json.dumps([{"type": "function", "function": {"name": "f", "parameters": {
        ...     "type": "object", "properties": {"x": {"type": "integer"}}}}}])
        >>> gold = json.dumps({"name": "f", "arguments": {"x": 1}})
        >>> tool_call_reward(['{"name": "f", "arguments": {"x": 1}}', '{"name": "f", "arguments": {"x": 2}}',
        ...                   'oops'], tools=[tools] * 3, gold=[gold] * 3)
        [1.0, 0.2, -0.5]
    """
    texts = [c[-1].get("content", "") if isinstance(c, list) and c else c for c in completions]
    tools = [json.loads(t) if isinstance(t, str) else t for t in tools]
    gold = [json.loads(g) if isinstance(g, str) else g for g in gold]
    return [reward(v) for v in check_many(texts, tools, gold)]
