"""The fallback threshold in SymPy: derivation, sign proofs, uniqueness, two extensions, lambdify.

Companion of :mod:`netgpt_lite.theory.threshold` (which holds the light numpy path).  Every claim is
returned as a :class:`ProofResult` whose ``verdict`` is SymPy's own answer to a sign question
(``expr.is_positive is True`` under the stated positivity assumptions), so a chapter can show the
expression and assert the verdict.  SymPy is imported inside functions only.

Example:
    >>> from netgpt_lite.theory.proofs import prove_generic_monotonicity
    >>> all(r.verdict for r in prove_generic_monotonicity())
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import numpy as np

from netgpt_lite.network.state import LatencyModel, positive_array
from netgpt_lite.theory.threshold import LogisticCalibration, UtilityWeights, Workload, _probability

ASSUMPTIONS = (
    "B, RTT, S_req, S_resp, n_in, n_out, Q, v_c, R, lambda_T, lambda_C, q_c, p_in, p_out, a > 0; "
    "b real; g strictly increasing (g' > 0)"
)


@dataclass(frozen=True)
class ProofResult:
    """One checked claim: the text, the SymPy expression whose sign proves it, and the verdict."""

    claim: str
    expression: Any
    verdict: bool
    assumptions: str = ASSUMPTIONS

    def _repr_markdown_(self) -> str:  # shown nicely in notebooks

        return (
            f"**{'proved' if self.verdict else 'NOT proved'}**: {self.claim}  \n$${latex(self.expression)}$$"
        )


@lru_cache(maxsize=1)
def sym() -> SimpleNamespace:
    """The symbols of the model, with the assumptions the proofs use."""
    import sympy as sp

    pos = dict(positive=True)
    names = "B RTT p_in p_out q_c R lambda_T lambda_C S_req S_resp n_in n_out Q v_c a D m P_miss mu C_c T_c x"
    ns = SimpleNamespace(**{n: sp.Symbol(n, **pos) for n in names.split()})
    ns.b, ns.s, ns.kappa = sp.symbols("b s kappa", real=True)
    ns.g, ns.g_inv = sp.Function("g"), sp.Function("g^{-1}")
    ns.g_prime = sp.Symbol("gprime_tau", positive=True)  # g'(tau*), the slope of g at tau*, > 0
    ns.g_prime_s = sp.Symbol("gprime_s", positive=True)  # g'(s), the slope of g at a score s, > 0
    return ns


def latex(expr) -> str:
    """LaTeX of a SymPy expression with the book's symbol names (g'(tau*), RTT upright)."""
    import sympy as sp

    z = sym()
    names = {z.g_prime: r"g'(\tau^*)", z.g_prime_s: "g'(s)", z.RTT: r"\mathrm{RTT}"}
    return sp.latex(expr, symbol_names=names)


def cloud_time_expr():
    """T_c = RTT + 8 (S_req + S_resp) / (1000 B) + Q + 1000 n_out / v_c   [ms]."""
    z = sym()
    return z.RTT + 8 * (z.S_req + z.S_resp) / (1000 * z.B) + z.Q + 1000 * z.n_out / z.v_c


def cost_expr():
    """C_c = (n_in p_in + n_out p_out) / 1000   [USD]."""
    z = sym()
    return (z.n_in * z.p_in + z.n_out * z.p_out) / 1000


def shorthand(expr):
    r"""``expr`` written with the symbols T_c and C_c for the cloud time and cost wherever it depends on them.

    A derived expression expands T_c (eq-cloud-time) and C_c into a dozen symbols, too long to read (or to fit a
    page); putting them back makes it the size of the chapter's own equations. The change of variables
    Q -> T_c, p_in -> C_c is invertible, and the result is checked by substituting back.

    Example:
        >>> from netgpt_lite.theory.proofs import kappa_expr, latex, shorthand
        >>> latex(shorthand(kappa_expr()))
        '\\frac{- C_{c} \\lambda_{C} + R q_{c} - T_{c} \\lambda_{T}}{R}'
    """
    import sympy as sp

    z = sym()
    if not expr.has(z.Q, z.p_in):
        return expr  # nothing to put back: left exactly as derived
    q_from_t = sp.solve(sp.Eq(cloud_time_expr(), z.T_c), z.Q)[0]
    p_in_from_c = sp.solve(sp.Eq(cost_expr(), z.C_c), z.p_in)[0]
    short = sp.simplify(expr.subs({z.Q: q_from_t, z.p_in: p_in_from_c}))
    back = short.subs({z.T_c: cloud_time_expr(), z.C_c: cost_expr()})
    if sp.simplify(back - expr) != 0:  # cannot happen for an invertible substitution; guards a future edit
        raise ArithmeticError(f"shorthand changed the expression: {expr} -> {short}")
    return short


def derivation() -> dict[str, Any]:
    """The derivation step by step: utilities, their difference, kappa, tau* (generic and logistic)."""
    return dict(_derivation())


@lru_cache(maxsize=1)
def _derivation() -> dict[str, Any]:
    import sympy as sp

    z = sym()
    keep = z.R * z.g(z.s)
    fallback = z.R * z.q_c - z.lambda_T * cloud_time_expr() - z.lambda_C * cost_expr()
    g_value = sp.Symbol("g_s", real=True)  # solve the indifference condition for the value of g(s)
    (kappa,) = sp.solve(sp.Eq(keep.subs(z.g(z.s), g_value), fallback), g_value, simplify=False)
    logistic = 1 / (1 + sp.exp(-(z.a * z.s + z.b)))
    (tau_logistic,) = sp.solve(sp.Eq(logistic, z.kappa), z.s)
    return {
        "utility_keep": keep,
        "utility_fallback": fallback,
        "advantage_of_keeping": sp.expand(keep - fallback),
        "kappa": sp.expand(kappa),
        "tau_generic": z.g_inv(z.kappa),
        "logistic_calibration": logistic,
        "tau_logistic": tau_logistic,
    }


def kappa_expr():
    return derivation()["kappa"]


def inverse_derivative():
    """d/dx g^-1(x) = 1 / g'(g^-1(x)), derived by differentiating the identity g(g^-1(x)) = x."""
    import sympy as sp

    z, x = sym(), sp.Symbol("x", real=True)
    d_identity = sp.diff(z.g(z.g_inv(x)) - x, x)
    (slope,) = sp.solve(d_identity, sp.Derivative(z.g_inv(x), x))
    return slope


