"""The two edges a synergy run can improve: the tiny from-scratch LM and SmolLM2-135M with a LoRA adapter.

:mod:`netgpt_lite.synergy.stages` says what a round does; this module says how each edge is loaded,
trained on the logged cloud answers, saved and read back; its :data:`RECIPES` (one :class:`EdgeRecipe` per
edge) are the only place that says which logged answers a round trains each edge on, and how long.  Both edges
go through the same steps:

* **tiny** (the lesson and the test suite's model): full fine-tuning with TRL's SFT on the *whole* log
  each round (it is small enough), then ``rl_steps`` of SFT-anchored RL; checkpoints are the model's
  safetensors.
* **smollm2** (the book's edge, ``../EDGE.md``): the shipped SFT adapter is round 0; each round continues
  that adapter by LoRA SFT over the round's *new* logged answers (``sft_epochs`` passes: every cloud answer
  is learned once, and a round costs what its log costs, not what the whole history costs) at a gentle
  rate (:data:`SMOLLM2_SFT_LEARNING_RATE`: a higher one makes the edge forget), then
  ``rl_steps`` of SFT-anchored RL (:func:`netgpt_lite.rl.train_minimal` with :data:`~netgpt_lite.rl.SMOLLM2_RL`,
  E5's recipe) anchored to a frozen copy of the round's SFT adapter.  Both optimisers carry over from round
  to round (:class:`~netgpt_lite.edge.optimizer_state.OptimizerState`): no round starts with a fresh Adam's
  sign step, and the warm-ups happen once.  Checkpoints are the adapter (``adapter_model.safetensors`` in
  bf16, ~9 MB, as shipped), its prompt format and the two optimiser states (``edge_optimizer/sft``,
  ``edge_optimizer/rl``: the moments in fp32, ~40 MB each).

Example:
    >>> from netgpt_lite.synergy.loop import EDGES
    >>> EDGES == tuple(RECIPES)
    True
    >>> RECIPES["smollm2"].train_on, RECIPES["tiny"].train_on
    ('new', 'all')
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.optimizer_state import OptimizerState
from netgpt_lite.rl.data import encode_pairs, rl_dataset
from netgpt_lite.rl.minimal import RLSettings, train_minimal
from netgpt_lite.rl.objective import exact_kl
from netgpt_lite.rl.settings import SMOLLM2_RL
from netgpt_lite.runtime import release_freed_memory, torch_device  # torch_device: the GPU, when there is one

ADAPTER_DIR = "edge_adapter"  # a smollm2 checkpoint's adapter folder; a tiny one's model lives in "edge"
OPTIMIZER_DIR = "edge_optimizer"  # its optimiser states, one folder per trainer (sft, rl)
# A round continues a finished adapter (its schedule ended at 0) with a fresh Adam, whose first steps move
# every weight by about the learning rate whatever the gradient: at 2e-4 round 1's SFT forgot 3.7 points of
# validation exact match on seed 0 (-6.8 to -0.6, n=300) and rehearsing 3 of the adapter's own examples per
# answer did not stop it (-3.7); at 5e-5 it forgot nothing (+0.3 and +1.3 on seeds 0 and 1) and still
# learned the answers (exact match on them 0.29 -> 0.38 and 0.20 -> 0.46).  scripts/round_sft_probe.py.
SMOLLM2_SFT_LEARNING_RATE = 5e-5


@dataclass(frozen=True)
class EdgeRecipe:
    """How a synergy round trains one edge: which logged cloud answers, and how long.

    Attributes:
        train_on: ``"all"``: every logged answer so far, each round (the tiny edge is small enough to
            retrain on its whole history); ``"new"``: the round's new answers only (SmolLM2 continues its
            adapter, so every cloud answer is learned once and a round costs what its own log costs).
        rl_without_sft: whether a round with ``sft_epochs=0`` still runs its ``rl_steps`` of RL (SmolLM2's
            RL continues the adapter; the tiny edge's RL follows its SFT, so no SFT means no training).
        sft_epochs: SFT epochs per round in the book's runs of this edge (``reproduce``'s E4/E6), >= 1;
            None: the synergy preset's (:func:`~netgpt_lite.synergy.stages.synergy_config`).
        kl_examples: teacher-forced examples behind the reported KL to the round's SFT model, >= 1.
        replay_per_answer: examples of the round-0 edge's own SFT data rehearsed beside each new cloud answer
            in a round's SFT, >= 0 (0: none).  The answers a round logs are the requests its edge found hard;
            SFT on those alone pulls the edge away from what it knew (:func:`replay_examples`).

    Example:
        >>> recipe = EdgeRecipe(train_on="new", rl_without_sft=True, sft_epochs=1)
        >>> recipe.uses_answer(logged_round=1, r=2), recipe.uses_answer(logged_round=2, r=2)
        (False, True)
    """

    train_on: str = "all"
    rl_without_sft: bool = False
    sft_epochs: int | None = None
    kl_examples: int = 64
    replay_per_answer: int = 0

    def __post_init__(self) -> None:
        if self.train_on not in ("new", "all"):
            raise ValueError(f"train_on must be 'new' or 'all'; got {self.train_on!r}")
        if self.sft_epochs is not None and self.sft_epochs < 1:
            raise ValueError(f"sft_epochs must be None (the preset's) or >= 1; got {self.sft_epochs}")
        if self.kl_examples < 1:
            raise ValueError(f"kl_examples must be >= 1; got {self.kl_examples}")
        if self.replay_per_answer < 0:
            raise ValueError(f"replay_per_answer must be >= 0 (0: no replay); got {self.replay_per_answer}")

    def uses_answer(self, logged_round: int, r: int) -> bool:
        """Whether round ``r`` trains on an answer logged in round ``logged_round``."""
        return self.train_on == "all" or logged_round == r

    def trains(self, config) -> bool:
        """Whether a round with ``config`` trains the edge at all (given answers to train on)."""
        return config.sft_epochs > 0 or (self.rl_without_sft and config.rl_steps > 0)


RECIPES = {"tiny": EdgeRecipe(train_on="all", kl_examples=64),
           "smollm2": EdgeRecipe(train_on="new", rl_without_sft=True, sft_epochs=1, kl_examples=16)}


def smollm2_rl_settings(steps: int, seed: int) -> RLSettings:
    """E5's recipe (:data:`~netgpt_lite.rl.SMOLLM2_RL`) for ``steps`` steps of a round, seeded per round."""
    return SMOLLM2_RL.replace(steps=steps, seed=seed)


