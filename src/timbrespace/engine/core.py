"""The engine's block processor: it owns the model's live state and turns one input block into
one output block, applying the commands received since the last block first.

    input block ─(+ shaped feedback of the last output)─► encode ─┐   (streaming models)
    corner sounds A B C D, looped, mixed by /plane or /ab ────────┤   (path models)
                                              edits (scale, bias, curves, random, controls)
                                                        ─► decode ─► dry/wet ─► gain ─► limiter
    notes (/note, MIDI) of an instrument model → f0 and loudness ──┤   (ddsp models)
    one-shot models: each trigger a rendered voice, mixed          ─┘

`render_block` is deterministic: the same commands at the same blocks give the same samples,
whether a file backend calls it in a loop or the realtime worker (`engine.runner`) does.
Audio blocks are float32 `[channels, block]`.
"""

from __future__ import annotations

import queue
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from timbrespace.audio.filters import FeedbackShaper, soft_limit
from timbrespace.blocks import BlockStream, PathStream, check_block, open_decoder
from timbrespace.engine.addresses import AddressError, Command
from timbrespace.engine.commands import CommandHandler
from timbrespace.engine.params import Params
from timbrespace.engine.voices import VoiceBank
from timbrespace.live import (
    FrameEdits,
    LoopedCurve,
    LoopPlayhead,
    RandomWalk,
    ab_weights,
    curve_offsets,
    has_pitch,
    latent_spread,
    mix_frames,
    plane_weights,
    style_names,
)
from timbrespace.live_notes import live_notes, notes_latent
from timbrespace.runtime import ENGINE_RUNTIMES, threads_for
from timbrespace.space import LatentSpace

__all__ = ["Applied", "Engine"]

LOG_LENGTH = 4096
"""Applied commands remembered (for tests and latency measurements)."""
LIMITER_KNEE = 0.9
"""The output limiter is the identity below this level (full scale = 1)."""


@dataclass(frozen=True)
class Applied:
    block: int
    address: str
    received: float


