"""The ``netgpt-lite`` command line: one subcommand per chapter that produces numbers.

Every subcommand runs in two phases.  The *check* phase parses and validates every argument
(counts in range, output folders writable, model folders and trace files readable and parsed,
the library's config dataclasses built from the flags) before any training or evaluation
starts; the *run* phase does the work.  What goes wrong is reported in one of three ways:

* bad input (:class:`UsageError`): ``netgpt-lite <cmd>: error: argument --flag: ...`` on stderr,
  naming the flag and the allowed range, exit status 2;
* anything else, a bug or a failure of the machine: ``netgpt-lite <cmd>: internal error: <Type>: ...``
  on one line, exit status 1 (``NETGPT_LITE_DEBUG=1`` prints the traceback too);
* Ctrl-C: exit status 130, quietly.

The spellings are shared by every subcommand: ``--model DIR`` is a model folder (or Hub id),
``--out`` is where results go, ``--fast`` / ``--no-fast`` pick the small preset (without either,
``NETGPT_LITE_FAST=1`` means ``--fast``), ``--n-...`` are counts and ``--seed`` is one seed.

Library modules that train or evaluate models (edge, rl, routing, synergy, experiments, viz) are
imported inside the subcommands, so ``netgpt-lite --help`` is instant and never imports torch;
only the light bottom layers are imported here.

Example:
    $ netgpt-lite threshold --bandwidth-mbps 50 --rtt-ms 40 --json
    $ netgpt-lite --version
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from netgpt_lite import __version__
from netgpt_lite.network.pricing import PRICING_SCHEDULES, Price, request_cost_usd
from netgpt_lite.network.state import REGIMES, LatencyModel, cloud_time_ms
from netgpt_lite.network.traces import read_trace_csv
from netgpt_lite.provenance import DATA_DIR, check_artifacts, scrub_path, source_hash
from netgpt_lite.runtime import FAST_ENV_VAR, fast_mode
from netgpt_lite.theory.threshold import (
    Deadline,
    LogisticCalibration,
    UtilityWeights,
    Workload,
    kappa,
    optimal_threshold,
)

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


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` instead of exiting, so that
    :func:`main` reports every kind of bad input the same way (and tests can call :func:`main`)."""

    def error(self, message: str):  # type: ignore[override]
        if not message.startswith("argument "):  # "the following arguments are required", ...
            message += f" (see '{self.prog} --help')"
        raise UsageError(message, prog=self.prog)


class _Renamed(argparse.Action):
    """A flag's old spelling: still accepted, hidden from ``--help``, with a warning naming the new one."""

    def __init__(self, option_strings, dest, new: str, **kwargs) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _renamed(parser: argparse.ArgumentParser, old: str, new: argparse.Action) -> None:
    """Accept ``old`` as a deprecated spelling of the option ``new`` (same destination and type)."""
    parser.add_argument(old, dest=new.dest, type=new.type, action=_Renamed, new=new.option_strings[0])


# --- argument types: each checks one value and names the allowed range ------------------------
def _int_range(low: int, high: int | None = None) -> Callable[[str], int]:
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