def sign_claim(claim: str, expr, sign: int, assumptions: str = ASSUMPTIONS) -> ProofResult:
    """SymPy's verdict on "``expr`` has sign ``sign`` (+1 or -1) under the symbols' assumptions".

    The verdict is whatever SymPy proves after simplification: ``False`` both when the claim is
    false and when SymPy cannot decide, so a ``True`` is a proof and a ``False`` is not a disproof.

    Example:
        >>> z = sym()
        >>> sign_claim("a is positive", z.a, +1).verdict
        True
    """
    import sympy as sp

    expr = sp.simplify(expr)
    verdict = expr.is_positive if sign > 0 else expr.is_negative
    return ProofResult(claim, expr, bool(verdict), assumptions)


def prove_generic_monotonicity() -> list[ProofResult]:
    """d tau*/dB > 0, d tau*/dRTT < 0, d tau*/dp_in < 0, d tau*/dp_out < 0 for any increasing g.

    Chain rule: d tau*/dv = (g^-1)'(kappa) * d kappa/dv = d kappa/dv / g'(tau*), and g'(tau*) > 0.
    (Strict inside (0, 1); where the clip to [0, 1] saturates tau* is flat, so weakly monotone.)
    """
    z = sym()
    k = kappa_expr()
    claims = [("B", "tau* rises with bandwidth", 1), ("RTT", "tau* falls with RTT", -1)]
    claims += [("p_in", "tau* falls with the input-token price", -1)]
    claims += [("p_out", "tau* falls with the output-token price", -1)]
    return [sign_claim(text, k.diff(getattr(z, v)) / z.g_prime, sign) for v, text, sign in claims]


