"""Known-answer tests for the config machinery: unknown keys raise, naming the closest valid key."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import timbrespace.config
from timbrespace.config import (
    ConfigError,
    config_from_dict,
    config_to_dict,
    deep_merge,
    expand_dotted,
)
from timbrespace.data.prepare import PrepareConfig
from timbrespace.errors import TimbrespaceError
from timbrespace.train.config import TRAIN_PRESETS, TrainConfig, train_config


def test_config_error_is_one_class_for_every_config() -> None:
    from timbrespace.models import base

    assert base.ConfigError is ConfigError
    assert base.config_from_dict is config_from_dict
    assert base.config_to_dict is config_to_dict
    assert issubclass(ConfigError, TimbrespaceError)
    assert issubclass(ConfigError, ValueError)


def test_config_module_imports_only_errors() -> None:
    tree = ast.parse(Path(timbrespace.config.__file__).read_text("utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert {name for name in imported if name.startswith("timbrespace")} == {"timbrespace.errors"}


def test_unknown_train_key_names_the_closest_valid_key() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"batch_sise": 8})
    message = str(info.value)
    assert "unknown config key 'batch_sise'" in message
    assert "did you mean 'batch_size'?" in message
    assert message.startswith("TrainConfig: ")


def test_unknown_train_override_names_the_closest_valid_key() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'learning_rate'\?"):
        train_config("tiny", learning_rat=0.1)
    # an unknown key is refused even when its value is None (None of a known key = not given)
    with pytest.raises(ConfigError, match=r"'max_step'.*did you mean 'max_steps'\?"):
        train_config("tiny", max_step=None)
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        train_config("huge")


def test_train_config_overlays_preset_then_overrides() -> None:
    config = train_config("tiny", max_steps=None, batch_size=4, learning_rate=1)
    assert config.max_steps == TRAIN_PRESETS["tiny"]["max_steps"] == 300
    assert config.batch_size == 4
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.val_every == 100
    assert config.num_workers == TrainConfig().num_workers


def test_train_config_round_trips_through_a_saved_dict() -> None:
    config = train_config("small", seed=3)
    saved = dataclasses.asdict(config)
    saved["head_descriptors"] = list(saved["head_descriptors"])  # as JSON gives it back
    loaded = TrainConfig.from_dict(saved)
    assert loaded == config
    assert loaded.head_descriptors == ("f0", "attack_time", "release_time", "centroid", "loudness")
    assert TrainConfig.from_dict({}) == TrainConfig()


def test_unknown_prepare_key_names_the_closest_valid_key() -> None:
    with pytest.raises(ConfigError) as info:
        PrepareConfig.from_dict({"sample_rte": 16000})
    message = str(info.value)
    assert message.startswith("PrepareConfig: unknown config key 'sample_rte'")
    assert "did you mean 'sample_rate'?" in message
    with pytest.raises(ConfigError, match=r"did you mean 'hop_length'\?"):
        PrepareConfig.from_dict({"hop_lenght": 256})


def test_prepare_config_round_trips_and_still_validates_values() -> None:
    config = PrepareConfig(mode="continuous", sample_rate=16000, length=1.0, hop=0.5)
    assert PrepareConfig.from_dict(dataclasses.asdict(config)) == config
    assert PrepareConfig.from_dict({"length": 2}).length == 2.0
    with pytest.raises(TimbrespaceError, match="mode"):
        PrepareConfig.from_dict({"mode": "loop"})


def test_unknown_key_far_from_every_field_lists_the_valid_keys() -> None:
    with pytest.raises(ConfigError) as info:
        PrepareConfig.from_dict({"zzz": 1})
    assert "did you mean" not in str(info.value)
    assert "valid keys: channels, fade_out, frame_length" in str(info.value)


def test_dotted_overrides_and_deep_merge() -> None:
    assert expand_dotted({"a.b": 1, "a.c.d": 2, "e": 3}) == {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    base = {"a": {"b": 1, "c": 2}, "e": [1]}
    merged = deep_merge(base, {"a": {"c": 5}, "f": 6})
    assert merged == {"a": {"b": 1, "c": 5}, "e": [1], "f": 6}
    assert base == {"a": {"b": 1, "c": 2}, "e": [1]}
    with pytest.raises(ConfigError, match="conflicts"):
        expand_dotted({"a": 1, "a.b": 2})