def initial_edge(config):
    """``(model, tokenizer, template_kwargs)`` of round 0 for ``config.edge``."""
    if config.edge == "smollm2":
        from netgpt_lite.edge.lora import load_adapter, shipped_adapter_path

        model, tokenizer, template = load_adapter(shipped_adapter_path(), trainable=True)
        return model.to(torch_device()), tokenizer, template
    from netgpt_lite.edge.tiny_lm import load_edge_model, shipped_model_path

    if config.initial_edge not in ("shipped", "scratch"):
        model, tokenizer = load_edge_model(config.initial_edge, device=torch_device())
    elif config.initial_edge == "shipped" and (shipped_model_path() / "config.json").exists():
        model, tokenizer = load_edge_model(device=torch_device())
    else:
        from netgpt_lite.edge.sft import SFTSettings, train_edge_from_scratch

        settings = SFTSettings(n_epochs=config.warmup_epochs, seed=config.seed, show_progress=False)
        model, tokenizer, _ = train_edge_from_scratch(config.warmup_tasks, data_seed=config.seed, settings=settings)
    return model, tokenizer, {}


def edge_agent(system, decoding: str = "greedy") -> EdgeAgent:
    """The :class:`EdgeAgent` over a system's edge (batches of 64 tiny / 16 SmolLM2 prompts); ``decoding``:
    ``"greedy"`` or ``"retry"`` (:attr:`~netgpt_lite.synergy.config.SynergyConfig.edge_decoding`)."""
    batch = 16 if system.template else 64
    return EdgeAgent(system.model, system.tokenizer, batch_size=batch, template_kwargs=system.template,
                     decoding=decoding)


RL_LOG_KEYS = ("step", "reward", "exact_match", "kl_k3_to_sft", "entropy", "frac_zero_std", "clip_fraction",
               "update_to_weight", "learning_rate", "seconds")
"""What a synergy round keeps of each RL step (:func:`train_edge`): the step size (``update_to_weight``,
``learning_rate``), the anchors at work (``kl_k3_to_sft``, ``clip_fraction``) and the signal (reward, sampled exact
match, entropy, the share of all-equal groups)."""


def _rl_log(history: list[dict]) -> list[dict]:
    return [{k: row[k] for k in RL_LOG_KEYS if k in row} for row in history if "reward" in row]


