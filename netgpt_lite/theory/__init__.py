"""The fallback threshold (chapter 2): the numpy closed form and its SymPy derivation and proofs.

Every public name of the modules below is re-exported here.
"""


from netgpt_lite.theory.proofs import (
    ASSUMPTIONS,
    ProofResult,
    all_proofs,
    cloud_time_expr,
    cost_expr,
    deadline_kappa_expr,
    derivation,
    inverse_derivative,
    kappa_expr,
    latex,
    optimal_threshold_lambdified,
    prove_budget_threshold,
    prove_deadline_monotonicity,
    prove_generic_monotonicity,
    prove_logistic_monotonicity,
    prove_uniqueness,
    sign_claim,
    sym,
    threshold_expr,
    threshold_lambdified,
)
from netgpt_lite.theory.sweep import (
    ALWAYS_CLOUD,
    cloud_fraction,
    threshold_for_cloud_fraction,
    threshold_sweep,
)
from netgpt_lite.theory.threshold import (
    Deadline,
    LogisticCalibration,
    UtilityWeights,
    Workload,
    expected_utility,
    kappa,
    optimal_threshold,
    synthetic_scores,
)

__all__ = [
    "UtilityWeights",
    "Workload",
    "LogisticCalibration",
    "Deadline",
    "kappa",
    "optimal_threshold",
    "expected_utility",
    "synthetic_scores",
    "ALWAYS_CLOUD",
    "threshold_sweep",
    "cloud_fraction",
    "threshold_for_cloud_fraction",
    "ASSUMPTIONS",
    "ProofResult",
    "sym",
    "latex",
    "cloud_time_expr",
    "cost_expr",
    "derivation",
    "kappa_expr",
    "inverse_derivative",
    "prove_generic_monotonicity",
    "prove_logistic_monotonicity",
    "prove_uniqueness",
    "sign_claim",
    "deadline_kappa_expr",
    "prove_deadline_monotonicity",
    "prove_budget_threshold",
    "all_proofs",
    "threshold_expr",
    "threshold_lambdified",
    "optimal_threshold_lambdified",
]
