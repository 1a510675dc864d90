"""``python -m netgpt_lite`` runs the command line."""

import sys

from netgpt_lite.cli import main

sys.exit(main())
