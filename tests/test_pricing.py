"""Tests for netgpt_lite.network.pricing: Price validation, schedules, request cost."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.network.pricing import (
    PRICING_SCHEDULES,
    FlatPricing,
    PeakOffPeakPricing,
    Price,
    PricingSchedule,
    SurgePricing,
    request_cost_usd,
)


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf])
@pytest.mark.parametrize("field", ["usd_per_1k_input", "usd_per_1k_output"])
def test_price_rejects_negative_and_non_finite(field, bad):
    with pytest.raises(ValueError, match=rf"{field} must be finite and >= 0, allowed range \[0, inf\)"):
        Price(**{field: bad})


def test_free_price_is_allowed_and_costs_nothing():
    assert float(request_cost_usd(1000, 100, Price(0.0, 0.0))) == 0.0


def test_request_cost_formula_and_broadcasting():
    p = Price(0.003, 0.015)
    assert float(request_cost_usd(1500, 40, p)) == pytest.approx((1500 * 0.003 + 40 * 0.015) / 1000)
    costs = request_cost_usd(np.array([100, 200]), 10, p)
    assert costs.shape == (2,) and costs[1] > costs[0]
    arrays = (np.array([0.001, 0.002]), np.array([0.01, 0.02]))
    np.testing.assert_allclose(request_cost_usd(1000, 100, arrays), [0.002, 0.004])
    with pytest.raises(ValueError, match="n_input_tokens"):
        request_cost_usd(-1, 10, p)
    with pytest.raises(ValueError, match="usd_per_1k_output"):
        request_cost_usd(1, 10, (np.array([0.1]), np.array([-0.1])))


def test_schedule_names():
    assert set(PRICING_SCHEDULES) == {"flat", "peak_offpeak", "surge"}


def test_flat_is_constant():
    s = FlatPricing(Price(0.01, 0.02))
    p_in, p_out = s.prices_at(np.linspace(0, 86400, 7), np.linspace(0, 1, 7))
    assert (p_in == 0.01).all() and (p_out == 0.02).all()
    assert s.price_at(123.0, 0.9) == Price(0.01, 0.02)


def test_peak_offpeak_by_time_of_day_and_wraps_daily():
    s = PeakOffPeakPricing(Price(0.001, 0.004), peak_multiplier=3.0, peak_start_h=8, peak_end_h=20)
    hours = np.array([0.0, 7.99, 8.0, 12.0, 19.99, 20.0, 23.0, 24 + 12.0])
    p_in, _ = s.prices_at(hours * 3600.0)
    np.testing.assert_allclose(p_in / 0.001, [1, 1, 3, 3, 3, 1, 1, 3])
    with pytest.raises(ValueError, match="peak_start_h"):
        PeakOffPeakPricing(peak_start_h=18, peak_end_h=9)


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_surge_is_monotone_in_load_and_bounded(l1, l2):
    s = SurgePricing(Price(0.002, 0.01), max_multiplier=4.0, load_threshold=0.5)
    lo, hi = sorted((l1, l2))
    a, b = s.price_at(0.0, lo), s.price_at(0.0, hi)
    assert a.usd_per_1k_input <= b.usd_per_1k_input <= 4.0 * 0.002 + 1e-15
    assert a.usd_per_1k_input >= 0.002


def test_surge_shape():
    s = SurgePricing(Price(0.002, 0.01), max_multiplier=3.0, load_threshold=0.7)
    m = s.multiplier_at(0.0, np.array([0.0, 0.7, 0.85, 1.0]))
    np.testing.assert_allclose(m, [1.0, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="load"):
        s.prices_at(0.0, 1.2)
    with pytest.raises(ValueError, match="max_multiplier"):
        SurgePricing(max_multiplier=0.5)


def test_vectorised_matches_scalar():
    t = np.linspace(0, 86400, 25)
    load = np.linspace(0, 1, 25)
    for schedule in PRICING_SCHEDULES.values():
        p_in, p_out = schedule.prices_at(t, load)
        for i in range(0, 25, 6):
            p = schedule.price_at(float(t[i]), float(load[i]))
            assert (p.usd_per_1k_input, p.usd_per_1k_output) == (p_in[i], p_out[i])


def test_prices_come_from_the_base_class_once():
    """A schedule says only its multiplier; ``prices_at`` and ``price_at`` are the base class's."""

    @dataclasses.dataclass(frozen=True)
    class Doubled(PricingSchedule):
        base: Price = Price(0.001, 0.004)

        def multiplier_at(self, t_s, load=0.0):
            return np.full(np.broadcast_shapes(np.shape(t_s), np.shape(load)), 2.0)

    p_in, p_out = Doubled().prices_at(np.zeros(3))
    assert p_in.tolist() == [0.002] * 3 and p_out.tolist() == [0.008] * 3
    assert Doubled().price_at(0.0) == Price(0.002, 0.008)
    for cls in (FlatPricing, PeakOffPeakPricing, SurgePricing, Doubled):
        assert "prices_at" not in vars(cls) and "price_at" not in vars(cls)
