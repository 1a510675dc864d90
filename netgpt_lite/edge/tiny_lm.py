"""The edge LM: a byte-level BPE tokenizer and a tiny Llama-style decoder, both trained from scratch.

The edge model of NetGPT is a small causal LM on the device.  This module builds the smallest
honest version of one with the Hugging Face stack, so that the same code path also loads any
real Hugging Face causal LM folder or Hub id:

* :func:`train_tokenizer` trains a byte-level BPE (``tokenizers``) of ~1k entries on task texts,
  digits split one by one (``"500"`` -> ``5 0 0``: numbers are copied digit by digit, the way
  the model has to produce them), and wraps it as a ``PreTrainedTokenizerFast`` with
  ``<|pad|>``/``<|bos|>``/``<|eos|>``, left padding (for batched generation) and a Jinja chat
  template (:data:`CHAT_TEMPLATE`).
* The chat template renders tools *compactly*: just the offered tool names, never the full JSON
  schema (a 1M-parameter model cannot read 500-token schemas).  Measured on 3,000 train tasks: names
  only give prompts of median 44 / max 97 tokens; names with argument names (``name(arg1,arg2)``,
  pass ``tool_arguments=True`` to :func:`~netgpt_lite.edge.prompt.render_prompt`) median 91 / max 159, which doubles the SFT
  cost per example -- so the shipped model uses names only and learns each tool's arguments.
* The completion is compact JSON ``{"name":...,"arguments":{...}}`` (``name`` first, argument keys
  sorted), the one completion format of every agent
  (:func:`netgpt_lite.tasks.generate.format_completion`); the tokenizer's eos follows it.
* :func:`build_model` creates a ``LlamaForCausalLM`` from :class:`EdgeModelConfig` with
  ``AutoModelForCausalLM.from_config`` (rotary positions tolerate left padding, which RL's
  scoring pass needs).  :func:`save_edge_model` / :func:`load_edge_model` keep model and
  tokenizer in one folder (``save_pretrained`` / ``from_pretrained``, safetensors).

Example:
    >>> tok = train_tokenizer(["set cell-3 to eco mode", '{"name":"set_power_mode"}'], vocab_size=300)
    >>> tok.decode(tok("cell 42")["input_ids"]) == "cell 42"
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from netgpt_lite.edge.prompt import render_prompt
from netgpt_lite.tasks.generate import CALL_CLOSE, CALL_OPEN, format_completion

PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"
ROLE_MARKERS = ("<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|tools|>")
SHIPPED_MODEL_DIR = "edge_model"  # inside the package's data folder

# The offered tool names (with tool_arguments=True: name(arg1,arg2,...)); then each message as <|role|>content.  An assistant
# message that carries OpenAI-style tool_calls renders them in the compact JSON form the model emits.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if tools %}<|tools|>{% for t in tools %}{% set f = t.function if t.function is defined else t %}"
    "{{ f.name }}{% if tool_arguments is defined and tool_arguments %}("
    "{% for k in f.parameters.properties %}{{ k }}{% if not loop.last %},{% endif %}{% endfor %})"
    "{% endif %}{% if not loop.last %} {% endif %}{% endfor %}{% endif %}"
    "{% for m in messages %}<|{{ m.role }}|>{% if m.content %}{{ m.content }}{% endif %}"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}{% set fc = c.function if c.function is defined else c %}"
    '{"name":{{ fc.name | tojson }},"arguments":'
    "{% if fc.arguments is string %}{{ fc.arguments }}"
    "{% else %}{{ fc.arguments | tojson(separators=(',', ':'), sort_keys=True) }}{% endif %}"
    "}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@dataclass(frozen=True)
class EdgeModelConfig:
    """Shape of the tiny Llama-style edge decoder (defaults: ~0.8 M parameters, ~3 MB on disk).

    Attributes:
        hidden_size: Width of the residual stream (128-192 train in minutes on 2 CPU cores).
        n_layers: Number of decoder blocks.
        n_heads: Attention heads; must divide ``hidden_size``.
        intermediate_size: Width of the SwiGLU MLP (3 x hidden by default).
        max_positions: Longest sequence (prompt + completion) in tokens.
    """

    hidden_size: int = 128
    n_layers: int = 3
    n_heads: int = 4
    intermediate_size: int = 384
    max_positions: int = 256

    def __post_init__(self) -> None:
        for name in ("hidden_size", "n_layers", "n_heads", "intermediate_size", "max_positions"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.n_heads:
            raise ValueError(
                f"n_heads must divide hidden_size, got hidden_size={self.hidden_size}, n_heads={self.n_heads}; "
                "try n_heads=4 with hidden_size=128"
            )


def tokenizer_corpus(tasks: Iterable) -> list[str]:
    """Plain texts to train the edge tokenizer on: message contents, ``tool(arg,...)`` signatures and the
    gold calls' JSON.

    Markers such as ``<|user|>`` (and the ``<tool_call>`` tags that older checkpoints emitted) are not in
    these texts; they are added to the tokenizer whole.

    Example:
        >>> from netgpt_lite.tasks.generate import generate_tasks
        >>> corpus = tokenizer_corpus(generate_tasks("train", 1))
        >>> corpus[-1].startswith('{"name":')
        True
    """
    texts: list[str] = []
    for task in tasks:
        texts += [m["content"] for m in task.messages if m.get("content")]
        for tool in task.tools:
            fn = tool.get("function", tool)
            texts.append(fn["name"] + "(" + ",".join(fn.get("parameters", {}).get("properties", {})) + ")")
        texts.append(format_completion(task.gold))
    return texts


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """Train a byte-level BPE tokenizer (digits split one by one) and wrap it for transformers.

    Args:
        texts: Training texts (see :func:`tokenizer_corpus`).
        vocab_size: Size of the BPE vocabulary before the markers are added (>= 260: 256 bytes + specials).

    Returns:
        A ``PreTrainedTokenizerFast`` with pad/bos/eos, the role and tool_call markers as whole tokens,
        left padding and :data:`CHAT_TEMPLATE`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 260:
        raise ValueError(f"vocab_size must be >= 260 (256 bytes + 3 specials), got {vocab_size}")
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(list(texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token=BOS, eos_token=EOS, pad_token=PAD, padding_side="left"
    )
    tokenizer.add_tokens([*ROLE_MARKERS, CALL_OPEN, CALL_CLOSE])  # whole tokens, kept by decode
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 1024
    return tokenizer


def task_example(task, tokenizer, **template_kwargs) -> dict[str, str]:
    """One SFT example ``{"prompt": rendered prompt, "completion": the gold call in the one completion format}`` (no eos: TRL adds it)."""
    return {
        "prompt": render_prompt(tokenizer, task.messages, task.tools, **template_kwargs),
        "completion": format_completion(task.gold),
    }


def sft_dataset(tasks: Iterable, tokenizer, **template_kwargs):
    """A ``datasets.Dataset`` with string columns ``prompt`` and ``completion`` (TRL's prompt-completion form)."""
    from datasets import Dataset

    rows = [task_example(t, tokenizer, **template_kwargs) for t in tasks]
    return Dataset.from_dict({"prompt": [r["prompt"] for r in rows], "completion": [r["completion"] for r in rows]})


def build_model(tokenizer, config: EdgeModelConfig = EdgeModelConfig(), seed: int = 0):  # noqa: B008
    """A freshly initialised ``LlamaForCausalLM`` sized for ``tokenizer`` (seeded init, tied embeddings).

    Example:
        >>> tok = train_tokenizer(["a b c"], vocab_size=300)
        >>> model = build_model(tok, EdgeModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64))
        >>> model.config.model_type, model.generation_config.pad_token_id == tok.pad_token_id
        ('llama', True)
    """
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_heads,
        max_position_embeddings=config.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(llama)
    _set_generation_ids(model, tokenizer)
    return model


def _set_generation_ids(model, tokenizer) -> None:
    """Greedy decoding that stops at eos and pads with pad (the generation config must name both, or generation warns and pads with eos)."""
    gen = model.generation_config
    gen.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    gen.bos_token_id = tokenizer.bos_token_id
    gen.do_sample = False


def n_parameters(model) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def shipped_model_path() -> Path:
    """Folder of the default edge checkpoint shipped as package data (``netgpt_lite/data/edge_model``)."""
    from importlib.resources import files

    return Path(str(files("netgpt_lite") / "data" / SHIPPED_MODEL_DIR))


def save_edge_model(model, tokenizer, path: str | Path) -> Path:
    """Save model (safetensors) and tokenizer into one folder; returns the folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    from transformers.utils import logging as hf_logging

    _set_generation_ids(model, tokenizer)
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar for a 3 MB file
    try:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    return path


def load_edge_model(path: str | Path | None = None, device: str = "cpu"):
    """Load ``(model, tokenizer)`` from a folder or Hub id (default: the shipped checkpoint), in eval mode.

    The tokenizer is switched to left padding and given a pad token if it has none, so any causal LM
    (e.g. a small Qwen in Colab) can be used for batched generation through the same path.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = str(shipped_model_path() if path is None else path)
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in notebooks
    try:
        model = AutoModelForCausalLM.from_pretrained(source).to(device)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    _set_generation_ids(model, tokenizer)
    model.eval()
    return model, tokenizer
