"""The pieces every subcommand shares: the parser, :class:`UsageError`, and argument types.

Each argument type checks one value and, when it is wrong, says which values are allowed
(``int_range(1, 100)`` -> "must be an integer in [1, 100]"); every count has an upper bound
(:mod:`netgpt_lite.cli.bounds`).  :func:`flag_errors` turns a ``ValueError`` raised by a config
dataclass built from the flags into a :class:`UsageError` naming the flag.  :class:`Parser` records
which flags were given, so that :func:`refuse_inapplicable` can refuse one that would be ignored
(``train-edge --base tiny --rank 4``) and :func:`reading` turns a file that does not read into a
:class:`UsageError` naming its flag.

Example:
    >>> int_range(1)("3")
    3
    >>> int_range(1)("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be an integer >= 1; got 0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence

# the argument types for paths live in cli.files; every subcommand imports them from here
from netgpt_lite.cli.files import MODEL_NAMES as MODEL_NAMES
from netgpt_lite.cli.files import TRACE_HELP as TRACE_HELP
from netgpt_lite.cli.files import existing_dir as existing_dir
from netgpt_lite.cli.files import existing_file as existing_file
from netgpt_lite.cli.files import model_source as model_source
from netgpt_lite.cli.files import output_dir, output_file, read_problem
from netgpt_lite.cli.files import trace_source as trace_source
from netgpt_lite.runtime import FAST_ENV_VAR, fast_mode

PROG = "netgpt-lite"
DEBUG_ENV_VAR = "NETGPT_LITE_DEBUG"
EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 1, 130, 141
GIVEN, OUTPUTS = "_given", "_outputs"  # attributes Parser adds to the parsed arguments


# UsageError lives here, not in runtime.py: the library raises plain ValueError naming its own field
# (it knows nothing of flags), and only the command line knows which flag a value came from, so only
# the command line raises UsageError.  Should a library module ever need to raise it, move it to
# runtime.py (the bottom layer, importable from everywhere) and import it here.
class UsageError(ValueError):
    """Invalid command-line input: reported as ``netgpt-lite <cmd>: error: ...`` with exit status 2.

    Any other exception (a ``ValueError`` from inside the library included) is an internal error.

    Args:
        message: what is wrong, naming the flag and the allowed values, with a hint how to fix it.
        prog: the (sub)command the message is about, e.g. ``"netgpt-lite frontier"``; default: the
            command being run.
    """

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` instead of exiting, so that
    :func:`main` reports every kind of bad input the same way (and tests can call :func:`main`)."""

    def error(self, message: str):  # type: ignore[override]
        if not message.startswith("argument "):  # "the following arguments are required", ...
            message += f" (see '{self.prog} --help')"
        raise UsageError(message, prog=self.prog)

    def parse_known_args(self, args=None, namespace=None):
        """Parse as argparse does, and add ``_given`` (the dests of the flags on the command line, in
        their order) and ``_outputs`` (output flag -> path) to the namespace."""
        self._given: dict[str, None] = {}
        namespace, extra = super().parse_known_args(args, namespace)
        setattr(namespace, GIVEN, tuple(dict.fromkeys([*getattr(namespace, GIVEN, ()), *self._given])))
        outputs = {a.option_strings[0]: getattr(namespace, a.dest) for a in self._actions
                   if a.type in (output_dir, output_file) and getattr(namespace, a.dest, None) is not None}
        setattr(namespace, OUTPUTS, {**getattr(namespace, OUTPUTS, {}), **outputs})
        return namespace, extra

    # argparse calls _get_values once for each argument it consumes (a private hook, the same in Python
    # 3.10-3.13; tests/test_cli_misuse.py fails should it stop being called)
    def _get_values(self, action, arg_strings):
        if action.option_strings:
            self._given[action.dest] = None
        return super()._get_values(action, arg_strings)


def given(args: argparse.Namespace, flag: str) -> bool:
    """Whether ``flag`` (e.g. ``"--rank"``; its ``--no-`` form counts) was on the command line."""
    return flag.lstrip("-").replace("-", "_") in getattr(args, GIVEN, ())


Applies = tuple[Callable[[argparse.Namespace], bool], str]


