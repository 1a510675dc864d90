"""Shared test settings: offline, deterministic, and light on the 2 CPU cores."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("NETGPT_LITE_FAST", "1")

try:
    from hypothesis import settings

    settings.register_profile("netgpt", deadline=None, max_examples=150)
    settings.load_profile("netgpt")
except ImportError:  # pragma: no cover
    pass
