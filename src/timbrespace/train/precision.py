"""Mixed precision for training on the CPU: the convolution stacks in bfloat16, the rest in float32.

On CPUs with AMX tiles (Intel Sapphire Rapids and later) oneDNN runs bfloat16 convolutions
much faster than float32 ones: the one-shot model's encoder, which convolves the whole clip at
full rate, costs 2.3× less forward and backward. Elsewhere bfloat16 is emulated and slower, so
`"auto"` uses it only where AMX is present.

Only the named sub-modules (`conv_stacks`) run under `torch.autocast`, and only in training
mode: their inputs are cast to bfloat16 and their outputs back to float32, while the weights,
the optimizer, the layer that reads their features (the encoder's dense layer into the
bottleneck), the decoder, the synth and the loss stay in float32. Validation, previews, and every
inference path run in float32, so what a bundle decodes does not depend on how it was trained.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

PRECISIONS: tuple[str, ...] = ("auto", "32", "bf16")


def amx_available() -> bool:
    """Whether this CPU has AMX tiles (fast bfloat16 matrix units)."""
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(check()) if check is not None else False


def resolve_precision(precision: str | int) -> str:
    """`"auto"` → `"bf16"` on a CPU with AMX, else `"32"`; `"32"` (or 32) and `"bf16"` as given."""
    precision = str(precision)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if amx_available() else "32"
    return precision


class _Autocast:
    """Forward hooks that run one module under bfloat16 autocast in training mode."""

    def __init__(self) -> None:
        self.active: list[Any] = []

    def enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        context = torch.autocast("cpu", dtype=torch.bfloat16, enabled=module.training)
        context.__enter__()
        self.active.append(context)

    def leave(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        self.active.pop().__exit__(None, None, None)
        if isinstance(output, torch.Tensor) and output.dtype == torch.bfloat16:
            return output.float()
        return output


def conv_stacks(model: nn.Module) -> list[str]:
    """Names of the sub-modules of `model` that run in bfloat16: the one-shot encoder's conv
    stack (full-rate convolutions over the whole clip: ~45 % of a float32 step, 2.3× faster in
    bfloat16 on one AMX core). The decoders stay in float32: the ddsp decoder's stack runs at
    the control rate and gained little (60 → 35 ms per step), and the waveform decoder's last
    conv is the audio itself. Other families: none."""
    from timbrespace.models.oneshot import OneShotAutoencoder

    return ["encoder.net"] if isinstance(model, OneShotAutoencoder) else []


def bf16_agrees(
    model: nn.Module, name: str, output_tolerance: float = 0.05, grad_tolerance: float = 0.3
) -> bool:
    """Whether sub-module `name` of a one-shot model computes the same thing in bfloat16 as in
    float32 on a random clip: output within `output_tolerance` (relative, max-norm) and the
    gradient of its parameters within `grad_tolerance` (relative, 2-norm). For the `small`
    encoder these are 0.8 % and 8 % (cosine 0.997). oneDNN's bfloat16 convolutions are wrong for
    some shapes in torch 2.13 (the `tiny` encoder's 8 → 16 channels, kernel 8: ~100 % error on
    both), so this is checked before training rather than assumed."""
    module = dict(model.named_modules())[name]
    encoder: Any = getattr(model, "encoder", None)
    samples = int(getattr(encoder, "padded_samples", 4096))
    channels = int(getattr(getattr(model, "config", None), "channels", 1))
    generator = torch.Generator().manual_seed(0)
    x = 0.3 * torch.randn(1, channels, samples, generator=generator)
    results = []
    was_training = module.training
    module.train()
    for enabled in (False, True):
        module.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            out = module(x)
        out = out.float()
        (out * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
        grads = torch.cat([p.grad.flatten() for p in module.parameters() if p.grad is not None])
        results.append((out.detach(), grads))
    module.zero_grad(set_to_none=True)
    module.train(was_training)
    (out32, grad32), (out16, grad16) = results
    output_error = float((out16 - out32).abs().max() / out32.abs().max().clamp_min(1e-12))
    grad_error = float((grad16 - grad32).norm() / grad32.norm().clamp_min(1e-12))
    return output_error < output_tolerance and grad_error < grad_tolerance


def autocast_conv_stacks(model: nn.Module, precision: str | int) -> list[str]:
    """Run `conv_stacks(model)` in bfloat16 while the model trains, if `precision` resolves to
    `"bf16"` and `bf16_agrees` for that module (else it stays float32, with a warning).
    Returns the names of the modules it applies to (empty for float32). The hooks are not part
    of the state dict: checkpoints and bundles are the same either way."""
    if resolve_precision(precision) != "bf16":
        return []
    modules = dict(model.named_modules())
    names = []
    for name in conv_stacks(model):
        if not bf16_agrees(model, name):
            warnings.warn(
                f"{name}: bfloat16 convolutions disagree with float32 on this CPU; "
                "training it in float32",
                stacklevel=2,
            )
            continue
        module = modules[name]
        hooks = _Autocast()
        module.register_forward_pre_hook(hooks.enter)
        module.register_forward_hook(hooks.leave, always_call=True)
        names.append(name)
    return names
