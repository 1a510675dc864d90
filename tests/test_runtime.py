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