def _float_range(low: float | None = None, high: float | None = None, *, low_open: bool = True,
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


POSITIVE_INT, COUNT = _int_range(1), _int_range(0)
SEED = COUNT  # seeds are integers >= 0
POSITIVE = _float_range(0.0)
NON_NEGATIVE = _float_range(0.0, low_open=False)
PROBABILITY = _float_range(0.0, 1.0, low_open=False)
OPEN_UNIT = _float_range(0.0, 1.0, high_open=True)  # (0, 1): learning rates, clip ranges


def _one_of(what: str, names: Sequence[str]) -> Callable[[str], str]:
    """An argparse ``type`` for one name out of ``names`` (the message lists them)."""

    def parse(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"{what} must be one of {sorted(names)}; got {text!r}")
        return text

    parse.__name__ = what
    return parse


def _output_dir(text: str) -> str:
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


def _output_file(text: str) -> str:
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


def _existing_dir(text: str) -> str:
    """An argparse ``type`` for a folder that exists and can be read."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot read the folder {text!r} (permission denied)")
    return text


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def _model_source(text: str) -> str:
    """An argparse ``type`` for ``--model``: a saved model folder (with ``config.json``) or a Hub id."""
    path = Path(text).expanduser()
    hint = "pass a folder written by 'netgpt-lite train-edge' or 'rl', or omit --model for the shipped checkpoint"
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a file; {hint}")
        if not (path / "config.json").is_file():
            raise argparse.ArgumentTypeError(f"{text!r} is not a model folder (no config.json in it); {hint}")
        if not os.access(path, os.R_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"cannot read the model folder {text!r} (permission denied)")
        return text
    if _HUB_ID.fullmatch(text):  # e.g. Qwen/Qwen2.5-0.5B-Instruct (needs the Hub or its cache)
        return text
    raise argparse.ArgumentTypeError(f"no model folder {text!r}; {hint}")


TRACE_HELP = "'markov', a regime name, or a CSV file with columns t, bandwidth_mbps, rtt_ms"


def _trace(text: str) -> str:
    """An argparse ``type`` for ``--trace``: ``markov``, a regime name, or a CSV trace that parses."""
    if text == "markov" or text in REGIMES:
        return text
    if text.endswith(".csv") and Path(text).is_file():
        try:
            read_trace_csv(text)
        except OSError as err:
            raise argparse.ArgumentTypeError(f"cannot read the trace file {text!r}: {err.strerror}") from None
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"the trace file does not parse: {err}") from None
        return text
    raise argparse.ArgumentTypeError(f"trace must be 'markov', a regime in {sorted(REGIMES)} or an existing "
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
def _flags(flags: dict[str, str]) -> Iterator[None]:
    """Turn a config dataclass's ``ValueError`` into a :class:`UsageError` naming the flag of its field.

    Example:
        >>> with _flags({"learning_rate": "--lr"}):
        ...     raise ValueError("learning_rate must be in (0, 1), got 2.0")
        Traceback (most recent call last):
        netgpt_lite.cli.UsageError: argument --lr: learning_rate must be in (0, 1), got 2.0
    """
    try:
        yield
    except UsageError:
        raise
    except ValueError as err:
        flag = _flag_of(str(err), flags)
        raise UsageError(f"argument {flag}: {err}" if flag else f"invalid settings: {err}") from err


def _fast(args: argparse.Namespace) -> bool:
    """``--fast`` / ``--no-fast`` when given (the flag wins), else ``NETGPT_LITE_FAST`` (runtime.fast_mode)."""
    return fast_mode() if args.fast is None else bool(args.fast)


def _add_fast(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--fast", action=argparse.BooleanOptionalAction, default=None,
                   help=f"{what}; without --fast/--no-fast, {FAST_ENV_VAR}=1 means --fast")


def _arguments(args: argparse.Namespace) -> dict:
    """The user's arguments as a JSON-able dict (without the dispatch functions)."""
    return {k: v for k, v in vars(args).items() if k not in ("func", "check") and not callable(v)}


def _print_json(payload: dict) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True))


def _no_check(args: argparse.Namespace) -> dict:
    return {}


