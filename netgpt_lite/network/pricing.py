"""What a cloud fallback costs in money: per-token prices and how they change over a day or with load.

A price is ``p = (usd_per_1k_input, usd_per_1k_output)``, the way cloud LLM APIs bill.  A request
with ``n_in`` input and ``n_out`` output tokens costs ``C_c = (n_in * p_in + n_out * p_out) / 1000``
USD.  Three schedules say what the price is at time ``t_s`` (seconds since
midnight, wrapping every day) and cloud load in [0, 1]:

* ``flat``: one price, always;
* ``peak_offpeak``: a higher price during working hours, like time-of-use tariffs;
* ``surge``: the price multiplies as cloud load passes a threshold, like ride-hailing surge pricing.

The default numbers are *illustrative* (the order of magnitude of a mid-size hosted model), not any
provider's price list.

Example:
    >>> from netgpt_lite.network.pricing import PRICING_SCHEDULES, request_cost_usd
    >>> price = PRICING_SCHEDULES["peak_offpeak"].price_at(12 * 3600)  # noon: peak
    >>> round(float(request_cost_usd(1500, 40, price)), 6)
    0.0102
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netgpt_lite.network.state import positive_array

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Price:
    """Cloud price per 1,000 tokens, in USD (finite, >= 0).

    Attributes:
        usd_per_1k_input: price of 1,000 prompt (input) tokens.
        usd_per_1k_output: price of 1,000 generated (output) tokens.

    Example:
        >>> Price(0.003, 0.015).scaled(2.0)
        Price(usd_per_1k_input=0.006, usd_per_1k_output=0.03)
    """

    usd_per_1k_input: float = 0.003
    usd_per_1k_output: float = 0.015

    def __post_init__(self) -> None:
        positive_array("usd_per_1k_input", self.usd_per_1k_input, allow_zero=True)
        positive_array("usd_per_1k_output", self.usd_per_1k_output, allow_zero=True)

    def scaled(self, factor: float) -> Price:
        """The same price times ``factor`` (>= 0)."""
        f = float(positive_array("factor", factor, allow_zero=True))
        return Price(self.usd_per_1k_input * f, self.usd_per_1k_output * f)


def request_cost_usd(n_input_tokens, n_output_tokens, price) -> np.ndarray:
    """USD cost of cloud requests, (n_in * p_in + n_out * p_out) / 1000 (broadcasts).

    Args:
        n_input_tokens: prompt tokens per request (>= 0), scalar or array.
        n_output_tokens: generated tokens per request (>= 0), scalar or array.
        price: a :class:`Price`, or a pair of arrays ``(usd_per_1k_input, usd_per_1k_output)`` as
            returned by a schedule's ``prices_at``.

    Example:
        >>> float(request_cost_usd(1000, 1000, Price(0.001, 0.002)))
        0.003
    """
    if isinstance(price, Price):
        p_in, p_out = price.usd_per_1k_input, price.usd_per_1k_output
    else:
        p_in, p_out = price
    n_in = positive_array("n_input_tokens", n_input_tokens, allow_zero=True)
    n_out = positive_array("n_output_tokens", n_output_tokens, allow_zero=True)
    p_in = positive_array("usd_per_1k_input", p_in, allow_zero=True)
    p_out = positive_array("usd_per_1k_output", p_out, allow_zero=True)
    return (n_in * p_in + n_out * p_out) / 1000.0


def _load_array(load) -> np.ndarray:
    arr = np.asarray(load, dtype=float)
    if not (np.isfinite(arr) & (arr >= 0) & (arr <= 1)).all():
        raise ValueError(
            f"load must be a cloud utilisation in [0, 1]; got {arr[~((arr >= 0) & (arr <= 1))].flat[0]}"
        )
    return arr


def _time_array(t_s) -> np.ndarray:
    arr = np.asarray(t_s, dtype=float)
    if not np.isfinite(arr).all():
        raise ValueError("t_s must be finite (seconds since midnight; values wrap every 86,400 s)")
    return arr


class PricingSchedule:
    """Base of the price schedules: a subclass says only how the base price is multiplied
    (:meth:`multiplier_at`); the vectorised :meth:`prices_at` and the scalar :meth:`price_at` live here, once.

    Subclasses are frozen dataclasses with a ``base`` :class:`Price`.

    Example:
        >>> p_in, p_out = FlatPricing(Price(0.001, 0.002)).prices_at([0.0, 3600.0])
        >>> p_in.tolist(), float(p_out[1])
        ([0.001, 0.001], 0.002)
    """

    base: Price

    def multiplier_at(self, t_s, load=0.0) -> np.ndarray:  # pragma: no cover - abstract
        """Factor on the base price at time ``t_s`` and cloud ``load`` (broadcast arrays)."""
        raise NotImplementedError

    def prices_at(self, t_s, load=0.0) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised: arrays ``(usd_per_1k_input, usd_per_1k_output)`` broadcast over ``t_s``, ``load``."""
        m = self.multiplier_at(t_s, load)
        return m * self.base.usd_per_1k_input, m * self.base.usd_per_1k_output

    def price_at(self, t_s: float, load: float = 0.0) -> Price:
        """The :class:`Price` in force at time ``t_s`` (s since midnight) and cloud ``load`` in [0, 1]."""
        p_in, p_out = self.prices_at(t_s, load)
        return Price(float(p_in), float(p_out))


