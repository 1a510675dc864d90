"""Shared test settings: offline, deterministic, and light on the 2 CPU cores."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("NETGPT_LITE_FAST", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on 2 cores: one thread per worker (set before torch is imported), else the workers'
    # threads oversubscribe the cores and spin-wait on each other (a fast chapter went 60 s -> 360 s+)
    os.environ["OMP_NUM_THREADS"] = "1"

try:
    from hypothesis import settings

    settings.register_profile("netgpt", deadline=None, max_examples=150)
    settings.load_profile("netgpt")
except ImportError:  # pragma: no cover
    pass
