"""BFCL cases and their judge: the Berkeley Function Calling Leaderboard's AST rules, re-written.

The book's generic checker (:mod:`netgpt_lite.tasks.checker`) compares a call to *one* gold call.  BFCL
instead lists, for every parameter, all acceptable values (``""`` among them means "may be
omitted") and judges with rules read from its public AST checker.  :func:`check_bfcl` applies
those rules and names errors with the same vocabulary (:data:`netgpt_lite.tasks.checker.ERROR_TYPES`):

1. parse (exactly one call) -> ``"unparseable"``; the name is an offered function spelled as the
   *name mode* says -> else ``"unknown_tool"``.  BFCL's two modes (its ``convert_func_name``):
   ``"verbatim"``, the doc's name exactly (``math.hypot``), for models that accept dots in names;
   ``"underscore_to_dot"``, every ``.`` of a dotted name replaced by ``_`` (``math_hypot``), for APIs
   whose tool names cannot hold a dot (OpenAI's, and the tools :func:`bfcl_case_to_tools` writes).
   One mode applies to a whole run: the other spelling is an unknown function, as in BFCL.
2. the called function's doc: every required parameter present (``"missing_required"``), no
   parameter outside the doc (``"unexpected_argument"``), exact Python types
   (``"wrong_type"``): an integer is accepted where a float is expected (not inside float
   arrays), ``5.0`` for an integer is a type error, ``null`` is a type error (not an omission),
   booleans are not integers; array items are type-checked one level deep.
3. the called function is the answer's function -> else ``"wrong_tool"``.
4. values -> ``"wrong_value"`` (``"invalid_enum"`` when the doc's enum excludes it): a
   parameter absent from the possible answer, an acceptable value not matched, or a parameter
   left out whose acceptable values lack ``""``.  Strings match after lower-casing and removing
   spaces and ``,./-_*^`` (``'`` becomes ``"``); lists compare element-wise after that; dicts
   key by key; numbers and booleans must equal one acceptable value exactly (``2 == 2.0``).

Not implemented: BFCL's "variable" rule (a value whose type matches the possible answer's but
not the doc's); none of the 400 shipped cases needs it.

Example:
    >>> case = {"id": "demo", "function": [{"name": "math.hypot", "parameters": {"type": "dict",
    ...     "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}, "required": ["x", "y"]}}],
    ...     "possible_answer": [{"math.hypot": {"x": [4], "y": [5]}}]}
    >>> check_bfcl(case, '{"name": "math_hypot", "arguments": {"x": 4, "y": 5}}', "underscore_to_dot").error_type
    'ok'
    >>> check_bfcl(case, '{"name": "math_hypot", "arguments": {"x": 4, "y": 5}}').error_type  # verbatim
    'unknown_tool'
    >>> check_bfcl(case, {"name": "math.hypot", "arguments": {"x": 4.0, "y": 5}}).error_type
    'wrong_type'
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

from netgpt_lite.tasks.checker import Verdict, parse_tool_call

BFCL_DIR_ENV = "NETGPT_LITE_BFCL_DIR"
NAME_MODES = ("verbatim", "underscore_to_dot")
"""BFCL's function-name modes: the doc's name as is, or with ``.`` -> ``_`` (see the module docstring)."""
PYTHON_TYPES = {"string": str, "integer": int, "float": float, "boolean": bool, "array": list}
PYTHON_TYPES |= {"tuple": list, "dict": dict, "any": str}
JSON_SCHEMA_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}
_PUNCTUATION_RE = re.compile(r"[ ,./\-_*^]")


def default_bfcl_dir() -> Path | None:
    """The BFCL data folder: ``$NETGPT_LITE_BFCL_DIR``, else ``shared/bfcl`` beside the repository."""
    candidates = [Path(os.environ[BFCL_DIR_ENV])] if os.environ.get(BFCL_DIR_ENV) else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "bfcl")
    return next((p for p in candidates if (p / "simple.jsonl").is_file()), None)


def load_bfcl_cases(path: str | Path) -> list[dict]:
    """Read BFCL cases from a ``.jsonl`` file, or every ``*.jsonl`` of a folder (sorted by name)."""
    path = Path(path)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no .jsonl BFCL files in {path}")
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]


def openai_name(name: str) -> str:
    """BFCL's function name as an OpenAI tool name (``.`` is not allowed there): ``a.b -> a_b``."""
    return name.replace(".", "_")