def refuse_inapplicable(args: argparse.Namespace, rules: dict[str, Applies]) -> None:
    """Refuse a flag given on the command line that the other flags make meaningless (it would be ignored).

    Args:
        args: the parsed arguments (from :class:`Parser`, which records the flags given).
        rules: flag -> ``(applies, what)``: ``applies(args)`` says whether the flag is used with these
            arguments, and ``what`` says what it needs (the rest of the message), e.g.
            ``{"--rank": (lambda a: a.base == "smollm2", "needs --base smollm2 (the LoRA rank)")}``.

    Raises:
        UsageError: ``argument --rank: needs --base smollm2 (...)`` for the first such flag in ``rules``.
    """
    for flag, (applies, what) in rules.items():
        if given(args, flag) and not applies(args):
            raise UsageError(f"argument {flag}: {what}")


@contextlib.contextmanager
def reading(flag: str, path, parse_errors: bool = True) -> Iterator[None]:
    """Turn a file of ``flag`` that does not read (an ``OSError``, not UTF-8) or, with ``parse_errors``,
    does not parse (a ``ValueError``) into a :class:`UsageError` naming the flag."""
    try:
        yield
    except UsageError:
        raise
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"argument {flag}: {read_problem(path, err)}") from None
    except ValueError as err:
        if not parse_errors:
            raise
        raise UsageError(f"argument {flag}: {err}") from None


def request_suites(flag: str, paths) -> dict:
    """Suite name -> tasks of each request file given to ``flag`` (``handwritten_requests.jsonl`` is
    ``handwritten``); a file that does not read or parse is a :class:`UsageError` naming the flag."""
    from pathlib import Path

    from netgpt_lite.tasks.request_file import read_request_file

    suites = {}
    for path in paths or []:
        with reading(flag, path):
            suites[Path(path).stem.replace("_requests", "")] = read_request_file(path)
    return suites


# --- argument types: each checks one value and names the allowed range ------------------------
def _shown(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def int_range(low: int, high: int | None = None, why: str = "") -> Callable[[str], int]:
    """An argparse ``type`` for an integer in ``[low, high]`` (``high=None``: no upper bound; counts have one,
    see :mod:`netgpt_lite.cli.bounds`); ``why`` ends the message of a value above ``high``."""
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}; got {_shown(text)!r}") from None
        if value < low or (high is not None and value > high):
            reason = f" ({why})" if why and high is not None and value > high else ""
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}; got {_shown(str(value))}{reason}")
        return value

    parse.__name__ = f"integer {allowed}"
    parse.low, parse.high = low, high  # type: ignore[attr-defined]
    return parse