def prove_logistic_monotonicity() -> list[ProofResult]:
    """The same signs for the closed form tau* = (log(kappa/(1-kappa)) - b)/a, inside the clip.

    d tau*/dv = d tau*/d kappa * d kappa/dv with d tau*/d kappa = 1/(a kappa (1 - kappa)).  Inside
    the clip 0 < kappa < 1, written kappa = 1/(1+m) with m > 0 so SymPy can use positivity.  The
    chain-rule factorisation is checked against the derivative of the fully substituted form.
    """
    import sympy as sp

    z = sym()
    d = derivation()
    k = d["kappa"]
    dtau_dk = sp.simplify(sp.diff(d["tau_logistic"], z.kappa))
    inner = sign_claim(
        "logistic: d tau*/d kappa > 0 for kappa in (0, 1)", dtau_dk.subs(z.kappa, 1 / (1 + z.m)), 1
    )
    results = [
        ProofResult(inner.claim, dtau_dk, inner.verdict, ASSUMPTIONS + "; 0 < kappa < 1 (kappa = 1/(1+m))")
    ]
    for v, text, sign in [("B", "bandwidth", 1), ("RTT", "RTT", -1), ("p_in", "input price", -1)]:
        var = getattr(z, v)
        full = sp.diff(d["tau_logistic"].subs(z.kappa, k), var)
        chain_exact = sp.cancel(full - dtau_dk.subs(z.kappa, k) * k.diff(var)) == 0
        factor = sign_claim("", k.diff(var), sign)
        verdict = chain_exact and inner.verdict and factor.verdict
        word = "rises" if sign > 0 else "falls"
        expr = sp.Mul(dtau_dk, factor.expression, evaluate=False)
        results.append(
            ProofResult(f"logistic: tau* {word} with {text}", expr, verdict, results[0].assumptions)
        )
    return results


def prove_uniqueness() -> list[ProofResult]:
    """The advantage of keeping, A(s) = R (g(s) - kappa), is strictly increasing, so it crosses zero
    at most once, and exactly once in [0, 1] iff g(0) <= kappa <= g(1) (intermediate values).
    """
    import sympy as sp

    z = sym()
    d = derivation()
    slope = sp.diff(d["advantage_of_keeping"], z.s).subs(sp.Derivative(z.g(z.s), z.s), z.g_prime_s)
    generic = sign_claim("generic g: dA/ds = R g'(s) > 0, so A has at most one zero", slope, 1)
    logistic_slope = sp.diff(d["logistic_calibration"], z.s)
    roots = sp.solve(sp.Eq(d["logistic_calibration"], z.kappa), z.s)
    logistic = ProofResult(
        "logistic g: g'(s) > 0 and g(s) = kappa has exactly one solution",
        logistic_slope,
        bool(logistic_slope.is_positive) and len(roots) == 1,
    )
    return [generic, logistic]


def deadline_kappa_expr(slack: bool = True):
    """kappa with a deadline D and RTT = RTT_min + Exp(mean m): extra lambda_T m + P_miss exp(-(D - T_c)/m).

    With ``slack=True`` the miss probability is exp(-(D - T_c)/m) (the case D > T_c); otherwise 1.
    """
    import sympy as sp

    z = sym()
    t_c = cloud_time_expr()
    p_miss = sp.exp(-(z.D - t_c) / z.m) if slack else sp.Integer(1)
    return z.q_c - (z.lambda_T * (t_c + z.m) + z.lambda_C * cost_expr() + z.P_miss * p_miss) / z.R


def prove_deadline_monotonicity() -> list[ProofResult]:
    """Extension (i): kappa (hence tau*) rises with bandwidth and falls with the RTT mean, in both
    regions (slack D - T_c = x > 0, and missed for sure); the two agree at x = 0 (continuity)."""
    import sympy as sp

    z = sym()
    out = []
    assume = ASSUMPTIONS + "; D, m, P_miss > 0; slack x = D - T_c > 0 where the deadline is reachable"
    for slack in (True, False):
        k = deadline_kappa_expr(slack)
        region = "deadline reachable" if slack else "deadline missed for sure"
        for v, text, sign in [
            ("B", "bandwidth", 1),
            ("m", "mean RTT jitter", -1),
            ("RTT", "minimum RTT", -1),
        ]:
            deriv = k.diff(getattr(z, v))
            if slack:  # write D = T_c + x with x > 0 so that the sign is decidable
                deriv = deriv.subs(z.D, cloud_time_expr() + z.x)
            word = "rises" if sign > 0 else "falls"
            out.append(sign_claim(f"deadline ({region}): tau* {word} with {text}", deriv, sign, assume))
    gap = sp.simplify(deadline_kappa_expr(True).subs(z.D, cloud_time_expr()) - deadline_kappa_expr(False))
    out.append(ProofResult("deadline: kappa is continuous where D = T_c", gap, gap == 0, assume))
    return out


