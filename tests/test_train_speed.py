"""Training speed settings: bfloat16 conv stacks only while training, the thread policy."""

from __future__ import annotations

import pytest
import torch

from timbrespace import runtime
from timbrespace.models.base import build_model, resolve_config
from timbrespace.train import precision
from timbrespace.train.callbacks import training_threads
from timbrespace.train.precision import autocast_conv_stacks, resolve_precision


def small_model(clip_samples: int = 8192):
    """The `small` architecture on short clips (same conv shapes, cheaper)."""
    torch.manual_seed(0)
    overrides = {"n_descriptors": 2, "clip_samples": clip_samples}
    return build_model("oneshot", resolve_config("oneshot", "small", overrides))


def test_precision_names_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_precision("32") == resolve_precision(32) == "32"
    assert resolve_precision("bf16") == "bf16"
    monkeypatch.setattr(precision, "amx_available", lambda: True)
    assert resolve_precision("auto") == "bf16"
    monkeypatch.setattr(precision, "amx_available", lambda: False)
    assert resolve_precision("auto") == "32"
    assert autocast_conv_stacks(small_model(), "auto") == []
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16")


def test_bf16_is_refused_where_it_disagrees_with_float32(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(precision, "bf16_agrees", lambda model, name: False)
    with pytest.warns(UserWarning, match="encoder.net: bfloat16"):
        assert autocast_conv_stacks(small_model(), "bf16") == []


@pytest.mark.skipif(not precision.amx_available(), reason="bfloat16 is only used with AMX")
def test_bf16_encoder_only_while_training_and_state_dict_unchanged() -> None:
    plain, mixed = small_model(), small_model()
    keys = set(mixed.state_dict())
    assert autocast_conv_stacks(mixed, "bf16") == ["encoder.net"]
    assert set(mixed.state_dict()) == keys
    seen: list[torch.dtype] = []
    first_conv = mixed.encoder.net[0]
    first_conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    x = 0.3 * torch.randn(3, 1, 8192, generator=torch.Generator().manual_seed(1))

    mixed.train()
    output = mixed(x)
    assert seen[-1] == torch.bfloat16  # inside the stack
    assert output.audio.dtype == output.z.dtype == torch.float32
    assert not torch.is_autocast_enabled("cpu")  # the hooks closed their context
    with torch.no_grad():
        features = mixed.encoder(x)
        difference = (features - plain.train().encoder(x)).abs().max() / features.abs().max()
    assert 0 < float(difference) < 0.05  # bfloat16 rounding, not another function

    mixed.eval()
    plain.eval()
    with torch.no_grad():
        z_mixed, z_plain = mixed.encode(x), plain.encode(x)
    assert seen[-1] == torch.float32
    torch.testing.assert_close(z_mixed, z_plain, rtol=0, atol=0)


def test_training_threads_follow_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    class Busy:
        others = 0.0

        def others_busy(self) -> float:
            return self.others

    busy = Busy()
    monkeypatch.delenv(runtime.ENV_THREADS, raising=False)
    monkeypatch.setattr(runtime, "usable_cores", lambda: 4)
    monkeypatch.setattr(runtime, "_MONITOR", busy)
    assert training_threads(3) == 3
    assert training_threads() == 4  # a quiet machine
    assert training_threads(processes=2) == 2  # each DDP process gets its share
    busy.others = 2.0  # 2 cores busy elsewhere
    assert training_threads() == 2
    busy.others = 9.0  # overloaded
    assert training_threads() == 1
    monkeypatch.setenv(runtime.ENV_THREADS, "3")
    assert training_threads() == 3
