"""The runtime layer: choosing bf16 by measuring it."""

from __future__ import annotations

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