def train_edge(system, examples, config, r: int):
    """SFT on ``(task, cloud call)`` pairs, then ``config.rl_steps`` of SFT-anchored RL.

    Returns:
        ``(model, kl_to_sft, rl_log)``: the trained model, its exact KL to the round's SFT model per
        completion token (0.0 when no RL ran) and one row of :data:`RL_LOG_KEYS` per RL step (empty then).
    """
    tasks, calls = [t for t, _ in examples], [c for _, c in examples]
    data = rl_dataset(tasks, system.tokenizer, answers=calls, **system.template)
    if config.edge == "smollm2":
        k = RECIPES["smollm2"].replay_per_answer
        if k == 0 or config.sft_epochs == 0:
            return _train_smollm2(system, data, config, r)
        rng = np.random.default_rng([config.seed, r])
        mixed = list(examples) + replay_examples(k * len(examples), rng)
        mixed = [mixed[i] for i in rng.permutation(len(mixed))]  # rehearsal spread over the round's SFT
        sft_data = rl_dataset([t for t, _ in mixed], system.tokenizer, answers=[c for _, c in mixed],
                              **system.template)
        return _train_smollm2(system, data, config, r, sft_data=sft_data)
    return _train_tiny(system, data, config, r)


def replay_examples(n: int, rng: np.random.Generator) -> list:
    """``n`` ``(task, cloud call)`` pairs of the shipped SmolLM2 adapter's own SFT data, drawn without
    replacement: the tasks and simulated-cloud answers its manifest names (``train-edge``'s data).

    Rehearsal, the oldest cure for forgetting: a deployment keeps the data its edge was trained on, and
    a round's SFT mixes some of it with the round's cloud answers.

    Example:
        >>> pairs = replay_examples(2, np.random.default_rng(0))
        >>> len(pairs), sorted(pairs[0][1])
        (2, ['arguments', 'name'])
    """
    import json

    from netgpt_lite.agents.cloud_sim import SimulatedCloud
    from netgpt_lite.edge.lora import shipped_adapter_path
    from netgpt_lite.tasks.generate import generate_tasks

    manifest = json.loads((shipped_adapter_path() / "manifest.json").read_text())
    made = manifest["config"]
    tasks = generate_tasks("train", manifest["sizes"]["n_train_tasks"], seed=made["data_seed"],
                           variety=made.get("variety", "classic"))
    cloud = SimulatedCloud(seed=made["cloud_seed"])
    pick = rng.choice(len(tasks), size=min(n, len(tasks)), replace=False)
    return [(tasks[i], cloud.answer(tasks[i])[0]) for i in pick.tolist()]


def _train_tiny(system, data, config, r: int):
    from netgpt_lite.edge.sft import SFTSettings, token_lengths, train_sft

    model, tokenizer = system.model, system.tokenizer
    settings = SFTSettings(n_epochs=config.sft_epochs, learning_rate=2e-3, seed=config.seed + r, show_progress=False)
    fits = np.flatnonzero(token_lengths(data, tokenizer) <= settings.max_length)  # never let TRL truncate
    data = data.select(fits.tolist())
    if len(data) == 0:
        return model, 0.0, []
    model, _ = train_sft(copy.deepcopy(model), tokenizer, data.select_columns(["prompt", "completion"]), settings)
    if config.rl_steps == 0:
        return model, 0.0, []
    rl = RLSettings(steps=config.rl_steps, prompts_per_step=8, sft_batch_size=min(16, len(data)), seed=config.seed + r)
    if len(data) < rl.prompts_per_step:  # too few answers for one RL step
        return model, 0.0, []
    model.requires_grad_(True)  # (the SFT trainer may hand the model back with frozen parameters)
    sft_model = _frozen_copy(model)
    model, history = train_minimal(model, tokenizer, data, data, rl, ref_model=sft_model)
    n = RECIPES["tiny"].kl_examples
    kl = kl_to_reference(model, sft_model, tokenizer, data["prompt"][:n], data["completion"][:n])
    return model, kl, _rl_log(history)


