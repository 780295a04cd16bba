"""What every verb module of the CLI shares: exit codes, JSON printing, boolean flags, the
`--gla-iters` type, verb registration, checking output paths and writing rendered sounds.

Torch-free at import (`timbrespace --help` must stay instant); the writers import lazily.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from timbrespace.cli.options import positive_int
from timbrespace.errors import NonFiniteError, TimbrespaceError, WriteError
from timbrespace.limits import GLA_ITERS_MAX, GLA_ITERS_MIN
from timbrespace.runtime import ENV_THREADS, Job

if TYPE_CHECKING:
    import numpy as np
    import torch

    from timbrespace.space import LatentSpace

THREAD_POLICY: dict[Job, str] = {
    "render": "1 per render, the idle cores for batch work",
    "realtime": "1",
    "batch": "the cores other processes leave idle",
    "train": "the cores other processes leave idle",
}
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
    job: Job | None = None,
    threads_option: bool = True,
) -> argparse.ArgumentParser:
    """Register verb `name` running `func(args) -> exit code`; `help` is also its description,
    `examples` (indented command lines) its epilog. A verb that runs torch names its `job`
    (`runtime.Job`): `main` sets torch's threads for it before it runs, and it gets `--threads N`
    (a verb with actions passes `threads_option=False` and gives each action the option with
    `add_threads_option`, so it follows the action's name on the command line)."""
    sub = verbs.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(func=func, job=job)
    if job is not None and threads_option:
        add_threads_option(sub, job)
    return sub


def add_threads_option(parser: argparse.ArgumentParser, job: Job) -> None:
    """`--threads N`: pins torch's threads for every job of the run."""
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"torch threads for every job of this run (default: {THREAD_POLICY[job]}; "
        f"also ${ENV_THREADS})",
    )


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


OutputKind = Literal["audio", "latent", "audio_or_latent", "folder"]
NAME_MAX = 255
"""Bytes in one file or folder name on the file systems this runs on (ext4, xfs, btrfs, tmpfs)."""


def check_output(path: str | Path, option: str, kind: OutputKind) -> Path:
    """Refuse, before any work, an output the verb could not write, with one line naming
    `option` and `path`: a name with a control character (newline, tab), a name over
    `NAME_MAX` bytes, a file (or a suffix-less or unknown audio suffix) where a folder (or an
    audio file) is wanted, a parent that is a file, a folder that is read-only or not
    writable. Write-time failures (full disk, …) are reported by the writers."""
    text = os.fspath(path)
    where = f"{option} {text!r}"
    if not text:
        raise TimbrespaceError(f"{option}: empty path")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in text):
        raise TimbrespaceError(f"{where}: the name contains a control character (newline, tab, …)")
    target = Path(text)
    for part in target.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise TimbrespaceError(f"{where}: a name is over {NAME_MAX} bytes (file name too long)")
    if kind == "folder":
        if target.exists() and not target.is_dir():
            raise TimbrespaceError(f"{option} {target}: is a file, not a folder")
    else:
        _check_output_file(target, option, kind)
    _check_writable_parent(target if kind == "folder" else target.parent, option, target)
    return target


def _check_output_file(target: Path, option: str, kind: OutputKind) -> None:
    from timbrespace.inference import LATENT_SUFFIX

    if target.is_dir():
        raise TimbrespaceError(f"{option} {target}: is a folder; give a file name such as out.wav")
    latent = target.name.lower().endswith(LATENT_SUFFIX)
    if kind == "latent" or (kind == "audio_or_latent" and latent):
        if not latent:
            raise TimbrespaceError(f"{option} {target}: a latent file ends in {LATENT_SUFFIX}")
        return
    from timbrespace.audio.io import AudioWriteError, audio_write_format

    try:
        audio_write_format(target)
    except AudioWriteError as error:
        raise TimbrespaceError(f"{option} {error}") from None


def _check_writable_parent(folder: Path, option: str, target: Path) -> None:
    """The nearest existing folder at or above `folder` is a folder this process can write in."""
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise TimbrespaceError(f"{option} {target}: {existing} is a file, not a folder")
    if os.access(existing, os.W_OK | os.X_OK):
        return
    read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    reason = "read-only file system" if read_only else "permission denied"
    raise TimbrespaceError(f"{option} {target}: cannot write in {existing} ({reason})")


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Around writing the output `path`: an `OSError` (read-only file system, permission, full
    disk, a file where a folder should be, a name too long) → one line naming it."""
    try:
        yield
    except OSError as error:
        raise WriteError.of(error, path) from error


def _not_finite(output: str | Path, what: str, cause: str | None) -> TimbrespaceError:
    if cause:
        hint = f"{cause} drives the model beyond what it can render; ask for values nearer the data"
    else:
        hint = "the model rendered NaN/inf samples from this input"
    return NonFiniteError(f"{output}: nothing written, {what} is not finite: {hint}")


def refuse_nonfinite(sounds: Sequence[np.ndarray], output: str | Path, cause: str | None) -> None:
    """Refuse (before writing any of them) rendered sounds with NaN/inf samples, naming the
    output and the option that drove the model there (`cause`, e.g. `--set pca1=1e300
    --extrapolate`) when the verb knows it."""
    import numpy as np

    if not all(np.isfinite(sound).all() for sound in sounds):
        raise _not_finite(output, "the render", cause)


def render_named(
    space: LatentSpace,
    z: torch.Tensor,
    output: str | Path,
    cause: str | None,
    *,
    gla_iters: int | None = None,
    normalize: bool = False,
) -> np.ndarray:
    """`space.render(z)` for the output `output`; a latent or a render that is not finite
    (`NonFiniteError`) is refused naming `cause`, the options that asked for it."""
    import torch

    if not bool(torch.isfinite(torch.as_tensor(z).float()).all()):
        raise _not_finite(output, "the latent", cause)
    try:
        sounds = space.render(z, gla_iters=gla_iters, normalize=normalize)
    except NonFiniteError as error:
        if cause is None:
            raise
        raise _not_finite(output, "the render", cause) from error
    refuse_nonfinite(list(sounds), output, cause)
    return sounds


def save_sounds(
    space: LatentSpace,
    sounds: Sequence[np.ndarray],
    output: str,
    names: Sequence[str],
    *,
    cause: str | None = None,
) -> None:
    """Save sounds `[channels, samples]`: one → the file `output`, several → WAVs named after
    `names` in the folder `output`; non-finite sounds are refused naming `cause` (see
    `refuse_nonfinite`)."""
    from timbrespace.audio.io import save_audio

    refuse_nonfinite(sounds, output, cause)
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
    cause: str | None = None,
) -> None:
    """Render latents `[n, dim, frames]` and save them (`save_sounds`, naming `cause` if the
    render is not finite); one latent and an `output` ending in `.safetensors` saves the latent
    itself instead."""
    from timbrespace.inference import LATENT_SUFFIX

    if output.lower().endswith(LATENT_SUFFIX) and len(z) == 1:
        with writing(output):
            space.save_latent(z, output)
        print(f"wrote the latent path {output} ({z.shape[-1]} frames)")
        return
    sounds = render_named(space, z, output, cause, gla_iters=gla_iters, normalize=normalize)
    save_sounds(space, list(sounds), output, names, cause=cause)
