"""What every verb module of the CLI shares: exit codes, JSON printing, boolean flags, the
`--gla-iters` type, verb registration, number lists and writing rendered sounds.

Torch-free at import (`timbrespace --help` must stay instant); the writers import lazily.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from timbrespace.limits import GLA_ITERS_MAX, GLA_ITERS_MIN

if TYPE_CHECKING:
    import numpy as np
    import torch

    from timbrespace.space import LatentSpace

EXIT_USER_ERROR = 1
EXIT_BAD_FILES = 3


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False))


def add_bool(parser: argparse.ArgumentParser, name: str, default: bool | None, help: str) -> None:
    """`--NAME` / `--no-NAME` (every boolean flag can be turned off)."""
    parser.add_argument(
        f"--{name}", action=argparse.BooleanOptionalAction, default=default, help=help
    )


def add_verb(
    verbs: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    help: str,
    examples: str,
) -> argparse.ArgumentParser:
    """Register verb `name` running `func(args) -> exit code`; `help` is also its description,
    `examples` (indented command lines) its epilog."""
    sub = verbs.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(func=func)
    return sub


def gla_iterations(text: str) -> int:
    """`--gla-iters`: an int in `limits.GLA_ITERS_MIN`…`GLA_ITERS_MAX`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not GLA_ITERS_MIN <= value <= GLA_ITERS_MAX:
        raise argparse.ArgumentTypeError(f"{value} is outside {GLA_ITERS_MIN}…{GLA_ITERS_MAX}")
    return value


def print_notices(warnings: Sequence[str]) -> None:
    """One `notice: …` line on stderr per warning."""
    for warning in warnings:
        print(f"notice: {warning}", file=sys.stderr)


def save_sounds(
    space: LatentSpace, sounds: Sequence[np.ndarray], output: str, names: Sequence[str]
) -> None:
    """Save sounds `[channels, samples]`: one → the file `output`, several → WAVs named after
    `names` in the folder `output`."""
    from timbrespace.audio.io import save_audio

    if len(sounds) == 1:
        save_audio(output, sounds[0], space.sample_rate)
        print(f"wrote {output}")
        return
    for sound, name in zip(sounds, names, strict=True):
        save_audio(Path(output) / f"{name}.wav", sound, space.sample_rate)
    print(f"wrote {len(sounds)} sounds to {output}")


def write_sounds(
    space: LatentSpace,
    z: torch.Tensor,
    output: str,
    names: Sequence[str],
    *,
    gla_iters: int | None = None,
    normalize: bool = False,
) -> None:
    """Render latents `[n, dim, frames]` and save them (`save_sounds`); one latent and an
    `output` ending in `.safetensors` saves the latent itself instead."""
    from timbrespace.inference import LATENT_SUFFIX

    if output.lower().endswith(LATENT_SUFFIX) and len(z) == 1:
        space.save_latent(z, output)
        print(f"wrote the latent path {output} ({z.shape[-1]} frames)")
        return
    sounds = space.render(z, gla_iters=gla_iters, normalize=normalize)
    save_sounds(space, list(sounds), output, names)
