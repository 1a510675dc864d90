"""The state of a resumable RL run on disk (chapter 6): what :func:`~netgpt_lite.rl.minimal.train_minimal`
needs to continue after a kill with the same samples.

The trainable tensors, torch's RNG state, Adam's moments (safetensors) and the step, the history so far and
the numpy RNG state (JSON), written atomically by the one checkpoint writer,
:func:`netgpt_lite.edge.lora.save_checkpoint`.  No pickle: a checkpoint is numbers only.

Example:
    >>> import torch
    >>> sorted(trainable_parameters(torch.nn.Linear(2, 1).requires_grad_(False)))
    []
"""

from __future__ import annotations

from netgpt_lite.edge.lora import load_checkpoint, save_checkpoint
from netgpt_lite.runtime import RunFolderError


def trainable_parameters(model) -> dict:
    """``{name: parameter}`` of the parameters that train (``requires_grad``): all of them, or a LoRA adapter's."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def save_rl_checkpoint(folder, model, optimizer, step: int, history: list, rng) -> None:
    """Save the run at ``step`` (the next step to run): trainable tensors, Adam, history, torch and numpy RNGs."""
    import torch

    tensors = {f"param.{k}": v for k, v in trainable_parameters(model).items()}
    tensors["rng.torch"] = torch.get_rng_state()
    save_checkpoint(folder, tensors, optimizer, {"step": step, "history": history, "rng": rng.bit_generator.state})


def load_rl_checkpoint(folder, model, optimizer, rng) -> tuple[int, list]:
    """Restore what :func:`save_rl_checkpoint` wrote into ``model``, ``optimizer`` and ``rng``; ``(step, history)``.

    Raises:
        RunFolderError: (a ``ValueError``) naming the file and the fix, when the checkpoint is unreadable or does
            not match the model's trainable tensors.
    """
    import torch

    tensors, record = load_checkpoint(folder, optimizer)
    params = trainable_parameters(model)
    missing = sorted(set(params) - {k[len("param."):] for k in tensors if k.startswith("param.")})
    if missing:
        raise RunFolderError(f"the checkpoint in {folder} does not match the model: adapter.safetensors lacks "
                             f"{len(missing)} trainable tensors, e.g. {missing[0]} (another model's run?); delete that "
                             "folder to restart the run from step 0, or resume with the model it was made with")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[f"param.{name}"])
    torch.set_rng_state(tensors["rng.torch"])
    rng.bit_generator.state = record["rng"]
    return int(record["step"]), list(record["history"])
