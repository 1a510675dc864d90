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

import functools
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
SFT_MMAP_BYTES = 4 << 20  # LoRA SFT: only blocks of 4 MB and more; see training_memory
_DYNAMIC_MAX_MMAP_BYTES = 32 << 20  # where glibc's own adaptive threshold ends up on 64-bit Linux


@contextmanager
def training_memory(mmap_bytes: int = _TRAINING_MMAP_BYTES):
    """Hand large freed blocks back to the operating system while a training loop runs (Linux, glibc).

    A training step allocates and frees hundreds of activation tensors of varying sizes; glibc keeps the
    freed blocks in its heap, so the resident memory of a LoRA run grew step over step (a SmolLM2 batch
    of 8: about 3 GB after two steps; an RL update kept 1.4 GB of freed activations, many just under
    1 MB).  Inside this context, blocks of 128 kB and more are mapped separately and returned when freed
    (measured: LoRA 1.5 GB; RSS after an RL update back to 1.8 GB).  Generation is not wrapped: it frees its
    KV cache every step, and mapping those blocks anew made it about 40% slower.  On exit the threshold
    goes to where glibc's adaptive one settles.  Elsewhere (macOS, musl) this does nothing.

    The price is page faults: every mapped block is zero-filled anew.  A LoRA SFT step allocates
    multi-megabyte activations hundreds of times, and at 128 kB it cost 1.7x the CPU time (2.8 against
    1.6 CPU-s per example, batch 4, measured with ``scripts/bench_lora_cost.py``); SFT therefore passes
    ``mmap_bytes=SFT_MMAP_BYTES`` (4 MB: as fast as glibc's default) and calls :func:`release_freed_memory`
    every few steps, which returns what the heap keeps between steps.

    Args:
        mmap_bytes: blocks of this size and more are mapped separately (and unmapped when freed).

    Example:
        >>> with training_memory():
        ...     pass
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, mmap_bytes)
        libc.mallopt(_M_TRIM_THRESHOLD, mmap_bytes)
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, _DYNAMIC_MAX_MMAP_BYTES)
            libc.mallopt(_M_TRIM_THRESHOLD, 2 * _DYNAMIC_MAX_MMAP_BYTES)


def release_freed_memory() -> None:
    """Return the heap's free pages to the operating system (glibc ``malloc_trim``; elsewhere nothing).

    Called between training steps: steps of different sequence lengths leave differently sized holes in
    the heap, so without it a LoRA run's RSS creeps up step over step (batch 4: 4.2 GB after 13 steps,
    3.9 GB with a trim every step, for 14% more CPU time; every 8 steps costs under 2%).

    Example:
        >>> release_freed_memory()
    """
    libc = _glibc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


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


BF16_MIN_SPEEDUP = 1.15
"""bf16 autocast is chosen on a CPU only when the probe runs at least this much faster with it: near 1 the
choice would flip with the machine's load, and fp32 is the exact one."""


@functools.lru_cache(maxsize=4)
def bf16_speedup(device: str = "cpu", repeats: int = 5) -> float:
    """How many times faster one training-shaped step runs under bf16 autocast than in fp32, on ``device``.

    A CPU advertising ``avx512_bf16`` or AMX runs bf16 matrix products natively (about 1.8x for SmolLM2
    on this project's machines); one without them emulates bf16 and is slower.  Flags alone do not say
    which (a flag list also misses new instruction sets), so this times it: the forward and backward pass
    of a SmolLM2-sized MLP block (a 256-token ``[256, 576]`` input through ``576 -> 1536 -> 576``), the
    median of ``repeats`` runs each way after a warm-up, with the threads torch has now.  Measured once
    per process (cached); about a tenth of a second.

    Returns:
        fp32 seconds / bf16 seconds (> 1: bf16 is faster); 0.0 when bf16 autocast is unavailable.

    Example:
        >>> bf16_speedup() > 0.0  # doctest: +SKIP
        True
    """
    import time

    import torch

    generator = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(256, 576, generator=generator).to(device).requires_grad_(True)
    w1 = torch.randn(1536, 576, generator=generator).div_(24.0).to(device).requires_grad_(True)
    w2 = torch.randn(576, 1536, generator=generator).div_(39.0).to(device).requires_grad_(True)

    def step(bf16: bool) -> float:
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            out = torch.nn.functional.linear(torch.nn.functional.silu(torch.nn.functional.linear(x, w1)), w2)
        out.float().square().mean().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    try:
        times = {}
        for bf16 in (False, True):
            step(bf16)  # warm-up: kernels chosen, memory allocated
            times[bf16] = sorted(step(bf16) for _ in range(repeats))[repeats // 2]
    except RuntimeError:  # no bf16 autocast on this device
        return 0.0
    return times[False] / max(times[True], 1e-9)


def prefer_bf16(device: str = "cpu") -> bool:
    """Whether training and scoring on ``device`` should run under bf16 autocast: on a GPU when it supports
    bf16, on a CPU when :func:`bf16_speedup` measures at least :data:`BF16_MIN_SPEEDUP`.

    Example:
        >>> isinstance(prefer_bf16("cpu"), bool)  # doctest: +SKIP
        True
    """
    if device == "cuda":
        import torch

        return bool(torch.cuda.is_bf16_supported())
    return bf16_speedup(device) >= BF16_MIN_SPEEDUP