def float_range(low: float | None = None, high: float | None = None, *, low_open: bool = True,
                 high_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` for a finite float between ``low`` and ``high`` (open or closed ends)."""
    if low is not None and high is not None:
        allowed = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        allowed = f"{'>' if low_open else '>='} {low:g}"
    elif high is not None:
        allowed = f"{'<' if high_open else '<='} {high:g}"
    else:
        allowed = "(any finite value)"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be a finite number {allowed}; got {_shown(text)!r}")
        return value

    parse.__name__ = f"number {allowed}"
    parse.low, parse.high = low, high  # type: ignore[attr-defined]
    return parse


POSITIVE_INT, COUNT = int_range(1), int_range(0)  # unbounded: for values that are not counts of work
SEED = int_range(0, 2**32 - 1, "seeds are 32-bit integers, as numpy and torch take them")
POSITIVE = float_range(0.0)
NON_NEGATIVE = float_range(0.0, low_open=False)
PROBABILITY = float_range(0.0, 1.0, low_open=False)
OPEN_UNIT = float_range(0.0, 1.0, high_open=True)  # (0, 1): learning rates, clip ranges
DROPOUT = float_range(0.0, 1.0, low_open=False, high_open=True)  # [0, 1)


def one_of(what: str, names: Sequence[str]) -> Callable[[str], str]:
    """An argparse ``type`` for one name out of ``names`` (the message lists them)."""

    def parse(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"{what} must be one of {sorted(names)}; got {text!r}")
        return text

    parse.__name__ = what
    return parse


# --- from config ValueErrors to UsageErrors ------------------------------------------------------
def _flag_of(message: str, flags: dict[str, str]) -> str | None:
    """The flag of the field that ``message`` names first (``flags``: field name -> flag)."""
    hits = []
    for field, flag in flags.items():
        match = re.search(rf"(?<![\w-]){re.escape(field)}(?![\w-])", message)
        if match:
            hits.append((match.start(), flag))
    return min(hits)[1] if hits else None


@contextlib.contextmanager
def flag_errors(flags: dict[str, str]) -> Iterator[None]:
    """Turn a config dataclass's ``ValueError`` into a :class:`UsageError` naming the flag of its field.

    Example:
        >>> with flag_errors({"learning_rate": "--lr"}):
        ...     raise ValueError("learning_rate must be in (0, 1), got 2.0")
        Traceback (most recent call last):
        netgpt_lite.cli.arguments.UsageError: argument --lr: learning_rate must be in (0, 1), got 2.0
    """
    try:
        yield
    except UsageError:
        raise
    except ValueError as err:
        flag = _flag_of(str(err), flags)
        raise UsageError(f"argument {flag}: {err}" if flag else f"invalid settings: {err}") from err


def is_fast(args: argparse.Namespace) -> bool:
    """``--fast`` / ``--no-fast`` when given (the flag wins), else ``NETGPT_LITE_FAST`` (runtime.fast_mode)."""
    return fast_mode() if args.fast is None else bool(args.fast)


def add_fast(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--fast", action=argparse.BooleanOptionalAction, default=None,
                   help=f"{what}; without --fast/--no-fast, {FAST_ENV_VAR}=1 means --fast")


def argument_dict(args: argparse.Namespace) -> dict:
    """The user's arguments as a JSON-able dict (without the dispatch functions)."""
    return {k: v for k, v in vars(args).items()
            if k not in ("func", "check") and not k.startswith("_") and not callable(v)}


def print_json(payload: dict) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True))


def no_check(args: argparse.Namespace) -> dict:
    return {}


# --- a real cloud: --cloud-base-url / --cloud-model / --cloud-key-env ---------------------------
CLOUD_FLAGS = {"base_url": "--cloud-base-url", "model": "--cloud-model", "api_key_env": "--cloud-key-env"}


def add_cloud_flags(p: argparse.ArgumentParser, required: bool = False, concurrency: bool = True) -> None:
    """Flags selecting an OpenAI-compatible cloud; without ``--cloud-base-url`` the simulated cloud is used.

    ``concurrency`` adds ``--cloud-concurrency`` (requests in flight when a batch of tasks is sent)."""
    what = "" if required else " (default: the simulated cloud)"
    p.add_argument("--cloud-base-url", default=None, required=required, metavar="URL",
                   help=f"OpenAI-compatible API root, e.g. http://127.0.0.1:8001/v1{what}")
    p.add_argument("--cloud-model", default=None, required=required, metavar="NAME",
                   help="model name sent to that endpoint (needed with --cloud-base-url)")
    p.add_argument("--cloud-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="environment variable holding the endpoint's API key (default: OPENAI_API_KEY; "
                        "the key itself is never a flag)")
    if concurrency:
        p.add_argument("--cloud-concurrency", type=int_range(1, 256), default=4, metavar="N",
                       help="requests kept in flight to the endpoint, in [1, 256] (answers stay in task order)")


def _has_endpoint(args: argparse.Namespace) -> bool:
    return args.cloud_base_url is not None


def cloud_config_from_args(args: argparse.Namespace):
    """The validated :class:`~netgpt_lite.agents.cloud_http.CloudClientConfig` of the cloud flags, or None."""
    from netgpt_lite.agents.cloud_http import CloudClientConfig

    refuse_inapplicable(args, {flag: (_has_endpoint, f"needs --cloud-base-url (the endpoint {what})")
                               for flag, what in (("--cloud-model", "to send it to"), ("--cloud-key-env", "the key is for"),
                                                  ("--cloud-concurrency", "to send requests to"))})
    if args.cloud_base_url is None:
        return None
    if args.cloud_model is None:
        raise UsageError("argument --cloud-base-url: needs --cloud-model NAME (the model the endpoint serves)")
    with flag_errors(CLOUD_FLAGS):
        return CloudClientConfig(base_url=args.cloud_base_url, model=args.cloud_model, api_key_env=args.cloud_key_env,
                                 max_concurrency=getattr(args, "cloud_concurrency", 1))


def cloud_agent_from_args(args: argparse.Namespace):
    """An :class:`~netgpt_lite.agents.cloud_openai.OpenAICompatibleCloud` from the cloud flags, or None
    (the simulated default).  Call it in a subcommand's check phase: bad flags raise :class:`UsageError`."""
    from netgpt_lite.agents.cloud_openai import OpenAICompatibleCloud

    config = cloud_config_from_args(args)
    return None if config is None else OpenAICompatibleCloud(config)
