"""A circuit breaker for the upstream cloud: stop calling a cloud that keeps failing, try again later.

Closed (calls go through) until ``max_failures`` calls in a row failed; then open for ``open_s``
seconds (every fallback is answered by the edge, flagged degraded, without waiting for a dead
cloud); then half-open: one trial call is let through, and its success closes the circuit while
its failure opens it again for another ``open_s``.

Example:
    >>> now = [0.0]
    >>> breaker = CircuitBreaker(max_failures=2, open_s=10.0, clock=lambda: now[0])
    >>> breaker.record(False); breaker.record(False); breaker.allow()
    False
    >>> now[0] = 11.0; breaker.allow(), breaker.allow()  # half-open: one trial call
    (True, False)
    >>> breaker.record(True); breaker.state
    'closed'
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed -> open after ``max_failures`` consecutive failures -> half-open after ``open_s`` seconds.

    Args:
        max_failures: Consecutive failed calls that open the circuit (>= 1).
        open_s: How long it stays open before a trial call, seconds (finite, > 0).
        clock: Monotonic clock in seconds (inject one in tests).
    """

    def __init__(self, max_failures: int = 5, open_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        if max_failures < 1:
            raise ValueError(f"max_failures must be >= 1; got {max_failures}")
        if not (math.isfinite(open_s) and open_s > 0):
            raise ValueError(f"open_s must be a finite number > 0 seconds; got {open_s}")
        self.max_failures, self.open_s, self._clock = max_failures, open_s, clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_out = False

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "open" if self._clock() - self._opened_at < self.open_s else "half_open"

    def allow(self) -> bool:
        """Whether a call may go to the upstream now (in half-open state: the one trial call)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at < self.open_s or self._trial_out:
                return False
            self._trial_out = True
            return True

    def record(self, ok: bool) -> None:
        """Record the outcome of a call that :meth:`allow` let through."""
        with self._lock:
            self._trial_out = False
            if ok:
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.max_failures:
                self._opened_at = self._clock()
