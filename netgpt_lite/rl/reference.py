"""The frozen SFT reference of SFT-anchored RL, holding no second copy of the weights it shares with the policy.

With a LoRA policy only the adapter trains; the base model's weights (about 540 MB of SmolLM2's in fp32) are
frozen in the policy and in its reference alike.  :func:`reference_model` makes the reference (a copy of the
policy, or the SFT model the caller loaded) and then points every frozen policy parameter at the reference's
equal tensor, so one copy serves both.  A fully trained model (the tiny edge) has no frozen weights, and
nothing is shared.

Example:
    >>> import torch
    >>> policy = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    >>> _ = policy[0].requires_grad_(False)  # a frozen "base" layer and a trainable "adapter"
    >>> ref = reference_model(policy)
    >>> policy[0].weight is ref[0].weight, policy[1].weight is ref[1].weight
    (True, False)
"""

from __future__ import annotations

import copy


def _parameters(model) -> dict:
    """``{name: (module, attribute, parameter)}`` for every parameter, tied ones under each of their names."""
    found = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for attribute, param in module._parameters.items():
            if param is not None:
                found[f"{module_name}.{attribute}" if module_name else attribute] = (module, attribute, param)
    return found


def share_frozen_weights(model, ref_model) -> int:
    """Point each frozen parameter of ``model`` at ``ref_model``'s parameter of the same name, when the two
    hold equal values (same shape, dtype, device; ``torch.equal``).  Returns the bytes no longer held twice.

    Trainable parameters (the adapter being trained) are never shared; a frozen parameter whose values
    differ keeps its own tensor.  Sharing lasts: a caller who later unfreezes the policy's base weights
    must copy them first (``copy.deepcopy``), or training them would move the reference too.
    """
    import torch

    theirs, saved, seen = _parameters(ref_model), 0, set()
    for name, (module, attribute, param) in _parameters(model).items():
        other = theirs.get(name, (None, None, None))[2]
        if param.requires_grad or other is None or other is param or other.requires_grad:
            continue
        if other.shape != param.shape or other.dtype != param.dtype or other.device != param.device:
            continue
        if not torch.equal(other, param):
            continue
        if id(param) not in seen:  # a tied weight is counted once
            seen.add(id(param))
            saved += param.numel() * param.element_size()
        module._parameters[attribute] = other
    return saved


def reference_model(model, ref_model=None):
    """The frozen reference (eval mode, no gradient) for RL on ``model``: ``ref_model``, or a copy of
    ``model``; either way sharing the frozen weights (:func:`share_frozen_weights`).

    A copy is made without copying the frozen parameters at all (``deepcopy`` with them in its memo).
    """
    if ref_model is None:
        memo = {id(p): p for p in model.parameters() if not p.requires_grad}
        ref_model = copy.deepcopy(model, memo)
    ref_model.eval().requires_grad_(False)
    share_frozen_weights(model, ref_model)
    return ref_model
