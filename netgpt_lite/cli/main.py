"""The ``netgpt-lite`` command line: one subcommand per chapter that produces numbers.

Every subcommand runs in two phases.  The *check* phase parses and validates every argument
(counts in range, output folders writable, model folders and trace files readable and parsed,
the library's config dataclasses built from the flags) before any training or evaluation
starts; the *run* phase does the work.  What goes wrong is reported in one of three ways:

* bad input (:class:`UsageError`): ``netgpt-lite <cmd>: error: argument --flag: ...`` on stderr,
  naming the flag and the allowed range, exit status 2;
* a file system that refuses a write once the work runs (full, read-only, permission denied; also
  when the ``OSError`` is the cause of another error): ``netgpt-lite <cmd>: error: <path>: No space left
  on device (ENOSPC); ...`` on one line, naming the file (or, when the error does not say, the output
  flags' paths), exit status 1;
* anything else, a bug or a failure of the machine: ``netgpt-lite <cmd>: internal error: <Type>: ...``
  on one line, exit status 1 (``NETGPT_LITE_DEBUG=1`` prints the traceback too);
* Ctrl-C: exit status 130, quietly.

The spellings are shared by every subcommand: ``--model DIR`` is a model folder (or Hub id),
``--out`` is where results go, ``--fast`` / ``--no-fast`` pick the small preset (without either,
``NETGPT_LITE_FAST=1`` means ``--fast``), ``--n-...`` are counts and ``--seed`` is one seed.

The subcommands live in :mod:`netgpt_lite.cli.basics`, :mod:`netgpt_lite.cli.models`,
:mod:`netgpt_lite.cli.runs` and :mod:`netgpt_lite.cli.serve`; the shared argument types in :mod:`netgpt_lite.cli.arguments`
(those of paths in :mod:`netgpt_lite.cli.files`), and the bound of every count in :mod:`netgpt_lite.cli.bounds`.
The library imports no heavy package (torch, transformers, trl, datasets, sympy) at import time,
so ``netgpt-lite --help`` stays fast.

Example:
    $ netgpt-lite threshold --bandwidth-mbps 50 --rtt-ms 40 --json
    $ netgpt-lite --version
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from netgpt_lite import __version__
from netgpt_lite.cli.arguments import (
    DEBUG_ENV_VAR,
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    OUTPUTS,
    PROG,
    Parser,
    UsageError,
)
from netgpt_lite.cli.basics import add_claims, add_provenance, add_regenerate, add_tasks, add_threshold
from netgpt_lite.cli.evaluation import add_eval_edge, add_paired
from netgpt_lite.cli.models import add_e5, add_rl, add_tables, add_train_edge
from netgpt_lite.cli.runs import add_frontier, add_reproduce, add_synergy
from netgpt_lite.cli.serve import add_serve
from netgpt_lite.runtime import RunFolderError

# subcommand name -> function adding its parser (a plain dict, in chapter order)
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "threshold": add_threshold,
    "tasks": add_tasks,
    "train-edge": add_train_edge,
    "eval-edge": add_eval_edge,
    "paired": add_paired,
    "frontier": add_frontier,
    "rl": add_rl,
    "e5": add_e5,
    "synergy": add_synergy,
    "reproduce": add_reproduce,
    "tables": add_tables,
    "provenance": add_provenance,
    "regenerate": add_regenerate,
    "claims": add_claims,
    "serve": add_serve,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``netgpt-lite`` parser; its errors raise :class:`UsageError` (see :func:`main`)."""
    parser = Parser(
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


_SPACE = "free some space or choose another output path"
_FILE_ERRNOS = {errno.ENOSPC: _SPACE, errno.EDQUOT: _SPACE, errno.EFBIG: "the file outgrew the size limit of this process (ulimit -f): raise it or choose another output path",
                errno.EROFS: "the file system is read-only: choose another output path",
                errno.EACCES: "fix its permissions or choose another output path",
                errno.EPERM: "fix its permissions or choose another output path"}


def _file_error(err: BaseException | None) -> OSError | None:
    """The ``OSError`` of a full, read-only or forbidding file system behind ``err`` (itself or a cause)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _FILE_ERRNOS:
            return err
        err = err.__cause__ or err.__context__
    return None


def _file_error_line(err: OSError, args: argparse.Namespace | None) -> str:
    """``<path>: <reason> (<ERRNO>); <what to do>``: the file the error names, else the output flags' paths."""
    if err.filename is not None:
        where = repr(os.fsdecode(err.filename))
        if err.filename2 is not None:
            where += f" -> {os.fsdecode(err.filename2)!r}"
    else:
        outputs = getattr(args, OUTPUTS, None) or {}
        where = ("writing " + ", ".join(f"{flag} {str(path)!r}" for flag, path in outputs.items())
                 if outputs else "writing an output")
    return f"{where}: {err.strerror or err} ({errno.errorcode.get(err.errno, err.errno)}); {_FILE_ERRNOS[err.errno]}"


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that flushing it at exit does not fail a second time."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no descriptor behind it (a test's capture)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    Returns:
        0 on success; 2 for invalid arguments (:class:`UsageError`); 1 for a write the file system
        refused or an internal error; 130 when interrupted; 141 (as a shell reports SIGPIPE) when the reader
        of the output closed it first, silently.  ``--help`` and ``--version`` return 0.
    """
    prog, args = PROG, None
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
    except (UsageError, RunFolderError) as err:  # RunFolderError: a damaged/foreign --out or --log-dir
        if _debug():
            traceback.print_exc()
        print(f"{err.prog or prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output went away (`| head`): nothing is left to tell it
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as err:  # noqa: BLE001 - the one place that reports unexpected failures
        refused = _file_error(err)
        if refused is not None:  # a full, read-only or forbidding file system: the path and the reason
            if _debug():
                traceback.print_exc()
            print(f"{prog}: error: {_file_error_line(refused, args)}", file=sys.stderr)
            return EXIT_INTERNAL
        message = " ".join(str(err).split())
        what = f"{type(err).__name__}: {message}" if message else type(err).__name__
        if _debug():
            traceback.print_exc()
            print(f"{prog}: internal error: {what}", file=sys.stderr)
        else:
            print(f"{prog}: internal error: {what} (set {DEBUG_ENV_VAR}=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL

