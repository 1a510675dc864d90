"""The runtime layer: choosing bf16 by measuring it, and bounding what oneDNN keeps."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from netgpt_lite import runtime


def test_bf16_is_chosen_by_a_timed_probe(monkeypatch):
    """bf16 autocast is used where it measures faster, never because a flag list says so."""
    speedup = runtime.bf16_speedup()  # measured on this machine, once per process
    assert speedup >= 0.0 and runtime.bf16_speedup() == speedup
    monkeypatch.setattr(runtime, "bf16_speedup", lambda device="cpu", repeats=5: 0.9)  # an emulating CPU
    assert runtime.prefer_bf16("cpu") is False
    monkeypatch.setattr(runtime, "bf16_speedup", lambda device="cpu", repeats=5: runtime.BF16_MIN_SPEEDUP)
    assert runtime.prefer_bf16("cpu") is True


class _FakeLibc:
    """Records the malloc calls the memory helpers make."""

    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))


def test_training_memory_maps_blocks_of_the_size_asked_and_restores_glibcs_default(monkeypatch):
    from netgpt_lite import runtime

    fake = _FakeLibc()
    monkeypatch.setattr(runtime, "_glibc", lambda: fake)
    with runtime.training_memory(runtime.SFT_MMAP_BYTES):
        inside = list(fake.calls)
    assert inside == [("mallopt", runtime._M_MMAP_THRESHOLD, 4 << 20), ("mallopt", runtime._M_TRIM_THRESHOLD, 4 << 20)]
    assert fake.calls[-2:] == [("mallopt", runtime._M_MMAP_THRESHOLD, runtime._DYNAMIC_MAX_MMAP_BYTES),
                               ("mallopt", runtime._M_TRIM_THRESHOLD, 2 * runtime._DYNAMIC_MAX_MMAP_BYTES)]
    runtime.release_freed_memory()
    assert fake.calls[-1] == ("malloc_trim", 0)


def test_bound_onednn_cache_sets_the_capacity_once_and_respects_the_environment(monkeypatch):
    monkeypatch.delenv(runtime.ONEDNN_CACHE_ENV_VAR, raising=False)
    assert runtime.bound_onednn_cache() is True
    assert os.environ[runtime.ONEDNN_CACHE_ENV_VAR] == str(runtime.ONEDNN_CACHE_CAPACITY)
    monkeypatch.setenv(runtime.ONEDNN_CACHE_ENV_VAR, "1024")  # the reader's own setting wins
    assert runtime.bound_onednn_cache() is False and os.environ[runtime.ONEDNN_CACHE_ENV_VAR] == "1024"
    monkeypatch.delenv(runtime.ONEDNN_CACHE_ENV_VAR)
    with runtime.training_memory():  # every training loop bounds it before its first product
        assert runtime.ONEDNN_CACHE_ENV_VAR in os.environ


_ONEDNN_PROBE = """
import ctypes, torch
from netgpt_lite import runtime
runtime.bound_onednn_cache()
w = torch.randn(256, 128)
for n in range(1, 301):  # 300 shapes: 300 compiled kernels, all kept at oneDNN's default
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.nn.functional.linear(torch.randn(n, 128), w)
class Info(ctypes.Structure):
    _fields_ = [(k, ctypes.c_size_t) for k in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
print(libc.mallinfo2().uordblks)
"""


@pytest.mark.skipif(sys.platform != "linux" or not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="glibc 2.33+")
def test_the_bound_takes_effect_after_torch_is_loaded():
    """oneDNN reads the capacity when it compiles its first kernel, not when torch loads: set from Python
    before any bf16 product, it keeps the heap smaller than the default does on the same 300 shapes."""

    def heap_in_use(**setting: str) -> int:
        env = {k: v for k, v in os.environ.items() if k != runtime.ONEDNN_CACHE_ENV_VAR}
        out = subprocess.run([sys.executable, "-c", _ONEDNN_PROBE], capture_output=True, text=True, check=True,
                             env={**env, "OMP_NUM_THREADS": "1", **setting}, timeout=120)
        return int(out.stdout.split()[-1])

    default = heap_in_use(**{runtime.ONEDNN_CACHE_ENV_VAR: "1024"})
    assert default - heap_in_use() > 20 * 2**20  # measured: 47 MB less
