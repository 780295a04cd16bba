"""Neutone export: a `WaveformToWaveformBase` wrapper saved with the SDK's `save_neutone_model`.

The SDK (neutone-sdk, optional) imports torchaudio when it is imported; where that fails, the
export says so in one line and writes nothing. Up to four knobs turn the first controls: a knob
at 0 releases its control, above 0 sets a target across the control's span (geometric for Hz
and seconds, linear otherwise). The native sample rate is the model's, the native buffer sizes
the powers of two from 128 to 4096 samples that are multiples of the hop; the reported delay
is the model's `delay_samples`.
"""

# no `from __future__ import annotations`: TorchScript reads the class annotations as types

import math
import shutil
from collections.abc import Callable
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
    """The stream with its state, its controls turned by knobs `[KNOBS]` in [0, 1]; the block
    functions are nn~'s (`nn_tilde.steps`: compiled, or recorded on one `fixed_block`, which
    a buffer is then played in chunks of)."""

    low: torch.Tensor
    high: torch.Tensor
    geometric: torch.Tensor

    def __init__(self, model: Exportable) -> None:
        super().__init__()
        from timbrespace.export.nn_tilde import NoControls, steps

        self.encoder_step, self.decoder_step, self.zero_states = steps(model)
        self.chunk: int = model.fixed_block
        self.hold = model.hold if model.hold is not None else NoControls()
        controls = model.controls[:KNOBS]
        self.n_controls: int = len(model.controls)
        self.knobs: int = KNOBS
        lows = [c.low for c in controls] + [1.0] * (KNOBS - len(controls))
        highs = [c.high for c in controls] + [1.0] * (KNOBS - len(controls))
        geometric = [c.unit in ("Hz", "s") and c.low > 0 for c in controls]
        self.register_buffer("low", torch.tensor(lows, dtype=torch.float64))
        self.register_buffer("high", torch.tensor(highs, dtype=torch.float64))
        self.register_buffer(
            "geometric", torch.tensor(geometric + [False] * (KNOBS - len(controls)))
        )
        self.encoder_state: list[torch.Tensor] = self.zero_states(0, 1)[0]
        self.decoder_state: list[torch.Tensor] = self.zero_states(1, 1)[0]

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
        count = min(self.knobs, self.n_controls)
        full[:count] = value[:count]
        return full

    def reset(self) -> None:
        self.encoder_state = self.zero_states(0, 1)[0]
        self.decoder_state = self.zero_states(1, 1)[0]

    def forward(self, x: torch.Tensor, knobs: torch.Tensor) -> torch.Tensor:
        """Audio `[channels, n]` and knobs `[KNOBS]` → audio `[channels, n]`, `delay` late."""
        audio = x[None]
        length = int(audio.shape[-1])
        chunk = self.chunk if self.chunk > 0 else length
        targets = self.targets(knobs)
        pieces: list[torch.Tensor] = []
        for start in range(0, length, chunk):
            z, self.encoder_state = self.encoder_step(
                audio[..., start : start + chunk], self.encoder_state
            )
            y, self.decoder_state = self.decoder_step(self.hold(z, targets), self.decoder_state)
            pieces.append(y)
        return torch.cat(pieces, dim=-1)[0].clamp(-1.0, 1.0)