def expected_name(name: str, name_mode: str = "verbatim") -> str:
    """How a model must spell the doc's function ``name`` in ``name_mode`` (BFCL's ``convert_func_name``).

    Example:
        >>> expected_name("math.hypot"), expected_name("math.hypot", "underscore_to_dot")
        ('math.hypot', 'math_hypot')
    """
    if name_mode not in NAME_MODES:
        raise ValueError(f"name_mode must be one of {list(NAME_MODES)}; got {name_mode!r}")
    return openai_name(name) if name_mode == "underscore_to_dot" else name


def _to_json_schema(spec: dict) -> dict:
    out = {k: v for k, v in spec.items() if k not in ("optional", "properties", "items")}
    if "type" in out:
        out["type"] = JSON_SCHEMA_TYPES.get(out["type"], out["type"])
    if "properties" in spec:
        out["properties"] = {k: _to_json_schema(v) for k, v in spec["properties"].items()}
    if "items" in spec:
        out["items"] = _to_json_schema(spec["items"])
    return out


def bfcl_case_to_tools(case: dict) -> list[dict]:
    """The case's function docs as OpenAI ``tools`` (BFCL's own type and name mapping)."""
    return [
        {
            "type": "function",
            "function": {
                "name": openai_name(doc["name"]),
                "description": doc.get("description", ""),
                "parameters": _to_json_schema(doc["parameters"]),
            },
        }
        for doc in case["function"]
    ]


def _answer(case: dict) -> tuple[str, dict]:
    ((name, params),) = case["possible_answer"][0].items()
    return name, params


def _first_value(acceptable: list, required: bool = True) -> Any:
    """First acceptable value (dict answers recurse); ``None`` means "leave it out"."""
    if acceptable and acceptable[0] == "" and not required:
        return None
    value = next((v for v in acceptable if v != ""), None)
    if isinstance(value, dict):
        return {k: v for k, vs in value.items() if (v := _first_value(vs, required=False)) is not None}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_first_value([v]) for v in value]
    return value


def bfcl_gold_call(case: dict, openai_names: bool = False) -> dict:
    """The call built from the first acceptable value of each parameter.

    A parameter whose first acceptable value is ``""`` is left out, unless the doc requires it
    (then its first non-empty value is used).
    """
    name, params = _answer(case)
    doc = _docs(case)[name]
    required = set(doc["parameters"].get("required", []))
    arguments = {p: v for p, vs in params.items() if (v := _first_value(vs, p in required)) is not None}
    return {"name": openai_name(name) if openai_names else name, "arguments": arguments}


def _docs(case: dict) -> dict[str, dict]:
    return {doc["name"]: doc for doc in case["function"]}


def _standardize(text: str) -> str:
    return _PUNCTUATION_RE.sub("", text).lower().replace("'", '"')


def _std(value: Any) -> Any:
    return _standardize(value) if type(value) is str else value


def _type_error(value: Any, spec: dict) -> str | None:
    """Why ``value`` breaks the doc's type (BFCL's exact-type rule), or None."""
    bfcl_type = spec.get("type")
    expected = PYTHON_TYPES.get(bfcl_type)
    if expected is None:
        return None
    if bfcl_type == "float" and type(value) is int:
        value = float(value)
    if type(value) is not expected:
        return f"expected {bfcl_type}, got {type(value).__name__} ({value!r})"
    item_type = PYTHON_TYPES.get(spec.get("items", {}).get("type")) if expected is list else None
    bad = [v for v in value if type(v) is not item_type] if item_type else []
    return f"expected {bfcl_type} of {spec['items']['type']}, got item {bad[0]!r}" if bad else None


def _dict_ok(value: dict, acceptable: list) -> bool:
    for answer in acceptable:
        if answer == "":
            continue
        if all(k in answer and _std(v) in [_std(a) for a in answer[k]] for k, v in value.items()) and all(
            k in value or "" in vs for k, vs in answer.items()
        ):
            return True
    return False


def value_accepted(value: Any, acceptable: list, spec: dict) -> bool:
    """Whether a type-correct ``value`` matches one of BFCL's acceptable values for the parameter."""
    bfcl_type = spec.get("type")
    if bfcl_type == "float" and type(value) is int:
        value = float(value)
    if bfcl_type == "dict":
        return _dict_ok(value, acceptable)
    if bfcl_type in ("array", "tuple") and spec.get("items", {}).get("type") == "dict":
        return any(
            isinstance(row, (list, str))
            and len(row) == len(value)
            and all(_dict_ok(v, [a]) for v, a in zip(value, row))
            for row in acceptable
        )
    if bfcl_type in ("string", "any"):
        return _std(value) in [_std(a) for a in acceptable if type(a) is str]
    if bfcl_type in ("array", "tuple"):
        rows = [[_std(a) for a in row] for row in acceptable if isinstance(row, (list, str))]  # "" is []
        return [_std(v) for v in value] in rows
    return value in acceptable


