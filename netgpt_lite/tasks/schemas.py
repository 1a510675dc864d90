"""Tool schemas from untrusted clients as JSON Schema validators that never fetch or read anything.

A tool's ``parameters`` come from whoever sent the request.  ``jsonschema`` left to its defaults
follows a ``$ref`` to any URL (``http://``, ``file://``): a server-side request forgery and a file
read chosen by the client.  Here every validator resolves references in a ``referencing`` registry
whose retrieval refuses every URI, so only references into the schema itself (``#/$defs/...``, an
anchor, an embedded ``$id``) resolve; the JSON Schema meta-schemas jsonschema bundles stay
available in memory.  Nothing is fetched, nothing is opened.

:func:`schema_problem` says, before any call is validated, why a schema cannot be used (not a JSON
object, not a valid Draft 2020-12 schema, a reference that does not resolve locally) -- the service
answers that request with HTTP 400; :func:`schema_validator` builds (and caches) the validator itself.

Example:
    >>> schema_problem({"type": "object", "properties": {"x": {"$ref": "#/$defs/n"}},
    ...                 "$defs": {"n": {"type": "integer"}}}) is None
    True
    >>> schema_problem({"$ref": "http://10.0.0.1/s.json"})
    "$ref 'http://10.0.0.1/s.json' does not resolve inside the schema: only local references ('#/...') are allowed"
    >>> from referencing.exceptions import Unresolvable
    >>> try:
    ...     list(schema_validator({"$ref": "file:///etc/passwd"}).iter_errors({}))
    ... except Unresolvable as err:
    ...     print("refused, not read:", err)
    refused, not read: Unresolvable: file:///etc/passwd
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

_REFERENCE_KEYS = ("$ref", "$dynamicRef")
_MAX_PROBLEM_CHARS = 200  # a client's 100 kB schema must not come back whole in an error message


def _refuse(uri: str):
    """The registry's retrieval: every URI outside the schema is refused (never fetched, never opened)."""
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)


@lru_cache(maxsize=1)
def _registry():
    import referencing

    return referencing.Registry(retrieve=_refuse)


PATTERN_TIMEOUT_S = 0.1
"""Longest a client's ``pattern`` may take to match one string: a pattern such as ``^(a|aa)+$`` backtracks
for hours on a 40-character string (a regular-expression denial of service); past this it is a failed call."""


def _bounded_pattern(validator, pattern: str, instance, schema):
    """JSON Schema's ``pattern`` keyword with a time limit (the ``regex`` package; ``re`` has none)."""
    import regex
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "string"):
        return
    try:
        matched = regex.search(pattern, instance, timeout=PATTERN_TIMEOUT_S)
    except TimeoutError:
        yield ValidationError(f"pattern {_short(pattern)!r} took over {PATTERN_TIMEOUT_S} s to match: refused")
        return
    except regex.error as err:  # a pattern re accepts but regex does not
        yield ValidationError(f"pattern {_short(pattern)!r} cannot be used: {err}")
        return
    if matched is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=1)
def _validator_class():
    """Draft 2020-12, its ``pattern`` keyword bounded in time (:func:`_bounded_pattern`)."""
    import jsonschema

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _bounded_pattern})


@lru_cache(maxsize=512)
def _cached_validator(schema_json: str):
    return _validator_class()(json.loads(schema_json), registry=_registry())


def schema_validator(schema: dict):
    """A Draft 2020-12 validator of ``schema`` that resolves only references inside it (cached by content).

    Validating with it raises ``jsonschema`` / ``referencing`` errors for a schema that cannot be used
    (a ``$ref`` to a URL is *unresolvable*, not fetched); call :func:`schema_problem` first to reject one.

    Example:
        >>> [e.message for e in schema_validator({"type": "integer"}).iter_errors("7")]
        ["'7' is not of type 'integer'"]
    """
    return _cached_validator(json.dumps(schema, sort_keys=True))


def _references(schema: Any):
    """Yield every string under a ``$ref`` / ``$dynamicRef`` key, walked iteratively (no recursion limit)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _REFERENCE_KEYS and isinstance(value, str):
                    yield value
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))


def _short(text: str) -> str:
    return text if len(text) <= _MAX_PROBLEM_CHARS else text[:_MAX_PROBLEM_CHARS] + "..."


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` (a tool's ``parameters``) cannot be used to validate calls, or None when it can.

    Checks, in order: a JSON object (or absent: None means no parameters); a valid Draft 2020-12
    schema (checked against the bundled meta-schema: unknown types, a ``required`` that is not a list,
    an invalid ``pattern``...); every ``$ref`` / ``$dynamicRef`` resolves inside the schema.  Never
    raises and never fetches.

    Example:
        >>> schema_problem({"type": "strnig"})
        "not a valid JSON Schema: 'strnig' is not valid under any of the given schemas (at type)"
        >>> schema_problem(["x"])
        'parameters must be a JSON object (a JSON Schema), not a list'
    """
    if schema is None:
        return None
    if not isinstance(schema, dict):
        return f"parameters must be a JSON object (a JSON Schema), not a {type(schema).__name__}"
    try:
        schema_json = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError, RecursionError) as err:
        return _short(f"the schema is not JSON: {type(err).__name__}: {err}")
    return _problem(schema_json)


@lru_cache(maxsize=512)
def _problem(schema_json: str) -> str | None:
    """:func:`schema_problem` of one serialised schema (cached: the checker asks once per call)."""
    schema = json.loads(schema_json)
    try:
        import jsonschema
        from referencing.exceptions import Unresolvable
        from referencing.jsonschema import DRAFT202012

        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as err:
            where = "/".join(str(p) for p in err.absolute_path) or "the top level"
            return _short(f"not a valid JSON Schema: {err.message} (at {where})")
        # the root's own $id is its base URI, as in the validator; every other URI goes to _refuse
        resolver = _registry().resolver_with_root(DRAFT202012.create_resource(schema))
        for ref in _references(schema):
            try:
                resolver.lookup(ref)
            except Unresolvable:
                if ref.startswith("#"):
                    return _short(f"$ref {ref!r} points to nothing in the schema")
                return _short(
                    f"$ref {ref!r} does not resolve inside the schema: only local references "
                    "('#/...') are allowed"
                )
    except RecursionError:
        return "the schema nests too deeply to check"
    except Exception as err:  # noqa: BLE001 - a client's schema must never crash the caller
        return _short(f"the schema cannot be used: {type(err).__name__}: {err}")
    return None