# --- chapter 02: threshold ---------------------------------------------------------------
def _add_threshold(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("threshold", help="optimal fallback threshold tau*(bandwidth, RTT, price) (ch. 2)")
    net = p.add_argument_group("network (give --bandwidth-mbps and --rtt-ms, or a --regime)")
    net.add_argument("--bandwidth-mbps", type=POSITIVE, help="bandwidth edge<->cloud in Mbps (> 0)")
    net.add_argument("--rtt-ms", type=POSITIVE, help="round-trip time in ms (> 0)")
    net.add_argument("--regime", type=_one_of("regime", list(REGIMES)),
                     help="take bandwidth and RTT from a named regime (5g_good, 4g, ...)")
    price = p.add_argument_group("price (USD per 1,000 tokens, >= 0)")
    price.add_argument("--usd-per-1k-input", type=float, default=0.003)
    price.add_argument("--usd-per-1k-output", type=float, default=0.015)
    util = p.add_argument_group("utility weights and calibration g(s) = sigmoid(a s + b)")
    util.add_argument("--reward", type=float, default=1.0, help="R, utility of a correct tool call (> 0)")
    util.add_argument("--lambda-latency-per-ms", type=float, default=5e-4, help="utility lost per ms (> 0)")
    util.add_argument("--lambda-cost-per-usd", type=float, default=20.0, help="utility lost per USD (> 0)")
    util.add_argument("--q-cloud", type=PROBABILITY, default=0.9, help="cloud success probability in [0, 1]")
    util.add_argument("--calibration-a", type=float, default=8.0, help="logistic slope a (> 0)")
    util.add_argument("--calibration-b", type=float, default=-4.0, help="logistic intercept b")
    load = p.add_argument_group("workload of one request (>= 0)")
    load.add_argument("--n-input-tokens", type=float, default=1500.0)
    load.add_argument("--n-output-tokens", type=float, default=40.0)
    load.add_argument("--request-bytes", type=float, default=6000.0)
    load.add_argument("--response-bytes", type=float, default=400.0)
    dl = p.add_argument_group("optional latency deadline with RTT = rtt_ms + Exp(mean jitter)")
    dl.add_argument("--deadline-ms", type=float, help="enable the deadline extension (> 0)")
    dl.add_argument("--miss-penalty", type=float, default=0.5, help="utility lost on a late answer (> 0)")
    dl.add_argument("--rtt-jitter-mean-ms", type=float, default=100.0, help="mean extra RTT in ms (> 0)")
    p.add_argument("--json", action="store_true", help="print the threshold and every input as JSON")
    p.set_defaults(check=_check_threshold, func=_run_threshold)


def _check_threshold(args: argparse.Namespace) -> dict:
    if args.regime is not None:
        regime = REGIMES[args.regime]
        args.bandwidth_mbps = regime.bandwidth_mbps if args.bandwidth_mbps is None else args.bandwidth_mbps
        args.rtt_ms = regime.rtt_ms if args.rtt_ms is None else args.rtt_ms
    for name in ("bandwidth_mbps", "rtt_ms"):
        if getattr(args, name) is None:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"argument {flag}: required: pass --bandwidth-mbps and --rtt-ms, "
                             f"or a --regime from {sorted(REGIMES)}")
    plan: dict = {}
    with _flags({"usd_per_1k_input": "--usd-per-1k-input", "usd_per_1k_output": "--usd-per-1k-output"}):
        plan["price"] = Price(args.usd_per_1k_input, args.usd_per_1k_output)
    with _flags({n: "--" + n.replace("_", "-") for n in ("reward", "lambda_latency_per_ms", "lambda_cost_per_usd")}):
        plan["weights"] = UtilityWeights(args.reward, args.lambda_latency_per_ms, args.lambda_cost_per_usd)
    names = ("request_bytes", "response_bytes", "n_input_tokens", "n_output_tokens")
    with _flags({n: "--" + n.replace("_", "-") for n in names}):
        plan["workload"] = Workload(args.request_bytes, args.response_bytes, args.n_input_tokens,
                                    args.n_output_tokens)
    with _flags({"a": "--calibration-a", "b": "--calibration-b"}):
        plan["calibration"] = LogisticCalibration(args.calibration_a, args.calibration_b)
    plan["deadline"] = None
    if args.deadline_ms is not None:
        with _flags({n: "--" + n.replace("_", "-") for n in ("deadline_ms", "miss_penalty", "rtt_jitter_mean_ms")}):
            plan["deadline"] = Deadline(args.deadline_ms, args.miss_penalty, args.rtt_jitter_mean_ms)
    return plan


def _run_threshold(args: argparse.Namespace, plan: dict) -> int:
    price = plan["price"]
    common = dict(q_cloud=args.q_cloud, weights=plan["weights"], workload=plan["workload"], latency=LatencyModel(),
                  deadline=plan["deadline"])  # fmt: skip
    prices = (price.usd_per_1k_input, price.usd_per_1k_output)
    k = float(kappa(args.bandwidth_mbps, args.rtt_ms, *prices, **common))
    tau = float(
        optimal_threshold(args.bandwidth_mbps, args.rtt_ms, *prices, calibration=plan["calibration"], **common)
    )
    t_c = float(
        cloud_time_ms(
            args.bandwidth_mbps, args.rtt_ms, args.request_bytes, args.response_bytes, args.n_output_tokens
        )
    )
    cost = float(request_cost_usd(args.n_input_tokens, args.n_output_tokens, price))
    inputs = {k_: v for k_, v in _arguments(args).items() if k_ not in ("command", "json")}
    if args.json:
        _print_json(
            {
                "threshold": tau,
                "kappa": k,
                "cloud_time_ms": t_c,
                "cloud_cost_usd": cost,
                "rule": "fall back to the cloud iff edge score < threshold",
                "inputs": inputs,
            }
        )
    else:
        print(
            f"tau* = {tau:.4f} (fall back iff edge score < {tau:.4f}); kappa = {k:.4f}, "
            f"T_c = {t_c:.1f} ms, C_c = ${cost:.5f} at B = {args.bandwidth_mbps:g} Mbps, RTT = {args.rtt_ms:g} ms"
        )
    return 0


