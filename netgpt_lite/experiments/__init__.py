"""Recipes that train or evaluate (chapters 5-8): frontier, RL ablation, reproduce (E1-E6).

Every public name of the modules below is re-exported here.
"""


from netgpt_lite.experiments.frontier import (
    DEPLOYABLE,
    EXTRA_POLICIES,
    POLICY_ORDER,
    TraceSource,
    aggregate,
    compact_summary,
    cost_at_equal_success,
    evaluate_policies,
    exploration_logs,
    fit_policies,
    gain_recovered,
    hindsight_limits,
    main_table,
    run_cell,
    run_frontier,
    table_rows,
)
from netgpt_lite.experiments.report import report_figures, write_report
from netgpt_lite.experiments.reproduce import manifest, run_experiments, run_recorder
from netgpt_lite.experiments.reproduce_config import ReproduceConfig
from netgpt_lite.experiments.rl_ablation import (
    ABLATIONS,
    experiment_data,
    run_rl,
    start_model,
)
from netgpt_lite.experiments.rl_comparison import RL_ARMS, E5Config, run_e5, summarise
from netgpt_lite.experiments.routing_experiments import run_e1, run_e2, run_e3
from netgpt_lite.experiments.synergy_experiments import run_e4_e6, run_scheduled, synergy_runs

__all__ = [
    "POLICY_ORDER",
    "exploration_logs",
    "fit_policies",
    "TraceSource",
    "EXTRA_POLICIES",
    "DEPLOYABLE",
    "hindsight_limits",
    "run_cell",
    "compact_summary",
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
    "RL_ARMS",
    "E5Config",
    "summarise",
    "ReproduceConfig",
    "run_e1",
    "run_e2",
    "run_e3",
    "run_e5",
    "run_e4_e6",
    "synergy_runs",
    "run_scheduled",
    "manifest",
    "run_recorder",
    "run_experiments",
    "report_figures",
    "write_report",
]
