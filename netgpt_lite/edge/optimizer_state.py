"""An optimiser's state carried from one training run to the next: its moments and the schedule's position.

A synergy round trains the edge further on that round's cloud answers, first by SFT and then by RL. A fresh
Adam in every round would make every round's first step a *sign step*: each weight moves by the full
learning rate whatever its gradient (chapter 6, section 6.4), and the warm-up would start again. An
:class:`OptimizerState` is what the next run needs instead: the moments of the previous run's optimiser
(``exp_avg``, ``exp_avg_sq`` and the step count of each trainable tensor) and the number of optimiser steps
taken so far, which places the learning-rate schedule. A trainer takes one, starts from it, and leaves the
state of its own last step in it; the caller saves it with the model (:meth:`OptimizerState.save`:
safetensors and JSON through the one checkpoint writer, :func:`~netgpt_lite.edge.lora.save_checkpoint`;
no pickle).

Example:
    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> first = torch.optim.Adam([w], lr=0.1)
    >>> w.grad = torch.ones(3); first.step()
    >>> carried = OptimizerState().capture(first, global_step=1)
    >>> second = torch.optim.Adam([w], lr=0.1)
    >>> carried.restore(second), int(second.state[w]["step"])
    (1, 1)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from netgpt_lite.runtime import RunFolderError


@dataclass
class OptimizerState:
    """The moments of an optimiser and the number of steps taken, between runs (mutable: a trainer updates it).

    Attributes:
        state_dict: the optimiser's ``state_dict()`` after its last step (None: nothing carried yet).
        global_step: optimiser steps taken by every run so far (the schedule's position).
    """

    state_dict: dict | None = None
    global_step: int = 0

    def restore(self, optimizer) -> int:
        """Load the carried moments into ``optimizer`` (built over the same trainable tensors, in the same
        order) and return :attr:`global_step`; a state with nothing carried leaves ``optimizer`` fresh.

        Raises:
            ValueError: when the carried state holds another number of tensors than ``optimizer``.
        """
        if self.state_dict is None:
            return self.global_step
        carried = self.state_dict["state"]
        params = [p for group in optimizer.param_groups for p in group["params"]]
        wrong = [k for k, slots in carried.items()
                 if k >= len(params) or ("exp_avg" in slots and tuple(slots["exp_avg"].shape) != tuple(params[k].shape))]
        if wrong:
            raise ValueError(f"the carried optimiser state does not fit this optimiser's {len(params)} tensors (tensor "
                             f"{wrong[0]} differs): it belongs to another model (start from OptimizerState())")
        groups = copy.deepcopy(self.state_dict["param_groups"])
        for group, current in zip(groups, optimizer.state_dict()["param_groups"]):
            group["params"] = current["params"]  # this optimiser's indices; lr and betas come from the carried one
        optimizer.load_state_dict({"state": self.state_dict["state"], "param_groups": groups})
        return self.global_step

    def capture(self, optimizer, global_step: int) -> OptimizerState:
        """Keep a copy of ``optimizer``'s state after ``global_step`` steps in total; returns ``self``."""
        self.state_dict = copy.deepcopy(optimizer.state_dict())
        self.global_step = int(global_step)
        return self

    def save(self, folder: str | Path) -> None:
        """Write the state to ``folder`` (moments as safetensors, the rest as JSON); nothing when empty."""
        from netgpt_lite.edge.lora import save_checkpoint

        if self.state_dict is not None:
            save_checkpoint(Path(folder), {}, _Frozen(self.state_dict), {"global_step": self.global_step})

    @classmethod
    def load(cls, folder: str | Path) -> OptimizerState:
        """Read what :meth:`save` wrote; an empty state when ``folder`` does not exist.

        Raises:
            RunFolderError: naming the file and the fix, when a file in ``folder`` is missing or unreadable.
        """
        from netgpt_lite.edge.lora import load_checkpoint

        if not Path(folder).exists():
            return cls()
        holder = _Frozen(None)
        _, record = load_checkpoint(Path(folder), holder)
        if "global_step" not in record:
            raise RunFolderError(f"{Path(folder) / 'state.json'} has no global_step: not an optimiser state; delete "
                                 "the folder to start the optimiser afresh")
        return cls(holder.loaded, int(record["global_step"]))


class _Frozen:
    """The two methods of an optimiser that the checkpoint writer and reader use, over a plain state dict."""

    def __init__(self, state: dict | None):
        self.loaded = state

    def state_dict(self) -> dict:
        return self.loaded

    def load_state_dict(self, state: dict) -> None:
        self.loaded = state