# --- chapter 03: tasks ---------------------------------------------------------------------
def _add_tasks(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="generate seeded tool-calling tasks as JSONL (ch. 3)")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test")
    p.add_argument("--n", type=POSITIVE_INT, default=1000, help="number of tasks, >= 1 (default 1000)")
    p.add_argument("--seed", type=SEED, default=0, help="task seed, >= 0 (default 0)")
    p.add_argument("--out", type=_output_file, default="tasks.jsonl", help="output JSONL path (default tasks.jsonl)")
    p.add_argument(
        "--check-cloud", action="store_true", help="also print the simulated cloud's accuracy by difficulty"
    )
    p.set_defaults(check=_no_check, func=_run_tasks)


def _run_tasks(args: argparse.Namespace, plan: dict) -> int:
    from netgpt_lite.tasks.generate import difficulty_counts, generate_tasks, kind_counts, write_jsonl

    tasks = generate_tasks(args.split, args.n, seed=args.seed)
    path = write_jsonl(tasks, args.out)
    n_templates = len({t.template_id for t in tasks})
    print(f"wrote {len(tasks)} {args.split} tasks (seed {args.seed}, {n_templates} templates) to {path}: "
          f"{difficulty_counts(tasks)} {kind_counts(tasks)}")  # fmt: skip
    if args.check_cloud:
        from netgpt_lite.agents.cloud_sim import SimulatedCloud
        from netgpt_lite.tasks.checker import check_completion

        proposals = SimulatedCloud(seed=args.seed).propose(tasks)
        correct: dict[str, list[bool]] = {}
        for task, p in zip(tasks, proposals):
            verdict = check_completion(p.completion, task.tools, task.gold)
            correct.setdefault(task.difficulty, []).append(verdict.correct)
        accuracy = {d: round(sum(v) / len(v), 4) for d, v in sorted(correct.items())}
        _print_json({"simulated_cloud_accuracy": accuracy})
    return 0