def prove_budget_threshold() -> list[ProofResult]:
    """Extension (ii): maximise E[success] s.t. E[cost] <= budget.  The pointwise Lagrangian
    (1 - r) g(s) + r q_c - mu (r C_c - budget) is linear in the fallback indicator r, so r = 1 iff
    g(s) < q_c - mu C_c: the same threshold shape (lambda_T = 0, lambda_C / R = mu).  A tighter budget
    means a larger mu and a lower threshold; the budget binds at cloud fraction budget / C_c, reached by
    the score quantile at that fraction -- RouteLLM's calibration.
    """
    import sympy as sp

    z = sym()
    r = sp.Symbol("r", real=True)
    lagrangian = (1 - r) * z.g(z.s) + r * z.q_c - z.mu * r * z.C_c  # + mu * budget, free of r
    (g_star,) = sp.solve(sp.diff(lagrangian, r), z.g(z.s))  # indifference point of r
    shaped = kappa_expr().subs({z.lambda_T: 0, z.lambda_C: z.mu * z.R})  # q_c - mu * C_c(p)
    same = ProofResult(
        "budget: the multiplier gives the threshold g^-1(q_c - mu C_c), the same shape as kappa",
        sp.Eq(z.g_inv(g_star), z.g_inv(shaped)),
        sp.simplify(g_star.subs(z.C_c, cost_expr()) - shaped) == 0,
    )
    tighter = sign_claim(
        "budget: tau* falls as the multiplier mu grows", sp.diff(g_star, z.mu) / z.g_prime, -1
    )
    return [same, tighter]


def all_proofs() -> list[ProofResult]:
    """Every claim of chapter 2, in order."""
    return [
        *prove_generic_monotonicity(),
        *prove_logistic_monotonicity(),
        *prove_uniqueness(),
        *prove_deadline_monotonicity(),
        *prove_budget_threshold(),
    ]


def threshold_expr():
    """tau*(B, RTT, p, ...) for logistic g as a SymPy Piecewise: 0 if kappa <= g(0), 1 if kappa >= g(1)."""
    import sympy as sp

    z, d = sym(), derivation()
    k = d["kappa"]
    g0, g1 = d["logistic_calibration"].subs(z.s, 0), d["logistic_calibration"].subs(z.s, 1)
    return sp.Piecewise((0, k <= g0), (1, k >= g1), (d["tau_logistic"].subs(z.kappa, k), True))


_ARGS = [
    "B",
    "RTT",
    "p_in",
    "p_out",
    "q_c",
    "R",
    "lambda_T",
    "lambda_C",
    "S_req",
    "S_resp",
    "n_in",
    "n_out",
    "Q",
    "v_c",
    "a",
    "b",
]


@lru_cache(maxsize=1)
def threshold_lambdified():
    """The Piecewise closed form compiled to a numpy function of the symbols in ``_ARGS`` order."""
    import sympy as sp

    z = sym()
    return sp.lambdify([getattr(z, n) for n in _ARGS], threshold_expr(), modules="numpy")


def optimal_threshold_lambdified(
    bandwidth_mbps,
    rtt_ms,
    usd_per_1k_input,
    usd_per_1k_output,
    *,
    q_cloud=0.9,
    weights: UtilityWeights = UtilityWeights(),  # noqa: B008
    workload: Workload = Workload(),  # noqa: B008
    latency: LatencyModel = LatencyModel(),  # noqa: B008
    calibration: LogisticCalibration = LogisticCalibration(),  # noqa: B008
) -> np.ndarray:
    """Same as :func:`netgpt_lite.theory.threshold.optimal_threshold` (no deadline), via SymPy lambdify."""
    values = [
        positive_array("bandwidth_mbps", bandwidth_mbps),
        positive_array("rtt_ms", rtt_ms),
        positive_array("usd_per_1k_input", usd_per_1k_input, allow_zero=True),
        positive_array("usd_per_1k_output", usd_per_1k_output, allow_zero=True),
        _probability("q_cloud", q_cloud),
        weights.reward,
        weights.lambda_latency_per_ms,
        weights.lambda_cost_per_usd,
        workload.request_bytes,
        workload.response_bytes,
        workload.n_input_tokens,
        workload.n_output_tokens,
        latency.queueing_ms,
        latency.cloud_tokens_per_s,
        calibration.a,
        calibration.b,
    ]
    with np.errstate(divide="ignore", invalid="ignore"):  # np.select evaluates every branch
        tau = threshold_lambdified()(*values)
    shape = np.broadcast_shapes(*(np.shape(v) for v in values))
    return np.broadcast_to(np.asarray(tau, dtype=float), shape)
