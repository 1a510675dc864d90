"""The pieces every subcommand shares: the parser, :class:`UsageError`, and argument types.

Each argument type checks one value and, when it is wrong, says which values are allowed
(``int_range(1)`` -> "must be an integer >= 1").  :func:`flag_errors` turns a ``ValueError`` raised
by a config dataclass built from the flags into a :class:`UsageError` naming the flag.

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
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from netgpt_lite.network.state import REGIMES
from netgpt_lite.network.traces import read_trace_csv
from netgpt_lite.runtime import FAST_ENV_VAR, fast_mode

PROG = "netgpt-lite"
DEBUG_ENV_VAR = "NETGPT_LITE_DEBUG"
EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 1, 130


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


# --- argument types: each checks one value and names the allowed range ------------------------
def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for an integer in ``[low, high]`` (``high=None``: no upper bound)."""
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}; got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}; got {value}")
        return value

    parse.__name__ = f"integer {allowed}"
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
            raise argparse.ArgumentTypeError(f"must be a finite number {allowed}; got {text!r}")
        return value

    parse.__name__ = f"number {allowed}"
    return parse


POSITIVE_INT, COUNT = int_range(1), int_range(0)
SEED = COUNT  # seeds are integers >= 0
POSITIVE = float_range(0.0)
NON_NEGATIVE = float_range(0.0, low_open=False)
PROBABILITY = float_range(0.0, 1.0, low_open=False)
OPEN_UNIT = float_range(0.0, 1.0, high_open=True)  # (0, 1): learning rates, clip ranges


def one_of(what: str, names: Sequence[str]) -> Callable[[str], str]:
    """An argparse ``type`` for one name out of ``names`` (the message lists them)."""

    def parse(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"{what} must be one of {sorted(names)}; got {text!r}")
        return text

    parse.__name__ = what
    return parse


def output_dir(text: str) -> str:
    """An argparse ``type`` for an output folder: a folder, or creatable inside a writable folder."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder; pass a folder (created if missing)")
    base = path
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create the folder {text!r}: {str(base)!r} is a file")
    if not os.access(base, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write into {str(base)!r} (permission denied); choose another folder")
    return text


def output_file(text: str) -> str:
    """An argparse ``type`` for an output file whose folder exists and is writable."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; pass a file path such as {str(path / 'out.json')!r}")
    parent = path.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {str(parent)!r} does not exist; create it first "
                                         f"(mkdir -p {parent})")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot write {text!r} (permission denied); choose another path")
    return text


def existing_dir(text: str) -> str:
    """An argparse ``type`` for a folder that exists and can be read."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot read the folder {text!r} (permission denied)")
    return text


def existing_file(text: str) -> str:
    """An argparse ``type`` for a file that exists and can be read."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read the file {text!r} (permission denied)")
    return text


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


MODEL_NAMES = ("tiny", "smollm2", "sft", "rl", "smollm2-base")  # shipped edges, see EdgeAgent.from_pretrained


def model_source(text: str) -> str:
    """An argparse ``type`` for ``--model``: a shipped edge's name (:data:`MODEL_NAMES`), a saved model
    folder (with ``config.json``), a LoRA adapter folder (with ``adapter_config.json``) or a Hub id."""
    if text in MODEL_NAMES:
        return text
    path = Path(text).expanduser()
    hint = ("pass tiny, smollm2 (= sft), rl or smollm2-base, a folder written by 'netgpt-lite train-edge' or 'rl', "
            "or omit --model for the default edge")
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a file; {hint}")
        if not ((path / "config.json").is_file() or (path / "adapter_config.json").is_file()):
            raise argparse.ArgumentTypeError(f"{text!r} is not a model or adapter folder (no config.json or "
                                             f"adapter_config.json in it); {hint}")
        if not os.access(path, os.R_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"cannot read the model folder {text!r} (permission denied)")
        return text
    if _HUB_ID.fullmatch(text):  # e.g. Qwen/Qwen2.5-0.5B-Instruct (needs the Hub or its cache)
        return text
    raise argparse.ArgumentTypeError(f"no model folder {text!r}; {hint}")


TRACE_HELP = ("'mixed' (= 'markov': every regime), 'reachable' (no outage or satellite), a regime name, or a CSV file "
              "with columns t, bandwidth_mbps, rtt_ms")


def trace_source(text: str) -> str:
    """An argparse ``type`` for ``--trace``: ``mixed``/``markov``, ``reachable``, a regime name, or a CSV trace
    that parses."""
    if text in ("markov", "mixed", "reachable") or text in REGIMES:
        return text
    if text.endswith(".csv") and Path(text).is_file():
        try:
            read_trace_csv(text)
        except OSError as err:
            raise argparse.ArgumentTypeError(f"cannot read the trace file {text!r}: {err.strerror}") from None
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"the trace file does not parse: {err}") from None
        return text
    raise argparse.ArgumentTypeError(f"trace must be 'mixed', 'reachable', a regime in {sorted(REGIMES)} or an existing "
                                     f".csv file with columns t, bandwidth_mbps, rtt_ms; got {text!r}")


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
    return {k: v for k, v in vars(args).items() if k not in ("func", "check") and not callable(v)}


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


def cloud_config_from_args(args: argparse.Namespace):
    """The validated :class:`~netgpt_lite.agents.cloud_http.CloudClientConfig` of the cloud flags, or None."""
    from netgpt_lite.agents.cloud_http import CloudClientConfig

    if args.cloud_base_url is None:
        if args.cloud_model is not None:
            raise UsageError("argument --cloud-model: needs --cloud-base-url (the endpoint to send it to)")
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
