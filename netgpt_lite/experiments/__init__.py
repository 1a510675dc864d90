"""Recipes that train or evaluate (chapters 5-8): frontier, RL ablation, reproduce.

Every public name of the modules below is re-exported here.
"""


from netgpt_lite.experiments.frontier import (
    POLICY_ORDER,
    aggregate,
    best_fixed_threshold,
    cost_at_equal_success,
    evaluate_policies,
    exploration_logs,
    fit_policies,
    gain_recovered,
    main_table,
    run_frontier,
    table_rows,
)
from netgpt_lite.experiments.reproduce import (
    ReproduceConfig,
    manifest,
    report_figures,
    run_e1,
    run_e2,
    run_e3,
    run_e4_e6,
    run_e5,
    run_experiments,
    run_recorder,
    write_report,
)
from netgpt_lite.experiments.rl_ablation import (
    ABLATIONS,
    ablation_summary,
    experiment_data,
    run_ablation,
    run_rl,
    start_model,
)

__all__ = [
    "POLICY_ORDER",
    "exploration_logs",
    "fit_policies",
    "best_fixed_threshold",
    "cost_at_equal_success",
    "gain_recovered",
    "evaluate_policies",
    "aggregate",
    "run_frontier",
    "main_table",
    "table_rows",
    "ABLATIONS",
    "experiment_data",
    "start_model",
    "run_rl",
    "run_ablation",
    "ablation_summary",
    "ReproduceConfig",
    "run_e1",
    "run_e2",
    "run_e3",
    "run_e5",
    "run_e4_e6",
    "manifest",
    "run_recorder",
    "run_experiments",
    "report_figures",
    "write_report",
]