def _outside_enum(value: Any, spec: dict) -> bool:
    """Whether the doc lists an enum (of the value, or of its items) that the value breaks."""
    if "enum" in spec:
        return value not in spec["enum"]
    items_enum = spec.get("items", {}).get("enum")
    return items_enum is not None and isinstance(value, list) and any(v not in items_enum for v in value)


def _value_problems(arguments: dict, params: dict, properties: dict) -> tuple[list[tuple[str, str]], float]:
    problems, matched = [], 0
    for key, value in arguments.items():
        spec = properties[key]
        if key not in params:
            problems.append(("wrong_value", f"argument {key!r} is not in the possible answer"))
        elif value_accepted(value, params[key], spec):
            matched += 1
        else:
            kind = "invalid_enum" if _outside_enum(value, spec) else "wrong_value"
            problems.append((kind, f"argument {key!r}={value!r} is not one of {params[key]}"))
    for key, acceptable in params.items():
        if key in arguments:
            continue
        if "" in acceptable:
            matched += 1
        else:
            problems.append(("wrong_value", f"argument {key!r} is missing (acceptable: {acceptable})"))
    return problems, (matched / len(params) if params else 1.0)


def check_bfcl(case: dict, call_or_completion: dict | str | None, name_mode: str = "verbatim") -> Verdict:
    """Judge a tool_call or a raw completion against a BFCL case by BFCL's AST rules.

    Args:
        case: One BFCL case (``function`` docs and ``possible_answer``).
        call_or_completion: A parsed ``{"name", "arguments"}`` call, raw completion text, or None.
        name_mode: ``"verbatim"`` (the doc's names) or ``"underscore_to_dot"`` (``.`` written ``_``, the
            spelling of :func:`bfcl_case_to_tools`); see :data:`NAME_MODES`.

    Returns:
        A :class:`~netgpt_lite.tasks.checker.Verdict` using the checker's error types.
    """
    if name_mode not in NAME_MODES:
        raise ValueError(f"name_mode must be one of {list(NAME_MODES)}; got {name_mode!r}")
    call = parse_tool_call(call_or_completion) if isinstance(call_or_completion, str) else call_or_completion
    if not (
        isinstance(call, dict)
        and isinstance(call.get("name"), str)
        and isinstance(call.get("arguments"), dict)
    ):
        return Verdict("unparseable", "no single tool call could be parsed", False, None)
    docs = _docs(case)
    by_name = {expected_name(n, name_mode): d for n, d in docs.items()}
    if call["name"] not in by_name:
        return Verdict("unknown_tool", f"{call['name']!r} is not one of {sorted(by_name)} ({name_mode} names)",
                       False, call)
    doc, arguments = by_name[call["name"]], call["arguments"]
    properties = doc["parameters"].get("properties", {})
    missing = [p for p in doc["parameters"].get("required", []) if p not in arguments]
    if missing:
        return Verdict("missing_required", f"required argument {missing[0]!r} is missing", False, call)
    unknown = [k for k in arguments if k not in properties]
    if unknown:
        return Verdict("unexpected_argument", f"argument {unknown[0]!r} is not in the doc", False, call)
    for key, value in arguments.items():
        if (why := _type_error(value, properties[key])) is not None:
            return Verdict("wrong_type", f"argument {key!r}: {why}", False, call)
    gold_name, params = _answer(case)
    if doc["name"] != gold_name:
        return Verdict("wrong_tool", f"called {doc['name']!r}, the answer is {gold_name!r}", True, call)
    problems, fraction = _value_problems(arguments, params, properties)
    if problems:
        return Verdict(problems[0][0], "; ".join(p[1] for p in problems), True, call, fraction)
    return Verdict("ok", "the call matches the possible answer", True, call, 1.0)


# ---------------------------------------------------------------- variants of the gold call (for tests and agreement)
ACCEPT_VARIANTS = ("gold", "alt_value", "int_for_float", "string_variant")
REJECT_VARIANTS = (
    "other_spelling",
    "unknown_name",
    "other_tool",
    "drop_required",
    "add_unknown",
    "wrong_type",
    "float_for_int",
)
REJECT_VARIANTS += ("null", "wrong_value")
_SCALAR_TYPES = ("string", "integer", "float", "boolean")


def _first_arg(
    call: dict, properties: dict, types: tuple[str, ...], need=lambda key, value: True
) -> str | None:
    return next(
        (k for k, v in call["arguments"].items() if properties[k]["type"] in types and need(k, v)), None
    )