def _train_smollm2(system, data, config, r: int, sft_data=None):
    from netgpt_lite.edge.lora import LoraSettings, load_adapter, save_adapter, train_lora

    model, tokenizer, template = system.model, system.tokenizer, system.template
    if config.sft_epochs == 0 and config.rl_steps == 0:
        return model, 0.0, []
    with tempfile.TemporaryDirectory(prefix="netgpt-synergy-") as tmp:
        if config.sft_epochs > 0:
            # the cost-floor defaults of train-edge (batch 4 in passes of 2, eager attention, no dropout);
            # gradient checkpointing: the same weights (non-reentrant, no dropout) for a 1.8 GB peak, not 5 GB
            settings = LoraSettings(learning_rate=SMOLLM2_SFT_LEARNING_RATE, n_epochs=float(config.sft_epochs),
                                    warmup_ratio=0.1, seed=config.seed + r, tool_format=template["tool_format"],
                                    gradient_checkpointing=True)
            sft = data if sft_data is None else sft_data  # the round's answers, with any rehearsed ones
            model, _ = train_lora(model, tokenizer, list(sft["prompt"]), list(sft["completion"]), settings,
                                  Path(tmp) / "sft", progress=False,
                                  optimizer_state=system.optimizers.setdefault("sft", OptimizerState()))
        if config.rl_steps == 0:
            return model, 0.0, []
        rl = smollm2_rl_settings(config.rl_steps, config.seed + r)
        if len(data) < rl.prompts_per_step:  # too few answers for one RL step
            return model, 0.0, []
        save_adapter(model, Path(tmp) / "anchor", template["tool_format"])
        sft_model, _, _ = load_adapter(Path(tmp) / "anchor", trainable=False)  # frozen: the RL anchor
    sft_model.requires_grad_(False)
    release_freed_memory()  # SFT's last activations and the anchor's load, before RL's rollouts peak
    model, history = train_minimal(model, tokenizer, data, data, rl, ref_model=sft_model, template_kwargs=template,
                                   progress=False, optimizer_state=system.optimizers.setdefault("rl", OptimizerState()))
    n = RECIPES["smollm2"].kl_examples
    kl = kl_to_reference(model, sft_model, tokenizer, data["prompt"][:n], data["completion"][:n])
    return model, kl, _rl_log(history)


def _frozen_copy(model):
    """An independent, frozen copy of ``model`` (fresh tensors: nothing shared with the trained model)."""
    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_config(model.config)
    ref.load_state_dict({k: v.detach().clone() for k, v in model.state_dict().items()})
    return ref.eval().requires_grad_(False)


def kl_to_reference(model, ref_model, tokenizer, prompts, completions, batch_size: int = 8) -> float:
    """Exact KL(model || ref) per completion token (full vocabulary), teacher-forced on ``completions``."""
    import torch

    total, tokens = 0.0, 0.0
    device = next(model.parameters()).device  # RL may have moved both models to the GPU
    for i in range(0, len(prompts), batch_size):
        p_ids, p_mask, c_ids, c_mask = encode_pairs(tokenizer, list(prompts[i:i + batch_size]),
                                                    list(completions[i:i + batch_size]), device)
        ids, mask, keep = torch.cat([p_ids, c_ids], 1), torch.cat([p_mask, c_mask], 1), c_ids.shape[1] + 1
        with torch.no_grad():  # the last T + 1 positions only: every position's [B, P+T, 49k] logits cost 2.4 GB
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits[:, :-1]  # [B, T, V]
            ref = ref_model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits[:, :-1]
        total += float((exact_kl(logits, ref) * c_mask).sum())  # exact_kl: [B, T]
        tokens += float(c_mask.sum())
    return total / max(tokens, 1.0)


def save_edge(system, folder: Path) -> None:
    """The edge's weights: the tiny model (``edge/``) or the SmolLM2 adapter (``edge_adapter/``)."""
    if system.template:
        from netgpt_lite.edge.lora import save_adapter

        save_adapter(system.model, Path(folder) / ADAPTER_DIR, system.template["tool_format"])
        for name, state in system.optimizers.items():
            state.save(Path(folder) / OPTIMIZER_DIR / name)
        return
    from netgpt_lite.edge.tiny_lm import save_edge_model

    save_edge_model(system.model, system.tokenizer, Path(folder) / "edge")


def load_edge(folder: Path, config):
    """``(model, tokenizer, template_kwargs, optimizers)`` from :func:`save_edge`'s folder (safetensors + JSON
    only); ``optimizers`` holds the optimiser states saved with a SmolLM2 adapter (empty for the tiny edge)."""
    if config.edge == "smollm2":
        from netgpt_lite.edge.lora import load_adapter

        model, tokenizer, template = load_adapter(Path(folder) / ADAPTER_DIR, trainable=True)
        model.to(torch_device())
        saved = Path(folder) / OPTIMIZER_DIR
        names = sorted(p.name for p in saved.iterdir() if p.is_dir()) if saved.exists() else []
        return model, tokenizer, template, {name: OptimizerState.load(saved / name) for name in names}
    from netgpt_lite.edge.tiny_lm import load_edge_model

    model, tokenizer = load_edge_model(Path(folder) / "edge", device=torch_device())
    return model, tokenizer, {}, {}
