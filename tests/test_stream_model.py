"""The streaming waveform VAE: streamed equals offline, state handling, causality, block checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from timbrespace.audio.loudness import frame_loudness_db
from timbrespace.errors import TimbrespaceError
from timbrespace.models.base import (
    BlockSizeError,
    CapabilityError,
    build_model,
    config_to_dict,
    resolve_config,
)
from timbrespace.models.causal import causal_frames, overlap_add
from timbrespace.models.stream import StreamingVAE, scale_to_loudness
from timbrespace.models.stream_phase import accumulate_phase, locked_phase, nearest_peaks

BLOCKS = (64, 128, 512, 2048, 4096)


@pytest.fixture(scope="module")
def model() -> StreamingVAE:
    torch.manual_seed(0)
    built = build_model("stream", resolve_config("stream", "tiny"))
    assert isinstance(built, StreamingVAE)
    return built.eval()


def streamed(model: StreamingVAE, audio: torch.Tensor, block: int) -> torch.Tensor:
    state = model.init_state(audio.shape[0])
    parts = []
    with torch.inference_mode():
        for start in range(0, audio.shape[-1], block):
            out, state = model.forward_block(audio[..., start : start + block], state)
            parts.append(out)
    return torch.cat(parts, dim=-1)


def melody(samples: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / 22050
    pitch = 220 * 2 ** (torch.randint(0, 12, (batch, 1), generator=generator) / 12)
    tone = torch.sin(2 * torch.pi * pitch * t) * (0.5 + 0.4 * torch.sin(2 * torch.pi * 3 * t))
    return (tone + 0.05 * torch.randn(batch, samples, generator=generator))[:, None] * 0.5


@pytest.mark.parametrize("block", BLOCKS)
def test_streamed_output_equals_offline_output_for_every_block_size(model, block) -> None:
    audio = melody(8192)
    delay = model.delay_samples
    with torch.inference_mode():
        offline = model.decode(model.encode(audio))
    live = streamed(model, audio, block)
    assert live.shape == offline.shape == audio.shape
    difference = (live[..., delay:] - offline[..., : audio.shape[-1] - delay]).abs().max()
    assert float(difference) < 1e-4
    assert float(offline.abs().max()) > 1e-5


def test_the_latent_stream_matches_offline_encoding_frame_by_frame(model) -> None:
    audio = melody(4096)
    state = model.init_state(1)[: model.encoder_state_size]
    frames = []
    with torch.inference_mode():
        for start in range(0, 4096, model.hop_length):
            z, state = model.encode_block(audio[..., start : start + model.hop_length], state)
            frames.append(z)
        offline = model.encode(audio)
    assert torch.allclose(torch.cat(frames, dim=-1), offline, atol=1e-5)
    assert offline.shape == (1, model.latent_dim, 4096 // model.hop_length)


def test_a_reset_state_gives_the_output_of_a_fresh_model(model) -> None:
    first, second = melody(4096, seed=1), melody(4096, seed=2)
    streamed(model, first, 512)
    fresh = streamed(model, second, 512)
    state = model.init_state(1)
    with torch.inference_mode():
        streamed_on, state = model.forward_block(first[..., :2048], state)
        state = model.init_state(1)
        parts = [model.forward_block(second[..., i : i + 512], state)[0] for i in (0,)]
    assert torch.equal(parts[0], fresh[..., :512])
    assert not torch.allclose(streamed_on[..., :512], fresh[..., :512])


def test_batches_of_one_and_four_stream_each_item_as_alone(model) -> None:
    audio = melody(4096, batch=4, seed=3)
    together = streamed(model, audio, 256)
    alone = torch.cat([streamed(model, audio[i : i + 1], 256) for i in range(4)])
    assert together.shape == (4, 1, 4096)
    assert torch.allclose(together, alone, atol=1e-5)


def test_the_stream_never_depends_on_later_input(model) -> None:
    audio = melody(4096)
    changed = audio.clone()
    changed[..., 3000:] = torch.randn(1, 1, 1096)
    before, after = streamed(model, audio, 64), streamed(model, changed, 64)
    hop_start = (3000 // model.hop_length) * model.hop_length
    assert torch.equal(before[..., :hop_start], after[..., :hop_start])
    assert not torch.equal(before[..., hop_start:], after[..., hop_start:])
    assert model.delay_samples == model.config.n_fft - model.hop_length


def test_a_block_that_is_not_a_multiple_of_the_hop_is_one_clear_error(model) -> None:
    with pytest.raises(BlockSizeError, match=r"block of 100 samples.*multiple of its hop, 64"):
        model.forward_block(torch.zeros(1, 1, 100), model.init_state(1))
    assert issubclass(BlockSizeError, TimbrespaceError)


def test_causal_frames_end_where_their_hop_ends() -> None:
    signal = torch.arange(1.0, 13.0).reshape(1, 1, 12)
    frames, past = causal_frames(signal, torch.zeros(1, 1, 4), n_fft=8, hop=4)
    assert frames.shape == (1, 1, 3, 8)
    assert frames[0, 0, 0].tolist() == [0, 0, 0, 0, 1, 2, 3, 4]
    assert frames[0, 0, 2].tolist() == [5, 6, 7, 8, 9, 10, 11, 12]
    assert past[0, 0].tolist() == [9, 10, 11, 12]


def test_overlap_add_sums_each_sample_over_the_frames_that_cover_it() -> None:
    frames = torch.ones(1, 1, 3, 8)
    finished, tail = overlap_add(frames, torch.full((1, 1, 4), 10.0), hop=4)
    assert finished[0, 0].tolist() == [11] * 4 + [2] * 8
    assert tail[0, 0].tolist() == [1] * 4


def test_a_point_latent_model_refuses_block_rendering() -> None:
    from timbrespace import inference

    oneshot = build_model("oneshot", resolve_config("oneshot", "tiny"))
    with pytest.raises(CapabilityError, match="does not stream block by block"):
        inference.stream(oneshot, torch.zeros(1, 1, 1024), 512)


def test_presets_keep_the_small_delay_under_10_ms_at_44_1_khz() -> None:
    small = build_model("stream", resolve_config("stream", "small"))
    assert isinstance(small, StreamingVAE)
    assert small.sample_rate == 44100
    assert small.delay_samples / 44100 <= 0.010
    assert sum(p.numel() for p in small.parameters()) < 2_000_000


def test_a_stereo_model_streams_both_channels_as_offline() -> None:
    torch.manual_seed(1)
    stereo = build_model("stream", resolve_config("stream", "tiny", {"channels": 2})).eval()
    assert isinstance(stereo, StreamingVAE)
    audio = torch.cat([melody(4096, seed=4), melody(4096, seed=5)], dim=1)
    with torch.inference_mode():
        offline = stereo.decode(stereo.encode(audio))
    live = streamed(stereo, audio, 512)
    delay = stereo.delay_samples
    assert live.shape == (1, 2, 4096)
    assert float((live[..., delay:] - offline[..., : 4096 - delay]).abs().max()) < 1e-4
    assert not torch.allclose(offline[:, 0], offline[:, 1])


def test_the_loudness_channel_measures_the_input_in_db(model) -> None:
    t = torch.arange(8192) / 22050
    for amplitude in (1.0, 0.1, 0.01):
        sine = (amplitude * torch.sin(2 * torch.pi * 440 * t))[None, None]
        with torch.inference_mode():
            channel = model.encode(sine)[0, 0, 8:]
        rms_db = 20 * torch.log10(torch.tensor(amplitude / 2**0.5))
        assert torch.allclose(channel * 25 - 50, rms_db, atol=0.1)


def test_a_zero_deviation_advances_each_bin_by_its_own_frequency_over_a_hop() -> None:
    hop, n_fft, bins = 64, 256, 129
    deviation = torch.zeros(1, 1, 10, bins)
    phase, last = accumulate_phase(deviation, torch.zeros(1, 1, bins), hop, n_fft)
    bin_5 = torch.remainder(torch.arange(1, 11) * 2 * torch.pi * 5 * hop / n_fft, 2 * torch.pi)
    wrapped = torch.remainder(phase[0, 0, :, 5], 2 * torch.pi)
    distance = torch.remainder(wrapped - bin_5 + torch.pi, 2 * torch.pi) - torch.pi
    assert float(distance.abs().max()) < 1e-5
    assert torch.equal(last, phase[:, :, -1])
    assert float(phase.abs().max()) <= torch.pi + 1e-6
    first, middle = accumulate_phase(deviation[:, :, :4] + 0.3, torch.zeros(1, 1, bins), hop, n_fft)
    second, _ = accumulate_phase(deviation[:, :, 4:] + 0.3, middle, hop, n_fft)
    whole, _ = accumulate_phase(deviation + 0.3, torch.zeros(1, 1, bins), hop, n_fft)
    joined = torch.cat([first, second], dim=2)
    assert (
        float((torch.remainder(joined - whole + torch.pi, 2 * torch.pi) - torch.pi).abs().max())
        < 1e-5
    )


@pytest.mark.parametrize("phase", ["advance", "locked", "free"])
def test_a_steady_latent_sustains_a_steady_partial_only_with_the_phase_advance(phase) -> None:
    """One bin lit with a constant output: the phase vocoder renders a pure sine at the bin's
    frequency; a free phase repeats the same frame every hop, which no sine between the
    multiples of sample_rate / hop survives."""
    torch.manual_seed(0)
    config = resolve_config("stream", "tiny", {"phase": phase})
    model = build_model("stream", config).eval()
    assert isinstance(model, StreamingVAE)
    bins, k = model.bins, 9  # bin 9 of 256 points: 9/4 cycles per hop of 64
    with torch.no_grad():
        model.decoder.output.weight.zero_()
        model.decoder.output.bias.zero_()
        model.decoder.output.bias[:bins] = -8.0
        model.decoder.output.bias[k] = 4.0
        audio = model.decode(torch.zeros(1, model.latent_dim, 64))[0, 0, 512:3584]
    t = torch.arange(audio.shape[-1]) + 512
    frequency = 2 * torch.pi * k / config.n_fft
    basis = torch.stack([torch.cos(frequency * t), torch.sin(frequency * t)], dim=1)
    fitted = basis @ torch.linalg.lstsq(basis, audio[:, None]).solution
    share = float(fitted.square().sum() / audio.square().sum())
    assert (share > 0.999) if phase != "free" else (share < 0.5)


def test_each_bin_belongs_to_its_nearest_peak_read_at_the_parabolas_vertex() -> None:
    row = torch.tensor([0.0, 1.0, 0.0, 0.0, 3.0, 2.0, 0.0, 5.0, 0.0])
    peak, frequency = nearest_peaks(row[None])
    assert peak[0].tolist() == [1, 1, 1, 4, 4, 4, 7, 7, 7]  # bin 2: a tie, the lower peak
    assert float(frequency[0, 4]) == pytest.approx(4.25)  # 0.5·(0 − 2) / (0 − 6 + 2)
    bins = torch.arange(12.0)
    _, vertex = nearest_peaks(-((bins - 4.3) ** 2)[None])
    assert float(vertex[0, 4]) == pytest.approx(4.3, abs=1e-5)
    flat_peak, flat_frequency = nearest_peaks(torch.zeros(1, 6))
    assert flat_peak[0].tolist() == list(range(6)) and flat_frequency[0].tolist() == list(range(6))


def test_locked_phases_around_a_peak_step_by_pi_and_advance_at_its_frequency() -> None:
    hop, n_fft, bins = 64, 256, 129
    log_magnitude = -((torch.arange(bins) - 20.4) ** 2).expand(1, 1, 6, bins) / 4
    phase, running = locked_phase(log_magnitude, torch.zeros(1, 1, bins), hop, n_fft)
    step = torch.remainder(phase[0, 0, 1:, 20] - phase[0, 0, :-1, 20], 2 * torch.pi)
    expected = 2 * torch.pi * 20.4 * hop / n_fft % (2 * torch.pi)
    assert torch.allclose(step, torch.full_like(step, expected), atol=1e-4)
    across = torch.remainder(phase[0, 0, :, 21] - phase[0, 0, :, 20], 2 * torch.pi)
    assert torch.allclose(across, torch.full_like(across, torch.pi), atol=1e-4)
    halves = [locked_phase(log_magnitude[:, :, :3], torch.zeros(1, 1, bins), hop, n_fft)]
    halves.append(locked_phase(log_magnitude[:, :, 3:], halves[0][1], hop, n_fft))
    joined = torch.cat([halves[0][0], halves[1][0]], dim=2)
    assert (
        float((torch.remainder(joined - phase + torch.pi, 2 * torch.pi) - torch.pi).abs().max())
        < 1e-5
    )
    assert running.shape == (1, 1, bins)


@pytest.mark.parametrize("phase", ["advance", "locked", "locked+gain"])
@pytest.mark.parametrize("block", (64, 512, 4096))
def test_a_running_phase_streams_as_it_renders_offline(phase, block) -> None:
    torch.manual_seed(0)
    options = {"phase": phase.split("+")[0], "loudness_gain": phase.endswith("+gain")}
    built = build_model("stream", resolve_config("stream", "tiny", options))
    assert isinstance(built, StreamingVAE)
    model = built.eval()
    audio, delay = melody(8192), model.delay_samples
    with torch.inference_mode():
        offline = model.decode(model.encode(audio))
    live = streamed(model, audio, block)
    difference = (live[..., delay:] - offline[..., : audio.shape[-1] - delay]).abs().max()
    assert float(difference) < 1e-4
    assert float(offline.abs().max()) > 1e-5
    assert len(model.init_decoder_state(1)) == len(model.decoder.units) + 2


def test_the_frame_loss_scores_the_synthesised_frames_against_the_inputs() -> None:
    """The decoder's frames are given in the input's analysis units: a Hann window overlap-
    added every quarter window renders a magnitude M as 0.75·M."""
    torch.manual_seed(0)
    config = resolve_config("stream", "tiny")
    model = build_model("stream", config).train()
    out = model(melody(4096))
    bins, frames = config.n_fft // 2 + 1, 4096 // config.hop
    assert out.frames_log_magnitude.shape == out.target_frames_log_magnitude.shape
    assert out.frames_log_magnitude.shape == (1, 1, bins, frames)
    gain = float((model.window * model.synthesis_window).sum()) / config.hop
    assert gain == pytest.approx(0.75) == model.frame_gain
    plain = build_model("stream", resolve_config("stream", "tiny", {"frame_loss": False}))
    plain = plain.train()(melody(4096))
    assert plain.frames_log_magnitude is None


def test_scale_to_loudness_gives_each_frame_the_power_its_loudness_names() -> None:
    generator = torch.Generator().manual_seed(0)
    shape = torch.randn(2, 2, 5, 33, generator=generator) * 3
    loudness = torch.tensor([[0.4, 1.2, 2.0, 2.24, 3.0], [0.0, 0.8, 1.0, 1.6, 2.2]])
    scaled = scale_to_loudness(shape, loudness, log_power_offset=-1.5)
    power = torch.exp(2 * scaled).mean(dim=(1, 3))  # [batch, frames]
    wanted = torch.exp(loudness.clamp(max=2.24) * torch.log(torch.tensor(10.0)) / 0.4 - 1.5)
    assert torch.allclose(power, wanted, rtol=1e-4)
    difference = scaled - shape  # one shift per frame: the shape is kept
    assert torch.allclose(difference, difference[:, :1, :, :1].expand_as(difference), atol=1e-5)


def test_with_the_loudness_gain_latent_channel_0_is_the_rendered_loudness_in_db() -> None:
    """Any timbre channels, a loudness of −40, −20 or −6 dB on channel 0: librosa measures
    the rendering within 2 dB of it (an untrained locked-phase model; a frame loses ~1 dB
    where overlapping frames do not add in phase)."""
    torch.manual_seed(0)
    model = build_model("stream", resolve_config("stream", "tiny")).eval()
    for seed, db in enumerate((-40.0, -20.0, -6.0)):
        z = torch.randn(1, model.latent_dim, 1, generator=torch.Generator().manual_seed(seed))
        z = z.repeat(1, 1, 300)
        z[:, 0] = (db + 50) / 25
        with torch.inference_mode():
            audio = model.decode(z)[0, 0].numpy()
        measured = float(np.median(frame_loudness_db(audio)[20:-20]))
        assert measured == pytest.approx(db, abs=2.0)
    with pytest.raises(TimbrespaceError, match="loudness_gain needs loudness_latent"):
        resolve_config("stream", "tiny", {"loudness_gain": True, "loudness_latent": False})


def test_a_bundle_saved_before_the_locked_phase_loads_as_it_was_trained() -> None:
    """A saved config without `phase`, `frame_loss` and `loudness_gain` is a decoded-phase
    model: its decoder has a phase output per bin, which the weights must find again."""
    saved = config_to_dict(resolve_config("stream", "tiny"))
    for key in ("phase", "frame_loss", "loudness_gain"):
        del saved[key]
    old = build_model("stream", saved)
    assert isinstance(old, StreamingVAE)
    assert (old.config.phase, old.config.frame_loss, old.loudness_gain) == ("free", False, False)
    new = build_model("stream", resolve_config("stream", "tiny"))
    assert old.decoder.output.weight.shape[0] == 2 * new.decoder.output.weight.shape[0]
