"""Neutone export: a `WaveformToWaveformBase` wrapper saved with the SDK's `save_neutone_model`.

The SDK (neutone-sdk, optional) imports torchaudio when it is imported; where that fails, the
export says so in one line and writes nothing. Up to four knobs turn the first controls: a knob
at 0 releases its control, above 0 sets a target across the control's span (geometric for Hz
and seconds, linear otherwise). The native sample rate is the model's, the native buffer sizes
the powers of two from 128 to 4096 samples that are multiples of the hop; the reported delay
is the model's `delay_samples`.
"""

# no `from __future__ import annotations`: TorchScript reads the class annotations as types

import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from timbrespace import __version__
from timbrespace.errors import TimbrespaceError
from timbrespace.exportable import Exportable
from timbrespace.space import LatentSpace

KNOBS = 4
BUFFER_SIZES = (128, 256, 512, 1024, 2048, 4096)


class NeutoneUnavailable(TimbrespaceError):
    """neutone-sdk is not installed or does not import here (it needs torchaudio)."""


def neutone_sdk() -> Any:
    try:
        import neutone_sdk
        import neutone_sdk.utils
    except Exception as error:  # the SDK fails at import time when torchaudio does not load
        raise NeutoneUnavailable(
            f"the Neutone export needs neutone-sdk, which does not import here ({error}); "
            "install `pip install -e .[neutone]` where torchaudio loads"
        ) from error
    return neutone_sdk


class KnobStream(nn.Module):
    """The stream with its state, its controls turned by knobs `[KNOBS]` in [0, 1]."""

    low: torch.Tensor
    high: torch.Tensor
    geometric: torch.Tensor

    def __init__(self, model: Exportable) -> None:
        super().__init__()
        from timbrespace.export.nn_tilde import NoControls

        self.blocks = model.blocks
        self.hold = model.hold if model.hold is not None else NoControls()
        controls = model.controls[:KNOBS]
        self.n_controls: int = len(model.controls)
        self.split: int = int(model.blocks.encoder_state_size)
        lows = [c.low for c in controls] + [1.0] * (KNOBS - len(controls))
        highs = [c.high for c in controls] + [1.0] * (KNOBS - len(controls))
        geometric = [c.unit in ("Hz", "s") and c.low > 0 for c in controls]
        self.register_buffer("low", torch.tensor(lows, dtype=torch.float64))
        self.register_buffer("high", torch.tensor(highs, dtype=torch.float64))
        self.register_buffer(
            "geometric", torch.tensor(geometric + [False] * (KNOBS - len(controls)))
        )
        self.state: list[torch.Tensor] = model.blocks.init_state(1)

    def targets(self, knobs: torch.Tensor) -> torch.Tensor:
        """Knobs `[KNOBS]` in [0, 1] → targets `[n_controls]` in the controls' units (0:
        released)."""
        k = knobs.to(torch.float64).clamp(0.0, 1.0)
        linear = self.low + k * (self.high - self.low)
        ratio = (self.high / self.low.clamp_min(1e-12)).clamp_min(1e-12)
        geometric = self.low * torch.pow(ratio, k)
        value = torch.where(self.geometric, geometric, linear)
        value = torch.where(k > 0, value, torch.zeros_like(value))
        full = torch.zeros(self.n_controls, dtype=torch.float64, device=knobs.device)
        count = min(KNOBS, self.n_controls)
        full[:count] = value[:count]
        return full

    def reset(self) -> None:
        self.state = self.blocks.init_state(1)

    def forward(self, x: torch.Tensor, knobs: torch.Tensor) -> torch.Tensor:
        """Audio `[channels, n]` and knobs `[KNOBS]` → audio `[channels, n]`, `delay` late."""
        z, encoder_state = self.blocks.encode(x[None], self.state[: self.split])
        held = self.hold(z, self.targets(knobs))
        y, decoder_state = self.blocks.decode(held, self.state[self.split :])
        self.state = encoder_state + decoder_state
        return y[0].clamp(-1.0, 1.0)


def write_neutone(space: LatentSpace, model: Exportable, out: Path) -> dict[str, Any]:
    """Save the Neutone model at `out` (the SDK writes `model.nm` in a folder; it is moved to
    `out`); returns the description's Neutone part."""
    sdk = neutone_sdk()
    from neutone_sdk import ContinuousNeutoneParameter, WaveformToWaveformBase
    from neutone_sdk.utils import save_neutone_model

    if model.channels != 1:
        raise TimbrespaceError("the Neutone export takes mono models")
    sizes = [size for size in BUFFER_SIZES if size % model.hop == 0]
    knobs = model.controls[:KNOBS]
    name = space.bundle.path.parent.name or "timbrespace"

    class Wrapper(WaveformToWaveformBase):
        def get_model_name(self) -> str:
            return f"timbrespace {name}"[:30]

        def get_model_authors(self) -> list[str]:
            return ["timbrespace"]

        def get_model_short_description(self) -> str:
            return f"{model.label} model trained with timbrespace"

        def get_model_long_description(self) -> str:
            return "Timbre transfer through a streaming latent model; knobs hold named controls."

        def get_technical_description(self) -> str:
            return f"{model.family} family, {model.sample_rate} Hz, hop {model.hop}"

        def get_tags(self) -> list[str]:
            return ["timbre transfer", "timbrespace"]

        def get_model_version(self) -> str:
            return __version__

        def is_experimental(self) -> bool:
            return True

        def get_neutone_parameters(self) -> list[Any]:
            return [
                ContinuousNeutoneParameter(
                    c.attribute, f"{c.name} ({c.unit}); 0 releases it", default_value=0.0
                )
                for c in knobs
            ]

        def is_input_mono(self) -> bool:
            return True

        def is_output_mono(self) -> bool:
            return True

        def get_native_sample_rates(self) -> list[int]:
            return [model.sample_rate]

        def get_native_buffer_sizes(self) -> list[int]:
            return sizes

        def calc_model_delay_samples(self) -> int:
            return model.delay_samples

        def reset_model(self) -> bool:
            self.model.reset()  # type: ignore[operator]
            return True

        def do_forward_pass(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
            knob_values = torch.zeros(KNOBS)
            for index, control in enumerate(self.neutone_parameter_names):
                knob_values[index] = params[control][0]
            return self.model(x, knob_values)

    folder = out.with_name(out.name + ".neutone")
    shutil.rmtree(folder, ignore_errors=True)
    save_neutone_model(Wrapper(KnobStream(model)), folder, dump_samples=False, submission=False)
    (folder / "model.nm").replace(out)
    del sdk
    return {
        "knobs": [c.attribute for c in knobs],
        "native_buffer_sizes": sizes,
        "neutone_folder": folder.name,
    }