def _perturbed(value: Any, spec: dict) -> Any:
    """A nearby value of the same type (None when there is no obvious one)."""
    if "enum" in spec:
        return next((e for e in spec["enum"] if _std(e) != _std(value)), None)
    perturb = {"string": lambda v: v + " zzz", "integer": lambda v: v + 7, "float": lambda v: v + 1.5}
    perturb["boolean"] = lambda v: not v
    perturb["array"] = lambda v: [*v, "zzz"] if spec.get("items", {}).get("type") == "string" else None
    return perturb[spec["type"]](value) if spec["type"] in perturb else None


def bfcl_variants(case: dict, name_mode: str = "verbatim") -> list[tuple[str, dict, tuple[str, ...]]]:
    """Calls derived from the gold call: ``(kind, call, allowed error types)`` for every applicable kind.

    Kinds in :data:`ACCEPT_VARIANTS` must be judged ``"ok"`` by ``check_bfcl(case, call, name_mode)``;
    kinds in :data:`REJECT_VARIANTS` are corruptions (the other name mode's spelling of a dotted name,
    a wrong name, a dropped required or an added unknown argument, a wrong type, ``5.0`` for an
    integer, ``null``, a wrong value) with the error type(s) they must get.  Names are spelled as
    ``name_mode`` says.
    """
    gold = bfcl_gold_call(case, openai_names=expected_name("a.b", name_mode) == "a_b")
    gold_name, params = _answer(case)
    docs = _docs(case)
    properties = docs[gold_name]["parameters"].get("properties", {})
    required = docs[gold_name]["parameters"].get("required", [])
    variants: list[tuple[str, dict, tuple[str, ...]]] = [("gold", gold, ("ok",))]

    def with_args(kind: str, allowed: tuple[str, ...], **changes: Any) -> None:
        call = copy.deepcopy(gold)
        call["arguments"].update(changes)
        call["arguments"] = {k: v for k, v in call["arguments"].items() if v is not _OMIT}
        variants.append((kind, call, allowed))

    if "." in gold_name:
        other = "verbatim" if name_mode == "underscore_to_dot" else "underscore_to_dot"
        variants.append(("other_spelling", {**gold, "name": expected_name(gold_name, other)}, ("unknown_tool",)))
    alt = next(((k, vs[1]) for k, vs in params.items() if len(vs) > 1 and vs[0] != "" and vs[1] != ""), None)
    omittable = (k for k, vs in params.items() if "" in vs and k in gold["arguments"] and k not in required)
    alt = alt or next(((k, _OMIT) for k in omittable), None)
    if alt:
        with_args("alt_value", ("ok",), **{alt[0]: alt[1]})
    if key := _first_arg(gold, properties, ("float",), lambda k, v: float(v).is_integer()):
        with_args("int_for_float", ("ok",), **{key: int(gold["arguments"][key])})
    if key := _first_arg(
        gold, properties, ("string",), lambda k, v: "enum" not in properties[k] and v.strip()
    ):
        with_args("string_variant", ("ok",), **{key: f"  {gold['arguments'][key].upper()} "})
    variants.append(("unknown_name", {**gold, "name": gold["name"] + "_v2"}, ("unknown_tool",)))
    schema_errors = ("missing_required", "unexpected_argument", "wrong_type")
    for other in (n for n in docs if n != gold_name):
        variants.append(("other_tool", {**gold, "name": expected_name(other, name_mode)},
                         ("wrong_tool", *schema_errors)))
        break
    if key := next((k for k in required if k in gold["arguments"]), None):
        with_args("drop_required", ("missing_required",), **{key: _OMIT})
    with_args("add_unknown", ("unexpected_argument",), unexpected_kwarg=1)
    if key := next(iter(gold["arguments"]), None):
        wrong = {"string": 12345, "any": 12345, "boolean": "true"}.get(properties[key]["type"], "12345")
        with_args("wrong_type", ("wrong_type",), **{key: wrong})
        with_args("null", ("wrong_type",), **{key: None})
    if key := _first_arg(gold, properties, ("integer",)):
        with_args("float_for_int", ("wrong_type",), **{key: float(gold["arguments"][key])})

    def has_wrong_value(k: str, v: Any) -> bool:
        w = _perturbed(v, properties[k])
        return w is not None and not value_accepted(w, params[k], properties[k])

    if key := _first_arg(gold, properties, (*_SCALAR_TYPES, "array"), has_wrong_value):
        wrong = _perturbed(gold["arguments"][key], properties[key])
        allowed = ("invalid_enum",) if _outside_enum(wrong, properties[key]) else ("wrong_value",)
        with_args("wrong_value", allowed, **{key: wrong})
    return variants


_OMIT = object()  # marks an argument that a variant leaves out
