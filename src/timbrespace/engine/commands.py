"""What each OSC address does to the engine: `check` (on the receiving thread: the ranges that
depend on the model, and the slow look-ups such as a sound's latent) and `apply` (on the audio
worker, at a block boundary: cheap state changes only). `info` answers `/info`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from timbrespace.audio.filters import max_frequency
from timbrespace.engine.addresses import ADDRESSES, AddressError, Command
from timbrespace.engine.voices import midi_to_hz, velocity_gain
from timbrespace.errors import TimbrespaceError
from timbrespace.live import Curve, LoopedCurve, LoopPlayhead, style_names
from timbrespace.note_play import Note, check_notes, note_conditions
from timbrespace.space import LatentSpace

if TYPE_CHECKING:
    from timbrespace.audio.filters import FeedbackShaper
    from timbrespace.blocks import BlockStream, PathStream
    from timbrespace.engine.params import Params
    from timbrespace.engine.voices import VoiceBank
    from timbrespace.live_notes import LiveNotes

__all__ = ["CommandHandler"]

NEEDS = {
    "input": "live audio input (a streaming model: train --model stream)",
    "paths": "latent paths over time",
    "gla": "Griffin-Lim rendering",
    "voices": "triggered one-shot voices",
    "pitch": "notes: one-shot voices with a pitch control (run `timbrespace analyze`) or an "
    "instrument model (train --model ddsp)",
    "styles": "style mix (a note model: train --model fader)",
}
DEFAULT_VELOCITY = 100.0


class CommandHandler:
    """Mixed into `Engine`: command checking and applying, `/info`."""

    space: LatentSpace
    dim: int
    block: int
    block_index: int
    sample_rate: int
    channels: int
    delay_samples: int
    capabilities: dict[str, bool]
    params: Params
    curves: dict[int, LoopedCurve]
    controls: dict[str, float]
    loops: list[LoopPlayhead]
    reverse: bool
    source: str
    mode: str
    feedback_on: bool
    shaper: FeedbackShaper
    decoder: BlockStream | PathStream | None
    voices: VoiceBank | None
    notes: LiveNotes | None
    style_mix: list[float]
    _feedback: np.ndarray

    @property
    def sources(self) -> tuple[str, ...]:
        """What the model can play from: `input` (live audio), `mix` (the corner sounds),
        `notes` (/note and MIDI, an instrument model)."""
        return (*(("input",) if self.capabilities["input"] else ()), "mix") + (
            ("notes",) if self.notes is not None else ()
        )

    def current_point(self) -> torch.Tensor:
        raise NotImplementedError

    def _controls(self) -> dict[str, Any]:
        try:
            return {n: c for n, c in self.space.controls.items() if c.weak is None}
        except TimbrespaceError:  # no analysis
            return {}

    def _default_corners(self, seed: int) -> list[torch.Tensor]:
        """The first four dataset sounds, else four random draws, else (a bundle without an
        analysis or latent statistics) the origin held for 1 s."""
        try:
            count = len(self.space.analysis.sounds)
            return [self.space.sound_latent(i % count) for i in range(4)]
        except TimbrespaceError:
            pass
        try:
            return list(self.space.random_latents(4, seed=seed).split(1))
        except TimbrespaceError:
            frames = self.space.model.latent_frames(self.space.sample_rate)
            return [torch.zeros(1, self.dim, frames) for _ in range(4)]

    def check(self, command: Command) -> Command:
        """`command` checked against this model (raises `AddressError`), its slow look-ups
        done: a sound name becomes its latent."""
        address, args = command.address, command.args
        needs = ADDRESSES[address].needs
        if needs and not self.capabilities[needs]:
            raise AddressError(
                f"{address}: this {self.space.model.label} model has no {NEEDS[needs]}"
            )
        try:
            resolved = self._resolve(address, args)
        except (TimbrespaceError, ValueError) as error:
            raise AddressError(f"{address}: {error}") from None
        return Command(address, resolved, command.received)

    def _resolve(self, address: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if address in ("/bias", "/scale") or address.startswith("/curve"):
            if args and not -1 <= args[0] < self.dim:
                raise AddressError(f"dim {args[0]} is outside 0…{self.dim - 1} (or -1: all)")
            if address.startswith("/curve") and args and args[0] == -1:
                raise AddressError(f"a curve is drawn on one dimension 0…{self.dim - 1}")
        if address == "/curve":
            pairs = args[2:]
            if not pairs or len(pairs) % 2:
                raise AddressError("expected pairs of time (0…1) and offset after the seconds")
            curve = Curve(tuple(pairs[0::2]), tuple(pairs[1::2]))
            if any(abs(v) > 20 for v in curve.values):
                raise AddressError("curve offsets must lie within -20…20")
            return (args[0], args[1], curve)
        if address == "/source" and args[0] == "input" and not self.capabilities["input"]:
            raise AddressError(f"this {self.space.model.label} model has no {NEEDS['input']}")
        if address == "/source" and args[0] not in self.sources:
            raise AddressError(
                f"source {args[0]!r:.40}: expected {', '.join(self.sources)} for this model"
            )
        if address in ("/corner", "/play"):
            sound = args[-1] if address == "/corner" else args[0]
            return (*args, self.space.sound_latent(sound))
        if address == "/latent":
            return self._latent_args(args)
        if address == "/style":
            styles = style_names(self.space)
            if args[0] not in styles:
                raise AddressError(f"no style {args[0]!r:.40}; styles: {', '.join(styles)}")
            return (styles.index(args[0]), float(args[1]))
        if address == "/note" and self.capabilities["styles"] and args[1] > 0:
            check_notes(self.space.model, [Note(args[0], args[1], tuple(self.style_mix))])
        if address == "/control":
            name, value = args
            controls = self._controls()
            if name not in controls:
                known = ", ".join(sorted(controls)) or "none (run `timbrespace analyze`)"
                raise AddressError(f"no control {name!r:.40}; controls: {known}")
            control = controls[name]
            if control.limits and not control.limits[0] <= value <= control.limits[1]:
                low, high = control.limits
                raise AddressError(f"{name} {value:g} is outside {low:g}…{high:g} {control.unit}")
            control.from_user(value)
        if address == "/control/clear" and args and args[0] not in self.controls:
            raise AddressError(f"control {args[0]!r:.40} is not held")
        if address == "/feedback/freq" and args[0] > max_frequency(self.sample_rate):
            raise AddressError(
                f"{args[0]:g} Hz is above {max_frequency(self.sample_rate):g} Hz "
                f"(0.45 × {self.sample_rate} Hz)"
            )
        return args

    def _latent_args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        frames, values = int(args[0]), args[1:]
        if not self.capabilities["paths"] and frames != 1:
            raise AddressError("a one-shot latent is one frame")
        if len(values) != frames * self.dim:
            raise AddressError(
                f"expected {frames} × {self.dim} = {frames * self.dim} values, got {len(values)}"
            )
        if any(abs(v) > 1000 for v in values):
            raise AddressError("latent values must lie within -1000…1000")
        z = torch.tensor(values, dtype=torch.float32).reshape(1, self.dim, frames)
        return (frames, z)

    def apply(self, command: Command) -> None:
        """Change the engine's state for a checked command (at a block boundary)."""
        address, args = command.address, command.args
        p = self.params
        if address == "/reset":
            self.reset_params()
        elif address == "/gain":
            p.gain_db.set(args[0])
        elif address == "/drywet":
            p.wet.set(args[0])
        elif address in ("/bias", "/scale"):
            glide = p.bias if address == "/bias" else p.scale
            glide.set(args[1], None if args[0] == -1 else args[0])
        elif address == "/random":
            p.random_amount.set(args[0])
            if len(args) > 1:
                p.random_rate.set(args[1])
        elif address == "/curve":
            start = self.block_index * self.block / self.sample_rate
            self.curves[args[0]] = LoopedCurve(args[2], start, args[1])
        elif address == "/curve/clear":
            self.curves = {} if not args else {d: c for d, c in self.curves.items() if d != args[0]}
        elif address == "/reverse":
            self.reverse = bool(args[0])
        elif address == "/source":
            self.source = args[0]
        elif address == "/corner":
            self.loops[args[0]] = LoopPlayhead(args[2])
        elif address == "/plane":
            self.mode = "plane"
            p.plane_x.set(args[0])
            p.plane_y.set(args[1])
        elif address == "/ab":
            self.mode = "ab"
            p.ab.set(args[0])
        elif address == "/latent":
            self.loops[0] = LoopPlayhead(args[1])
            self.mode = "ab"
            p.ab.set(0.0)
        elif address == "/control":
            self.controls[args[0]] = float(args[1])
        elif address == "/control/clear":
            self.controls = (
                {} if not args else {n: v for n, v in self.controls.items() if n != args[0]}
            )
        elif address == "/gla":
            assert self.decoder is not None and hasattr(self.decoder, "gla_iters")
            self.decoder.gla_iters = int(args[0])
        else:
            self._apply_sound(address, args)

    def _apply_sound(self, address: str, args: tuple[Any, ...]) -> None:
        voices = self.voices
        if address == "/note" and self.notes is not None:
            self.source = "notes"
            self.notes.note_on(args[0], args[1])
        elif address in ("/play", "/note", "/trigger"):
            assert voices is not None
            if address == "/play":
                velocity = args[1] if len(args) > 2 else DEFAULT_VELOCITY
                voices.trigger(args[-1], velocity_gain(velocity))
            elif address == "/note" and args[1] > 0 and self.capabilities["styles"]:
                note = Note(float(args[0]), float(args[1]), tuple(self.style_mix))
                voices.trigger(self.current_point(), 1.0, cond=note_conditions([note]))
            elif address == "/note" and args[1] > 0:
                voices.trigger(self.current_point(), velocity_gain(args[1]), midi_to_hz(args[0]))
            elif address == "/trigger":
                voices.trigger(
                    self.current_point(), velocity_gain(args[0] if args else DEFAULT_VELOCITY)
                )
        elif address == "/style":
            self.style_mix[args[0]] = args[1]
        elif address == "/feedback":
            self.feedback_on = bool(args[0])
            if not self.feedback_on:
                self.shaper.reset()
                self._feedback[:] = 0.0
        elif address == "/feedback/freq":
            self.shaper.set(frequency=args[0])
        elif address == "/feedback/q":
            self.shaper.set(q=args[0])
        elif address == "/feedback/gain":
            self.shaper.set(gain=args[0])

    def reset_params(self) -> None:
        fresh = type(self.params)(self.dim)
        for glide, default in zip(self.params.glides(), fresh.glides(), strict=True):
            glide.set(default.target)
        self.curves, self.controls, self.reverse = {}, {}, False
        self.mode = "ab"
        self.feedback_on = False
        self._feedback[:] = 0.0
        if self.notes is not None:
            self.notes.all_off()

    def info(self) -> list[tuple[str, list[Any]]]:
        """The `/info` replies: (address, arguments) each."""
        model = self.space.model
        replies: list[tuple[str, list[Any]]] = [
            (
                "/info/model",
                [model.label, self.sample_rate, self.channels, self.dim, int(model.hop_length)],
            ),
            ("/info/engine", [self.block, self.delay_samples, self.source, self.mode]),
            ("/info/capabilities", [name for name, on in self.capabilities.items() if on]),
        ]
        for name, control in self._controls().items():
            low, high = control.range if control.range else (math.nan, math.nan)
            if control.range:
                low, high = sorted((control.to_user(low), control.to_user(high)))
            replies.append(("/info/control", [name, control.unit, float(low), float(high)]))
        for name, weight in zip(style_names(self.space), self.style_mix, strict=True):
            replies.append(("/info/style", [name, float(weight)]))
        try:
            replies.append(("/info/sound", [len(self.space.analysis.sounds)]))
        except TimbrespaceError:
            replies.append(("/info/sound", [0]))
        return replies
