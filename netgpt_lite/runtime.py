"""How the library and the book run: fast mode, seeding, and the compute device.

The book executes every chapter twice in its life: quickly in CI and the test suite
(``NETGPT_LITE_FAST=1``: smaller data, fewer steps, the same assertions) and fully when the
rendered book is built.  Chapters ask :func:`fast_mode` instead of reading the environment
themselves so the switch has one spelling.

Example:
    >>> from netgpt_lite.runtime import fast_mode, pick
    >>> n_steps = pick(fast=20, full=200)
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

FAST_ENV_VAR = "NETGPT_LITE_FAST"
CACHE_ENV_VAR = "NETGPT_LITE_CACHE"


class RunFolderError(ValueError):
    """A folder a run writes into that cannot be used as asked (damaged, foreign, or missing on ``--resume``).

    The message is one line naming the file and the fix; the command line reports it like a bad argument
    (exit status 2), since the fix is the user's (another ``--out``, a restored file).  It lives here, the
    bottom layer, because the synergy loop, the service's traffic log and the training checkpoints all raise it.

    Example:
        >>> raise RunFolderError("runs/x: nothing to resume there; drop --resume to start a new run")
        Traceback (most recent call last):
        netgpt_lite.runtime.RunFolderError: runs/x: nothing to resume there; drop --resume to start a new run
    """

    prog: str | None = None  # read by the command line's error report, like its UsageError's


def fast_mode() -> bool:
    """True when ``NETGPT_LITE_FAST`` is set to a truthy value (1, true, yes, on)."""
    return os.environ.get(FAST_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(fast: T, full: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise (a chapter's size knob)."""
    return fast if fast_mode() else full


def cache_dir() -> Path:
    """The user cache folder: ``$NETGPT_LITE_CACHE``, else ``~/.cache/netgpt-lite`` (created on demand by writers).

    It holds what can be recomputed: the dense copy of the SmolLM2 base, proposal tables.
    """
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "netgpt-lite")


def set_seed(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (when importable) and return a fresh ``Generator``.

    Library code takes a ``seed`` or a ``Generator`` argument instead of relying on global
    state; this helper is for notebooks and scripts that drive torch training.

    Example:
        >>> rng = set_seed(0)
        >>> float(rng.random()) == float(np.random.default_rng(0).random())
        True
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency, but keep numpy-only use possible
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def torch_device(prefer: str | None = None) -> str:
    """Pick ``"cuda"`` when available (or when asked), else ``"cpu"``."""
    import torch

    if prefer is not None:
        return prefer
    return "cuda" if torch.cuda.is_available() else "cpu"


# glibc's mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRAINING_MMAP_BYTES = 1 << 17  # blocks of 128 kB and more go to mmap while training: freed, they leave RSS
_DYNAMIC_MAX_MMAP_BYTES = 32 << 20  # where glibc's own adaptive threshold ends up on 64-bit Linux


@contextmanager
def training_memory():
    """Hand large freed blocks back to the operating system while a training loop runs (Linux, glibc).

    A training step allocates and frees hundreds of activation tensors of varying sizes; glibc keeps the
    freed blocks in its heap, so the resident memory of a LoRA run grew step over step (a SmolLM2 batch
    of 8: about 3 GB after two steps; an RL update kept 1.4 GB of freed activations, many just under
    1 MB).  Inside this context, blocks of 128 kB and more are mapped separately and returned when freed
    (measured: LoRA 1.5 GB; RSS after an RL update back to 1.8 GB).  Generation is not wrapped: it frees its
    KV cache every step, and mapping those blocks anew made it about 40% slower.  On exit the threshold
    goes to where glibc's adaptive one settles.  Elsewhere (macOS, musl) this does nothing.

    Example:
        >>> with training_memory():
        ...     pass
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _TRAINING_MMAP_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRAINING_MMAP_BYTES)
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, _DYNAMIC_MAX_MMAP_BYTES)
            libc.mallopt(_M_TRIM_THRESHOLD, 2 * _DYNAMIC_MAX_MMAP_BYTES)


def _glibc():
    """The C library when it is glibc (``mallopt`` exists), else None."""
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None