def write_neutone(
    space: LatentSpace, model: Exportable, out: Path, verify: Callable[[Path], None]
) -> dict[str, Any]:
    """Save the Neutone model at `out` (the SDK writes `model.nm` in a folder; `verify` checks
    that file, then it is moved to `out`; a file that fails leaves nothing); returns the
    description's Neutone part."""
    sdk = neutone_sdk()
    from neutone_sdk import ContinuousNeutoneParameter, WaveformToWaveformBase
    from neutone_sdk.utils import save_neutone_model

    if model.channels != 1:
        raise TimbrespaceError("the Neutone export takes mono models")
    unit = math.lcm(model.hop, model.fixed_block or model.hop)
    sizes = [size for size in BUFFER_SIZES if size % unit == 0]
    knobs = model.controls[:KNOBS]
    name = space.bundle.path.parent.name or "timbrespace"

    facts = {
        "model_name": f"timbrespace {name}"[:30],
        "short_description": f"{model.label} model trained with timbrespace",
        "technical_description": f"{model.family} family, {model.sample_rate} Hz, hop {model.hop}",
        "version": __version__,
        "sample_rates": [model.sample_rate],
        "buffer_sizes": sizes,
        "delay_samples": int(model.delay_samples),
        "knob_count": KNOBS,
    }
    parameters = [
        ContinuousNeutoneParameter(c.attribute, f"{c.name} ({c.unit}); 0 releases it", 0.0)
        for c in knobs
    ]

    class Wrapper(WaveformToWaveformBase):
        """TorchScript compiles these methods: what they return is read from attributes
        (a closed-over Python value cannot be compiled). TorchScript types attributes from the
        class's own annotations only, so the base's are carried over."""

        __annotations__ = dict(WaveformToWaveformBase.__annotations__)
        model_name: str
        short_description: str
        technical_description: str
        version: str
        sample_rates: list[int]
        buffer_sizes: list[int]
        delay_samples: int
        knob_count: int

        def __init__(self, stream: KnobStream) -> None:
            for key, value in facts.items():
                object.__setattr__(self, key, value)
            super().__init__(stream)

        def get_model_name(self) -> str:
            return self.model_name

        def get_model_authors(self) -> list[str]:
            return ["timbrespace"]

        def get_model_short_description(self) -> str:
            return self.short_description

        def get_model_long_description(self) -> str:
            return "Timbre transfer through a streaming latent model; knobs hold named controls."

        def get_technical_description(self) -> str:
            return self.technical_description

        def get_tags(self) -> list[str]:
            return ["timbre transfer", "timbrespace"]

        def get_model_version(self) -> str:
            return self.version

        def is_experimental(self) -> bool:
            return True

        def get_neutone_parameters(self) -> list[Any]:
            return parameters

        def is_input_mono(self) -> bool:
            return True

        def is_output_mono(self) -> bool:
            return True

        def get_native_sample_rates(self) -> list[int]:
            return self.sample_rates

        def get_native_buffer_sizes(self) -> list[int]:
            return self.buffer_sizes

        def calc_model_delay_samples(self) -> int:
            return self.delay_samples

        def reset_model(self) -> bool:
            self.model.reset()  # type: ignore[operator]
            return True

        def do_forward_pass(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
            knob_values = torch.zeros(self.knob_count)
            for index, control in enumerate(self.neutone_parameter_names):
                knob_values[index] = params[control][0]
            return self.model(x, knob_values)

    folder = out.with_name(out.name + ".neutone")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        save_neutone_model(  # no SDK speed benchmark: it sets torch's threads for the process
            Wrapper(KnobStream(model)),
            folder,
            dump_samples=False,
            submission=False,
            speed_benchmark=False,
        )
        verify(folder / "model.nm")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    (folder / "model.nm").replace(out)
    del sdk
    return {
        "knobs": [c.attribute for c in knobs],
        "native_buffer_sizes": sizes,
        "neutone_folder": folder.name,
    }


def neutone_runner(path: Path, sample_rate: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A saved Neutone model as a host calls it: at the model's own rate and with the buffer
    length of the first block (set then, as a DAW does), a mono block `[1, 1, n]` with the
    knobs at their defaults (0: every control released) → `[1, 1, n]`, copied out as a host
    does (the wrapper writes every output into the same buffer)."""
    module = torch.jit.load(str(path), map_location="cpu")
    buffer = 0

    def run(block: torch.Tensor) -> torch.Tensor:
        nonlocal buffer
        if not buffer:
            buffer = int(block.shape[-1])
            module.set_daw_sample_rate_and_buffer_size(sample_rate, buffer)
            module.reset()
            if module.calc_buffering_delay_samples() != 0:
                raise TimbrespaceError(f"the Neutone wrapper buffers {buffer}-sample blocks")
        return module.forward(block[0], None)[None].clone()  # the wrapper reuses its buffer

    return run