class Engine(CommandHandler):
    """One model played live. `block` (samples) must suit the model (`blocks.check_block`);
    `corners`: four latents (default: the first dataset sounds, or random draws);
    `synchronous`: render one-shot triggers at once (deterministic file renders); `runtime`:
    what runs a streaming model's block functions, `python` (the model's own code),
    `torchscript` or `onnxruntime` (its exported graphs, `export.compiled`: the same output,
    two to three times as fast per small block on a CPU) or `auto` (the graphs that `export.
    compiled.fastest_steps` measures faster at this block)."""

    def __init__(
        self,
        space: LatentSpace,
        block: int,
        *,
        gla_iters: int | None = None,
        corners: list[torch.Tensor] | None = None,
        synchronous: bool = False,
        seed: int = 0,
        runtime: str = "python",
    ) -> None:
        self.space = space
        self.block = check_block(space.model, block)
        self.sample_rate = int(space.sample_rate)
        self.channels = int(space.model.channels)
        self.dim = int(space.model.latent_dim)
        self.decoder: BlockStream | PathStream | None = open_decoder(
            space.model, self.block, gla_iters=gla_iters
        )
        if runtime not in ENGINE_RUNTIMES:
            raise ValueError(
                f"runtime must be one of {', '.join(ENGINE_RUNTIMES)}, got {runtime!r}"
            )
        self.runtime = "python"
        """What runs the block functions of a streaming model (`python` for other models)."""
        self.runtime_ms: dict[str, float] = {}
        """With `auto`: each runtime's measured ms per encoder + decoder block."""
        self.runtime_skipped: dict[str, str] = {}
        """With `auto`: the runtimes that could not run here, and why."""
        if runtime != "python" and isinstance(self.decoder, BlockStream):
            from timbrespace.export.compiled import engine_steps

            steps = engine_steps(space, self.block, runtime, threads_for("realtime"))
            self.decoder.use_steps(
                steps.encoder, steps.decoder, steps.encoder_state, steps.decoder_state
            )
            self.runtime, self.runtime_ms = steps.runtime, steps.block_ms
            self.runtime_skipped = steps.skipped
        self.frames = self.decoder.frames if self.decoder is not None else 1
        self.frame_rate = self.sample_rate * self.frames / self.block
        self.delay_samples = self.decoder.delay_samples if self.decoder is not None else 0
        latency = getattr(self.decoder, "latency_samples", self.delay_samples)
        self.latency_ms = 1000.0 * (self.block + latency) / self.sample_rate
        """Input to output: one block plus the model's delay (and tracker lag), ms."""
        self.voices = VoiceBank(space, synchronous=synchronous) if self.decoder is None else None
        self.notes = live_notes(space, self.frame_rate) if self.decoder is not None else None
        self.capabilities = {
            "input": isinstance(self.decoder, BlockStream),
            "paths": space.model.latent_kind == "path",
            "gla": isinstance(self.decoder, PathStream),
            "voices": self.voices is not None,
            "pitch": (self.voices is not None and has_pitch(space)) or self.notes is not None,
            "styles": self.voices is not None and bool(style_names(space)),
        }
        self.style_mix = [1.0 if i == 0 else 0.0 for i in range(len(style_names(space)))]
        """A note model's style weights (`/style`), in `style_names` order."""
        self.params = Params(self.dim)
        self.source = "input" if self.capabilities["input"] else "mix"
        self.mode = "ab"
        self.reverse = False
        self.curves: dict[int, LoopedCurve] = {}
        self.controls: dict[str, float] = {}
        self.loops = [LoopPlayhead(z) for z in (corners or self._default_corners(seed))]
        self.walk = RandomWalk(latent_spread(space), seed=seed)
        self._position = (ab_weights(np.zeros(1)), self._neutral_edits())
        self.feedback_on = False
        self.shaper = FeedbackShaper(self.sample_rate, self.channels)
        self._feedback = np.zeros((self.channels, self.block), dtype=np.float32)
        self._dry = np.zeros((self.channels, self.delay_samples), dtype=np.float32)
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._scheduled: dict[int, list[Command]] = {}
        self.block_index = 0
        self.applied: deque[Applied] = deque(maxlen=LOG_LENGTH)
        self.errors: deque[str] = deque(maxlen=LOG_LENGTH)

    # ---- commands ----------------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Queue a checked command for the next block (thread-safe)."""
        self._commands.put(command)

    def schedule(self, block: int, command: Command) -> None:
        """Apply `command` at the start of block `block` (file renders, tests)."""
        self._scheduled.setdefault(int(block), []).append(command)

    def _apply_pending(self) -> None:
        ready = self._scheduled.pop(self.block_index, [])
        while True:
            try:
                ready.append(self._commands.get_nowait())
            except queue.Empty:
                break
        for command in ready:
            try:
                self.apply(command)
            except AddressError as error:  # a race with an earlier command (e.g. a source)
                self.errors.append(str(error))
                continue
            self.applied.append(Applied(self.block_index, command.address, command.received))

    # ---- rendering ---------------------------------------------------------------------------

    def render_block(self, audio_in: np.ndarray | None = None) -> np.ndarray:
        """The next output block `[channels, block]` float32 for the input block (silence when
        None), after applying the commands received so far."""
        self._apply_pending()
        if audio_in is None:
            audio_in = np.zeros((self.channels, self.block), dtype=np.float32)
        audio_in = np.asarray(audio_in, dtype=np.float32)
        if not np.isfinite(audio_in).all():
            audio_in = np.nan_to_num(audio_in, nan=0.0, posinf=1.0, neginf=-1.0)
        if audio_in.shape != (self.channels, self.block):
            raise ValueError(
                f"input block must be [{self.channels}, {self.block}], got {list(audio_in.shape)}"
            )
        wet = self._wet(audio_in)
        period = 1.0 / self.sample_rate
        mix = self.params.wet.advance(self.block, period).astype(np.float32)
        gain = 10.0 ** (self.params.gain_db.advance(self.block, period) / 20.0)
        out = mix * wet + (1.0 - mix) * self._delayed(audio_in)
        out = (gain.astype(np.float32) * out).astype(np.float32)
        if np.abs(out).max() > LIMITER_KNEE:  # the limiter is the identity below its knee
            out = soft_limit(out, knee=LIMITER_KNEE)
        if self.feedback_on:
            self._feedback = self.shaper.process(out)
        self.block_index += 1
        return out

    def _wet(self, audio_in: np.ndarray) -> np.ndarray:
        if self.voices is not None:
            self._position = self._weights()[:, -1:], self._edits()  # glides move every block
            return self.voices.mix(self.block)
        assert self.decoder is not None
        if self.source == "input" and isinstance(self.decoder, BlockStream):
            fed = audio_in + self._feedback if self.feedback_on else audio_in
            z = self.decoder.encode(torch.from_numpy(np.clip(fed, -1.0, 1.0))[None])
        elif self.source == "notes" and self.notes is not None:
            z = notes_latent(self.space, *self.notes.next(self.frames))
        else:
            z = self._mixed_frames()
        z = self._edits().apply(self.space, z)
        return self.decoder.decode(z)[0].numpy()

    def _weights(self) -> np.ndarray:
        period = 1.0 / self.frame_rate
        x = self.params.plane_x.advance(self.frames, period)
        y = self.params.plane_y.advance(self.frames, period)
        amount = self.params.ab.advance(self.frames, period)
        return plane_weights(x, y) if self.mode == "plane" else ab_weights(amount)

    def _mixed_frames(self) -> torch.Tensor:
        weights = self._weights()
        frames = [loop.next(self.frames, reverse=self.reverse) for loop in self.loops]
        return mix_frames(frames, weights)

    def current_point(self) -> torch.Tensor:
        """The point a one-shot trigger renders `[1, dim, 1]`: the corners mixed at the
        position (plane, morph, edits) of the last block."""
        weights, edits = self._position
        points = [loop.path[..., :1] for loop in self.loops]
        return edits.apply(self.space, mix_frames(points, weights))

    def _neutral_edits(self) -> FrameEdits:
        zeros = np.zeros((self.dim, 1))
        return FrameEdits(np.ones((self.dim, 1)), zeros, zeros)

    def _edits(self) -> FrameEdits:
        period = 1.0 / self.frame_rate
        k = self.frames
        scale = self.params.scale.advance(k, period)
        bias = self.params.bias.advance(k, period)
        amount = self.params.random_amount.advance(k, period)
        rate = self.params.random_rate.advance(k, period)
        offset = self.walk.next(k, self.frame_rate, amount, rate)
        if self.curves:
            seconds = (self.block_index * k + np.arange(k)) / self.frame_rate
            offset += curve_offsets(self.curves, self.dim, seconds)
        return FrameEdits(scale, bias, offset, dict(self.controls))

    def _delayed(self, audio_in: np.ndarray) -> np.ndarray:
        """The input delayed like the model's output (the dry signal of dry/wet)."""
        joined = np.concatenate([self._dry, audio_in], axis=1)
        self._dry = joined[:, self.block :]
        return joined[:, : self.block]

    def close(self) -> None:
        if self.voices is not None:
            self.voices.close()