# --- chapter 04: train-edge, eval-edge ---------------------------------------------------
def _add_train_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-edge", help="train the tiny edge LM from scratch with TRL SFT (ch. 4)")
    p.add_argument("--out", type=_output_dir, required=True, help="output folder (model, tokenizer, manifest.json)")
    p.add_argument("--n-train", type=POSITIVE_INT, default=3000, help="train-split tasks for SFT (default 3000)")
    p.add_argument("--data-seed", type=SEED, default=0, help="task seed of the SFT data (default 0)")
    p.add_argument("--epochs", type=POSITIVE, default=8.0, help="SFT epochs, > 0 (default 8, the shipped checkpoint's)")
    p.add_argument("--lr", type=OPEN_UNIT, default=3e-3, help="peak learning rate in (0, 1) (default 3e-3)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="SFT batch size (default 16)")
    p.add_argument("--hidden-size", type=POSITIVE_INT, default=128, help="model width, a multiple of 4 (default 128)")
    p.add_argument("--layers", type=POSITIVE_INT, default=3, help="decoder blocks (default 3)")
    p.add_argument("--seed", type=SEED, default=0, help="model init and data-order seed (default 0)")
    p.add_argument("--n-test", type=_int_range(2), default=600, help="test-split tasks evaluated, >= 2 (default 600)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(check=_check_train_edge, func=_run_train_edge)


def _check_train_edge(args: argparse.Namespace) -> dict:
    from netgpt_lite.edge.sft import SFTSettings
    from netgpt_lite.edge.tiny_lm import EdgeModelConfig

    with _flags({"n_epochs": "--epochs", "learning_rate": "--lr", "batch_size": "--batch-size", "seed": "--seed"}):
        settings = SFTSettings(n_epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                               seed=args.seed, show_progress=not args.quiet)  # fmt: skip
    with _flags({"hidden_size": "--hidden-size", "n_layers": "--layers", "intermediate_size": "--hidden-size"}):
        config = EdgeModelConfig(hidden_size=args.hidden_size, n_layers=args.layers,
                                 intermediate_size=3 * args.hidden_size)
    return {"settings": settings, "model_config": config}


def _run_train_edge(args: argparse.Namespace, plan: dict) -> int:
    from netgpt_lite.edge.sft import train_edge_checkpoint

    command = " ".join([PROG, *sys.argv[1:]]) if sys.argv[1:2] == ["train-edge"] else f"{PROG} train-edge"
    manifest = train_edge_checkpoint(args.out, n_train=args.n_train, data_seed=args.data_seed, settings=plan["settings"],
                                     model_config=plan["model_config"], n_test=args.n_test, command=command)  # fmt: skip
    acc = manifest["metrics"]["accuracy"]
    print(f"saved {args.out}: {manifest['n_parameters']:,} parameters, {manifest['training_time_s']} s SFT, "
          f"test exact match {acc['exact_match']:.3f}, schema-valid {acc['schema_valid']:.3f}")  # fmt: skip
    return 0


def _add_eval_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-edge", help="exact match, schema-valid, AUROC and ECE of the edge (ch. 4)")
    p.add_argument("--model", type=_model_source, default=None,
                   help="model folder or Hub id (default: the shipped edge checkpoint)")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"], help="task split")
    p.add_argument("--n", type=_int_range(2), default=600, help="tasks evaluated, >= 2 (default 600)")
    p.add_argument("--n-logs", type=_int_range(10), default=600, help="train logs for the learned scorer, >= 10 (default 600)")
    p.add_argument("--seed", type=SEED, default=0, help="task seed (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(check=_no_check, func=_run_eval_edge)


def _run_eval_edge(args: argparse.Namespace, plan: dict) -> int:
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.edge.scoring import evaluate_edge

    result = evaluate_edge(EdgeAgent.from_pretrained(args.model), args.split, args.n, args.seed, args.n_logs)
    if args.json:
        _print_json(result)
        return 0
    acc = result["accuracy"]
    print(f"{args.split} ({acc['n']} tasks): exact match {acc['exact_match']:.3f}, schema-valid {acc['schema_valid']:.3f}")
    for key in ("by_difficulty", "by_kind"):
        for group, r in acc[key].items():
            print(f"  {group:<12} n={r['n']:<4} exact match {r['exact_match']:.3f}  schema-valid {r['schema_valid']:.3f}")
    print(f"scores (labels for the scorer: edge matches {result['label_source']}):")
    for name, m in result["scores"].items():
        print(f"  {name:<10} AUROC {m['auroc']:.3f}  ECE raw {m['ece_raw']:.3f}  isotonic {m['ece_isotonic']:.3f}"
              f"  Platt {m['ece_platt']:.3f}")  # fmt: skip
    return 0


# --- chapter 05: frontier ------------------------------------------------------------------
def _add_frontier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("frontier", help="quality-cost frontier and metrics of every policy (ch. 5)")
    p.add_argument("--regime", default="mixed", help="'mixed' (Markov chain over all regimes) or a regime name")
    p.add_argument("--pricing", type=_one_of("pricing", list(PRICING_SCHEDULES)), default="flat",
                   help="pricing schedule: flat, peak_offpeak or surge")
    n_seeds = p.add_argument("--n-seeds", type=POSITIVE_INT, default=3,
                             help="number of seeds (0..K-1), >= 1; mean and std over them")
    _renamed(p, "--seeds", n_seeds)
    p.add_argument("--n-requests", type=POSITIVE_INT, default=2000, help="requests per evaluation stream")
    p.add_argument("--n-logs", type=POSITIVE_INT, default=8000, help="exploration log requests the policies are fitted on")
    p.add_argument("--n-tasks", type=POSITIVE_INT, default=300, help="test (and validation) tasks run through the edge model")
    p.add_argument("--synthetic", action="store_true", help="use SYNTHETIC proposal tables instead of the edge model")
    p.add_argument("--policynet-epochs", type=POSITIVE_INT, default=400, help="PolicyNet training epochs")
    p.add_argument("--out", type=_output_file, default="results.json", help="where to write the JSON results")
    p.add_argument("--html", type=_output_file, default=None, help="also write the interactive explorer (offline HTML) here")
    p.set_defaults(check=_check_frontier, func=_run_frontier)


def _check_frontier(args: argparse.Namespace) -> dict:
    from netgpt_lite.routing.simulator import SimulationConfig

    with _flags({"regime": "--regime", "pricing": "--pricing", "n_requests": "--n-requests"}):
        SimulationConfig(regime=args.regime, pricing=args.pricing, n_requests=args.n_requests)
    return {}


def _run_frontier(args: argparse.Namespace, plan: dict) -> int:
    import numpy as np

    from netgpt_lite.experiments.frontier import run_frontier
    from netgpt_lite.routing.explorer import explorer_grid
    from netgpt_lite.routing.simulator import synthetic_table
    from netgpt_lite.routing.tables import default_tables

    if args.synthetic:
        log_table, test_table = synthetic_table(args.n_tasks, 1), synthetic_table(args.n_tasks, 0)
    else:
        log_table, test_table = default_tables(args.n_tasks, args.n_tasks)
    result = run_frontier(test_table, log_table, args.regime, args.pricing, seeds=tuple(range(args.n_seeds)),
                          n_requests=args.n_requests, n_logs=args.n_logs, policynet_epochs=args.policynet_epochs,
                          keep_runs=args.html is not None)
    runs = result.pop("runs", None)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
    if args.html is not None:
        from netgpt_lite.viz.routing import frontier_explorer_figure

        grid = explorer_grid(test_table, runs[0]["policies"], np.geomspace(0.05, 300.0, 8), np.geomspace(10.0, 3000.0, 8))
        frontier_explorer_figure(grid, 5, 2).write_html(args.html, include_plotlyjs=True)
    summary = {n: {k: round(v["mean"], 4) for k, v in m.items() if k in ("task_success", "mean_utility")}
               for n, m in result["policies"].items()}
    _print_json({"out": args.out, "table_source": result["table_source"], "policies": summary})
    return 0


# --- chapter 06: rl --------------------------------------------------------------------------
def _add_rl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="SFT-anchored RL of the edge model (ch. 6)")
    model = p.add_argument("--model", type=_model_source, default=None,
                           help="SFT model folder to start from (default: the shipped edge)")
    _renamed(p, "--from", model)
    p.add_argument("--steps", type=POSITIVE_INT, required=True, help="RL steps, >= 1 (each: sample groups, clipped updates)")
    p.add_argument("--trainer", default="minimal", choices=["minimal", "trl"], help="from-scratch loop or TRL GRPO")
    p.add_argument("--beta", type=NON_NEGATIVE, default=0.04, help="reverse-KL(pi_theta || pi_SFT) weight, >= 0")
    p.add_argument("--gamma", type=NON_NEGATIVE, default=0.1, help="forward-KL(pi_SFT || pi_theta) weight, >= 0")
    p.add_argument("--epsilon", type=OPEN_UNIT, default=0.2, help="clip range of the ratio, in (0, 1)")
    p.add_argument("--lr", type=OPEN_UNIT, default=3e-4, help="learning rate, in (0, 1)")
    p.add_argument("--prompts-per-step", type=POSITIVE_INT, default=8, help="prompts sampled per step, >= 1")
    p.add_argument("--group-size", type=_int_range(2), default=8, help="completions per prompt (GRPO's G), >= 2")
    p.add_argument("--n-prompts", type=POSITIVE_INT, default=512, help="size of the request pool RL practises on")
    p.add_argument("--n-eval", type=POSITIVE_INT, default=200, help="held-out test tasks evaluated greedily")
    p.add_argument("--eval-every", type=POSITIVE_INT, default=10, help="evaluate every this many steps (minimal trainer)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", type=_output_dir, required=True,
                   help="output folder: the checkpoint, metrics.json, manifest.json")
    p.set_defaults(check=_check_rl, func=_run_rl)


def _check_rl(args: argparse.Namespace) -> dict:
    from netgpt_lite.rl.minimal import RLSettings

    flags = {"steps": "--steps", "prompts_per_step": "--prompts-per-step", "group_size": "--group-size",
             "learning_rate": "--lr", "seed": "--seed", "beta": "--beta", "gamma": "--gamma", "epsilon": "--epsilon"}
    with _flags(flags):
        settings = RLSettings(steps=args.steps, prompts_per_step=args.prompts_per_step, group_size=args.group_size,
                              learning_rate=args.lr, seed=args.seed).replace(beta=args.beta, gamma=args.gamma,
                                                                              epsilon=args.epsilon)  # fmt: skip
    return {"settings": settings}


def _run_rl(args: argparse.Namespace, plan: dict) -> int:
    from netgpt_lite.experiments.rl_ablation import run_rl

    settings = plan["settings"]
    # run_rl writes the checkpoint, metrics.json and manifest.json (provenance.Recorder) into --out
    history = run_rl(args.model, settings, args.trainer, args.n_prompts, args.n_eval, args.eval_every, args.out)
    first, last = history[0], history[-1]
    _print_json({"out": str(args.out), "eval_exact_match_before": first.get("eval_exact_match"),
                 "eval_exact_match_after": last.get("eval_exact_match"),
                 "eval_schema_valid_after": last.get("eval_schema_valid")})  # fmt: skip
    return 0


# --- chapter 07: synergy, reproduce -----------------------------------------------------------
def _add_synergy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synergy", help="router and edge improved together, round by round (ch. 7)")
    p.add_argument("--rounds", type=_int_range(1, 800), required=True, help="improvement rounds after round 0, in [1, 800]")
    p.add_argument("--trace", type=_trace, default="markov", help=TRACE_HELP)
    p.add_argument("--pricing", type=_one_of("pricing", list(PRICING_SCHEDULES)), default="flat",
                   help="pricing schedule: flat, peak_offpeak or surge")
    p.add_argument("--policy", default="funcdyn", choices=["funcdyn", "policynet"], help="routing policy")
    p.add_argument("--requests-per-round", type=_int_range(8), default=None, help="requests routed per round, >= 8")
    p.add_argument("--scorer-refresh-every", type=COUNT, default=None, help="refresh the scorer every k rounds (0: never)")
    p.add_argument("--rl-steps", type=COUNT, default=None, help="SFT-anchored RL steps per round (0: SFT only)")
    p.add_argument("--seed", type=SEED, default=0)
    _add_fast(p, "small settings (the book's fast mode)")
    p.add_argument("--out", type=_output_dir, required=True,
                   help="output folder: log/, checkpoints/, state.json, summary.json")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last completed round")
    p.set_defaults(check=_check_synergy, func=_run_synergy)


_SYNERGY_FLAGS = {"rounds": "--rounds", "trace": "--trace", "pricing": "--pricing", "policy": "--policy",
                  "requests_per_round": "--requests-per-round", "scorer_refresh_every": "--scorer-refresh-every",
                  "rl_steps": "--rl-steps", "seed": "--seed"}


def _saved_synergy_config(run_dir: Path) -> dict | None:
    """The config of the synergy run committed in ``run_dir`` (None: no run there)."""
    from netgpt_lite.synergy.loop import STATE_FILE

    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())["config"]
        if not isinstance(saved, dict):
            raise TypeError("'config' is not an object")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"argument --out: {str(path)!r} is not a readable synergy state ({err}); "
                         "choose a new --out") from None
    return saved


