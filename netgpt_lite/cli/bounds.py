"""The upper bound of every count flag, and why: about what a 2-core laptop runs in a day, or what the data supplies.

A count above its bound is refused before any work (``argument --n: must be an integer in [1, 100000]; got
...``) instead of running until memory is exhausted or failing an hour later.  :func:`count` is the
argparse ``type`` of a count of one of the kinds below; its message ends with the reason.  The costs
were measured on 2 CPU cores (SmolLM2 answers about one request per CPU-second at batch 16; a step of
``rl`` on the tiny model takes about 4 s; ``e5`` with 4 RL steps takes about 13 minutes a seed):

===================  ==========  ===================================================================
kind                 bound       what it counts, and why the bound
===================  ==========  ===================================================================
``tasks``            100,000     generated requests (``tasks --n``, ``--n-train``, ``--n-prompts``,
                                 ``--n-pool``): 100,000 take 15 s and 0.4 GB, and a third of them
                                 already repeat an earlier one (the templates run out)
``requests``         50,000      requests a model answers (``eval-edge --n``, ``--n-test``, ``--n-eval``,
                                 ``frontier --n-tasks``): about 14 hours for SmolLM2
``logs``             20,000      ``eval-edge --n-logs``: 1.5 generations each, about 8 hours for SmolLM2
``stream``           1,000,000   simulated requests (``frontier --n-requests``, ``--n-logs``)
``batch``            256         prompts generated or examples trained together (``--batch-size``)
``rl_steps``         10,000      RL steps of ``rl --steps`` (about 11 hours for the tiny model)
``e5_steps``         1,000       RL steps of each ``e5`` run (several runs per seed)
``group``            256         prompts per RL step, and completions per prompt
``seeds``            100         seeds of ``frontier`` (simulations: seconds each)
``e5_seeds``         20          seeds of ``e5`` (each a set of RL and SFT runs: 4 hours for 20)
``epochs``           10,000      PolicyNet epochs (``frontier --policynet-epochs``)
``width``            1,024       the tiny model's width (``--hidden-size``): 40 M parameters at 32 layers
``layers``           32          the tiny model's decoder blocks (``--layers``)
``rank``             256         LoRA rank (``--rank``): SmolLM2's width is 576
``round_requests``   10,000      requests routed per synergy round (``--requests-per-round``)
``round_steps``      1,000       RL steps per synergy round (``--rl-steps``)
``rounds``           800         synergy rounds (``--rounds``; SynergyConfig's own bound), and rounds
                                 between scorer refreshes (``--scorer-refresh-every``)
===================  ==========  ===================================================================

Seeds are bounded by 2**32 - 1 (:data:`~netgpt_lite.cli.arguments.SEED`), ``train-edge --epochs`` by
:data:`MAX_TRAIN_EPOCHS`, and ``--cloud-concurrency`` by 256 requests in flight.

Example:
    >>> count("tasks")("100001")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be an integer in [1, 100000]; got 100001 (more generated requests take \
minutes and gigabytes, and repeat the templates)
"""

from __future__ import annotations

from collections.abc import Callable

from netgpt_lite.cli.arguments import float_range, int_range

BOUNDS: dict[str, tuple[int, str]] = {
    "tasks": (100_000, "more generated requests take minutes and gigabytes, and repeat the templates"),
    "requests": (50_000, "more take SmolLM2 over half a day on 2 cores"),
    "logs": (20_000, "more take SmolLM2 over 8 hours on 2 cores"),
    "stream": (1_000_000, "a longer simulated day says no more"),
    "batch": (256, "a larger batch needs more memory, not less time"),
    "rl_steps": (10_000, "more take the tiny model over 11 hours on 2 cores"),
    "e5_steps": (1_000, "every e5 run takes each step, several runs per seed"),
    "group": (256, "a larger RL batch needs more memory, not less time"),
    "seeds": (100, "more seeds narrow the interval by little"),
    "e5_seeds": (20, "20 seeds of e5 take about 4 hours"),
    "epochs": (10_000, "PolicyNet converges in hundreds"),
    "width": (1_024, "a wider tiny model is no longer tiny: train a LoRA adapter on SmolLM2 instead"),
    "layers": (32, "a deeper tiny model is no longer tiny: train a LoRA adapter on SmolLM2 instead"),
    "rank": (256, "SmolLM2 is 576 wide"),
    "round_requests": (10_000, "a round would take hours"),
    "round_steps": (1_000, "a round would take over an hour of RL"),
    "rounds": (800, "the synergy loop's own bound"),
    "jobs": (64, "each stage keeps at least one core busy; more stages at once than cores only wait"),
}
MAX_TRAIN_EPOCHS = 100.0  # train-edge --epochs: the recipes use 1 (SmolLM2) and 8 (tiny)
TRAIN_EPOCHS = float_range(0.0, MAX_TRAIN_EPOCHS)


def count(kind: str, low: int = 1) -> Callable[[str], int]:
    """The argparse ``type`` of a count of ``kind`` (a key of :data:`BOUNDS`): an integer in ``[low, bound]``."""
    high, why = BOUNDS[kind]
    return int_range(low, high, why)


def upto(kind: str, low: int = 1) -> str:
    """``"in [low, bound]"`` for a help text."""
    return f"in [{low}, {BOUNDS[kind][0]}]"