@dataclass(frozen=True)
class FlatPricing(PricingSchedule):
    """The same price at every time and load."""

    base: Price = Price()

    def multiplier_at(self, t_s, load=0.0) -> np.ndarray:
        """Always 1 (shaped like the broadcast of ``t_s`` and ``load``)."""
        return np.ones(np.broadcast_shapes(_time_array(t_s).shape, _load_array(load).shape))


@dataclass(frozen=True)
class PeakOffPeakPricing(PricingSchedule):
    """``peak_multiplier`` times the base price from ``peak_start_h`` to ``peak_end_h`` (local hours)."""

    base: Price = Price()
    peak_multiplier: float = 2.0
    peak_start_h: float = 9.0
    peak_end_h: float = 18.0

    def __post_init__(self) -> None:
        positive_array("peak_multiplier", self.peak_multiplier)
        if not 0.0 <= self.peak_start_h < self.peak_end_h <= 24.0:
            raise ValueError(
                f"need 0 <= peak_start_h < peak_end_h <= 24; got {self.peak_start_h}, {self.peak_end_h}"
            )

    def multiplier_at(self, t_s, load=0.0) -> np.ndarray:
        """``peak_multiplier`` inside the peak window, 1 outside; the load is ignored."""
        hour = np.mod(_time_array(t_s), SECONDS_PER_DAY) / 3600.0
        peak = (hour >= self.peak_start_h) & (hour < self.peak_end_h)
        m = np.where(peak, self.peak_multiplier, 1.0)
        return np.broadcast_to(m, np.broadcast_shapes(m.shape, _load_array(load).shape)).astype(float)


@dataclass(frozen=True)
class SurgePricing(PricingSchedule):
    """Surge pricing: the multiplier rises linearly from 1 at ``load_threshold`` to
    ``max_multiplier`` at full load (load 1), and is 1 below the threshold."""

    base: Price = Price()
    max_multiplier: float = 3.0
    load_threshold: float = 0.7

    def __post_init__(self) -> None:
        if not (np.isfinite(self.max_multiplier) and self.max_multiplier >= 1.0):
            raise ValueError(f"max_multiplier must be finite and >= 1; got {self.max_multiplier}")
        if not 0.0 <= self.load_threshold < 1.0:
            raise ValueError(f"load_threshold must be in [0, 1); got {self.load_threshold}")

    def multiplier_at(self, t_s, load=0.0) -> np.ndarray:
        """1 + (max_multiplier - 1) * clip((load - load_threshold) / (1 - load_threshold), 0, 1)."""
        t = _time_array(t_s)
        excess = np.clip((_load_array(load) - self.load_threshold) / (1.0 - self.load_threshold), 0.0, 1.0)
        m = 1.0 + (self.max_multiplier - 1.0) * excess
        return np.broadcast_to(m, np.broadcast_shapes(m.shape, t.shape)).astype(float)


# schedule name -> schedule with the default (illustrative) base price
PRICING_SCHEDULES: dict[str, PricingSchedule] = {
    "flat": FlatPricing(),
    "peak_offpeak": PeakOffPeakPricing(),
    "surge": SurgePricing(),
}
