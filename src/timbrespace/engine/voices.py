"""Triggered voices of a model of whole sounds (one-shots): each trigger renders one sound
through `LatentSpace` on a render thread (never in the audio path), then plays it to its end,
mixed with the others; the oldest voice is stolen past `max_voices`."""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from timbrespace import runtime
from timbrespace.live import at_pitch
from timbrespace.numbers import midi_to_hz
from timbrespace.space import LatentSpace

__all__ = ["MAX_VOICES", "VoiceBank", "midi_to_hz", "velocity_gain"]

MAX_VOICES = 32
RENDER_MEMO = 128
"""Rendered sounds kept, by latent and pitch, so a repeated note costs no render."""


def velocity_gain(velocity: float) -> float:
    """MIDI velocity 0…127 → linear gain, (v/127)² (−∞ … 0 dB; 64 ≈ −12 dB)."""
    return (max(0.0, min(127.0, velocity)) / 127.0) ** 2


@dataclass
class _Voice:
    audio: np.ndarray  # [channels, samples]
    gain: float
    position: int = 0


class VoiceBank:
    """Polyphonic one-shot playback. `trigger` queues a render (a latent `[1, dim, 1]`, an
    optional pitch in Hz reached by `LatentSpace.move`); `mix(block)` returns the next block of
    every playing voice summed `[channels, block]`. With `synchronous`, a trigger is rendered at
    once (file renders: the voice starts at the block its message was applied)."""

    def __init__(
        self,
        space: LatentSpace,
        *,
        max_voices: int = MAX_VOICES,
        synchronous: bool = False,
    ) -> None:
        self.space = space
        self.channels = int(space.model.channels)
        self.max_voices = max_voices
        self.synchronous = synchronous
        self._voices: list[_Voice] = []
        self._pending: list[tuple[Future[np.ndarray], float]] = []
        self._memo: OrderedDict[tuple[bytes, float], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="voice-render")
        self.render_seconds: list[float] = []
        self.stolen = 0

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def render(
        self, z: torch.Tensor, pitch_hz: float | None, cond: torch.Tensor | None = None
    ) -> np.ndarray:
        """One sound `[channels, samples]` float32: `z` `[1, dim, 1]` moved to `pitch_hz`
        (`live.at_pitch`), rendered; or played with conditions `cond` `[1, ...]` (a note
        model's style mix, pitch and velocity)."""
        conditions = b"" if cond is None else cond.numpy().tobytes()
        key = (z.numpy().tobytes() + conditions, float(pitch_hz or 0.0))
        with self._lock:
            cached = self._memo.get(key)
        if cached is not None:
            return cached
        with runtime.threads("render"):
            if pitch_hz is not None:
                z = at_pitch(self.space, z, pitch_hz)
            audio = self.space.render(z, cond=cond)[0].astype(np.float32)
        with self._lock:
            self._memo[key] = audio
            while len(self._memo) > RENDER_MEMO:
                self._memo.popitem(last=False)
        return audio

    def trigger(
        self,
        z: torch.Tensor,
        gain: float,
        pitch_hz: float | None = None,
        cond: torch.Tensor | None = None,
    ) -> None:
        future: Future[np.ndarray]
        if self.synchronous:
            future = Future()
            future.set_result(self.render(z, pitch_hz, cond))
        else:
            future = self._executor.submit(self.render, z.clone(), pitch_hz, cond)
        self._pending.append((future, gain))

    def mix(self, block: int) -> np.ndarray:
        waiting = []
        for future, gain in self._pending:
            if not future.done():
                waiting.append((future, gain))
            elif future.exception() is None:
                self._start(_Voice(future.result(), gain))
        self._pending = waiting
        out = np.zeros((self.channels, block), dtype=np.float32)
        playing = []
        for voice in self._voices:
            chunk = voice.audio[:, voice.position : voice.position + block]
            out[:, : chunk.shape[1]] += voice.gain * chunk
            voice.position += block
            if voice.position < voice.audio.shape[1]:
                playing.append(voice)
        self._voices = playing
        return out

    def play(self, audio: np.ndarray, gain: float) -> None:
        """Start a voice of already rendered audio `[channels, samples]` now."""
        self._start(_Voice(np.asarray(audio, dtype=np.float32), float(gain)))

    @property
    def playing(self) -> int:
        return len(self._voices)

    def _start(self, voice: _Voice) -> None:
        if len(self._voices) >= self.max_voices:
            self._voices.pop(0)
            self.stolen += 1
        self._voices.append(voice)