def _check_synergy(args: argparse.Namespace) -> dict:
    from netgpt_lite.synergy.stages import synergy_config

    overrides = {"requests_per_round": args.requests_per_round, "scorer_refresh_every": args.scorer_refresh_every,
                 "rl_steps": args.rl_steps}
    with _flags(_SYNERGY_FLAGS):
        config = synergy_config(fast=_fast(args), rounds=args.rounds, trace=args.trace, pricing=args.pricing,
                                policy=args.policy, seed=args.seed)
        config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    saved = _saved_synergy_config(Path(args.out))
    if saved is not None and not args.resume:
        raise UsageError(f"argument --out: {args.out!r} already holds a synergy run; pass --resume to continue it "
                         "or choose a new --out")
    if saved is not None:
        for name, value in dataclasses.asdict(config).items():
            if name != "rounds" and saved.get(name) != value:
                flag = _SYNERGY_FLAGS.get(name, "--fast")
                raise UsageError(f"argument {flag}: {name}={value!r} differs from the run being resumed in "
                                 f"{args.out!r} ({saved.get(name)!r}); resume with the same flags (only --rounds "
                                 "may grow) or choose a new --out")
    return {"config": config}


def _run_synergy(args: argparse.Namespace, plan: dict) -> int:
    from netgpt_lite.synergy.loop import run_synergy
    from netgpt_lite.synergy.stages import default_stages, write_summary

    result = run_synergy(plan["config"], args.out, stages=default_stages(), resume=args.resume, progress=True)
    _print_json(write_summary(result))
    return 0


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run experiments E1-E6 and write results.json + an HTML report")
    p.add_argument("--out", type=_output_dir, required=True, help="output folder: results.json, report.html, synergy runs")
    _add_fast(p, "the fast preset (minutes instead of tens of minutes)")
    p.add_argument("--seed", type=SEED, default=0)
    p.set_defaults(check=_check_reproduce, func=_run_reproduce)


