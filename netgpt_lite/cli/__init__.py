"""The ``netgpt-lite`` command line (see :mod:`netgpt_lite.cli.main`)."""

from netgpt_lite.cli.arguments import UsageError
from netgpt_lite.cli.main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]