def _check_reproduce(args: argparse.Namespace) -> dict:
    from netgpt_lite.experiments.reproduce import ReproduceConfig

    fast = _fast(args)
    with _flags({"seed": "--seed"}):
        cfg = ReproduceConfig.preset(fast, args.seed)
    # a rerun into the same --out resumes its synergy runs (E4/E6): they must have been made with these settings
    expected = {"seed": cfg.seed, "requests_per_round": cfg.synergy_requests, "eval_requests": cfg.synergy_eval,
                "calibration_tasks": cfg.synergy_eval}
    for run in ("synergy_refresh_on", "synergy_refresh_off"):
        saved = _saved_synergy_config(Path(args.out) / run) or expected
        for name, value in expected.items():
            if saved.get(name) != value:
                raise UsageError(f"argument --out: {args.out!r} holds a reproduce run made with other settings "
                                 f"({run}: {name}={saved.get(name)!r}, this run: {value!r}); rerun with the same "
                                 "--fast/--no-fast and --seed, or choose a new --out")
    return {"fast": fast}


def _run_reproduce(args: argparse.Namespace, plan: dict) -> int:
    from netgpt_lite.experiments.reproduce import reproduce

    results = reproduce(args.out, fast=plan["fast"], seed=args.seed, progress=True)
    m = results["manifest"]
    _print_json({"out": args.out, "mode": m["mode"], "wall_s": m["wall_s"], "peak_rss_mb": m["peak_rss_mb"],
                 "seconds_per_step": m["seconds_per_step"]})
    return 0


# --- provenance ------------------------------------------------------------------------------
def _add_provenance(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provenance", help="every shipped artifact, the command that made it, and whether it is stale")
    p.add_argument("--root", type=_existing_dir, default=None,
                   help="folder to scan for artifacts (default: the shipped data, netgpt_lite/data)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when an artifact is stale or its manifest lacks required fields")
    p.set_defaults(check=_no_check, func=_run_provenance)


def _run_provenance(args: argparse.Namespace, plan: dict) -> int:
    root = DATA_DIR if args.root is None else Path(args.root)
    try:
        statuses = check_artifacts(root)
    except ValueError as err:
        if args.root is None:  # a broken shipped manifest is a bug of the package, not bad input
            raise
        raise UsageError(f"argument --root: {err}") from None
    rows = [{**dataclasses.asdict(s), "missing_fields": list(s.missing_fields), "stale": s.stale} for s in statuses]
    n_stale = sum(s.stale for s in statuses)
    n_incomplete = sum(bool(s.missing_fields) for s in statuses)
    if args.json:
        _print_json({"root": scrub_path(str(root)), "current_source_hash": source_hash(), "n_artifacts": len(rows),
                     "n_stale": n_stale, "n_incomplete": n_incomplete, "artifacts": rows})
    else:
        print(f"{len(rows)} artifacts under {scrub_path(str(root))} (library source hash {source_hash()}):")
        for s in statuses:
            state = "stale" if s.stale else "ok"
            extra = ""
            if s.stale:
                extra = (f" (made by source {s.recorded_source_hash})" if s.recorded_source_hash
                         else " (no source hash recorded)")
            if s.missing_fields:
                extra += f" (manifest lacks {', '.join(s.missing_fields)})"
            print(f"  {state:<5}  {s.path}  <- {s.command or '(no command recorded)'}{extra}")
        if n_stale:
            print(f"{n_stale} stale: the library changed since they were made; rerun an artifact's command "
                  "to refresh it")
    return 1 if args.strict and (n_stale or n_incomplete) else 0


# subcommand name -> function adding its parser (a plain dict, in chapter order)
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "threshold": _add_threshold,
    "tasks": _add_tasks,
    "train-edge": _add_train_edge,
    "eval-edge": _add_eval_edge,
    "frontier": _add_frontier,
    "rl": _add_rl,
    "synergy": _add_synergy,
    "reproduce": _add_reproduce,
    "provenance": _add_provenance,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``netgpt-lite`` parser; its errors raise :class:`UsageError` (see :func:`main`)."""
    parser = _Parser(
        prog=PROG,
        description="NetGPT cloud-edge routing, offline: thresholds, tool-call tasks, the edge LM, RL and synergy.",
        epilog=f"Errors in the arguments exit with status 2, internal errors with status 1 "
               f"({DEBUG_ENV_VAR}=1 prints their traceback).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    return parser


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    Returns:
        0 on success; 2 for invalid arguments (:class:`UsageError`); 1 for an internal error;
        130 when interrupted.  ``--help`` and ``--version`` return 0.
    """
    prog = PROG
    try:
        parser = build_parser()
        try:
            args, extra = parser.parse_known_args(argv)
        except SystemExit as done:  # --help, --version
            return done.code if isinstance(done.code, int) else 0
        if args.command is None:
            if extra:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            parser.print_help()
            return 0
        prog = f"{PROG} {args.command}"
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see '{prog} --help')", prog=prog)
        plan = args.check(args)  # every argument checked and every config built before any work
        return int(args.func(args, plan) or 0)
    except UsageError as err:
        if _debug():
            traceback.print_exc()
        print(f"{err.prog or prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the one place that reports unexpected failures
        message = " ".join(str(err).split())
        what = f"{type(err).__name__}: {message}" if message else type(err).__name__
        if _debug():
            traceback.print_exc()
            print(f"{prog}: internal error: {what}", file=sys.stderr)
        else:
            print(f"{prog}: internal error: {what} (set {DEBUG_ENV_VAR}=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
