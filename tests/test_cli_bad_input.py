"""Bad input to every CLI verb ends in one line naming the file or field and exit code 1 (2 for
a malformed command line, from argparse), never a traceback: the red team's classes of issue 13
(bad values, missing / unreadable / non-audio input, unwritable or ill-named output, non-finite
renders, full or read-only disks) plus `transfer` saying when it cuts its input.

Runs `timbrespace.cli.main` in-process on the session's tiny models; every case is its own test
id. Tampered bundles and memory bombs are tested with the limits (tests/test_hardening*.py).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Lightning binds its log handler to sys.stderr when first imported: imported here, not inside
# a test's capsys (closed after that test), so later tests' stderr holds no "Logging error".
import lightning.pytorch  # noqa: F401
import numpy as np
import pytest
import soundfile as sf

from timbrespace.cli import main

from .conftest import KITS, decaying_tone

pytestmark = pytest.mark.slow

SPECIAL = {"big": str(2**70), "longname": "x" * 300 + ".wav", "nl": "\n", "tab": "\t"}
"""Words of the case table that are awkward to type in it."""


def _bundle(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("trained")[0] / "bundle"


def _analysed(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("analysed_run") / "bundle"


PLACES: dict[str, Callable[[pytest.FixtureRequest], Any]] = {
    "bundle": _bundle,
    "analysed": _analysed,
    "cache": lambda request: request.getfixturevalue("real_cache"),
    "pack": lambda request: request.getfixturevalue("small_pack"),
    "wav": lambda request: sorted(
        (request.getfixturevalue("hydrogen_root") / KITS[0]).glob("*.wav")
    )[0],
}
"""Placeholders of the case table resolved from session fixtures, only when a case uses them."""


class Places(dict[str, Any]):
    """`{name}` in a case's argv → a path: a fixture (`PLACES`) or a bad file in tmp_path."""

    def __init__(self, request: pytest.FixtureRequest, tmp: Path) -> None:
        super().__init__(tmp=tmp, **SPECIAL, **bad_files(tmp))
        self.request = request

    def __missing__(self, key: str) -> Any:
        self[key] = PLACES[key](self.request)
        return self[key]


def bad_files(tmp: Path) -> dict[str, Path]:
    """Files users hand the CLI by mistake, named for the case table."""
    files = {name: tmp / f"{name}.wav" for name in ("text", "empty", "nan", "zero", "long")}
    files["text"].write_text("not audio\n")
    files["empty"].write_bytes(b"")
    sf.write(files["nan"], np.full(100, np.nan, np.float32), 8000, subtype="FLOAT")
    sf.write(files["zero"], np.zeros(0, np.float32), 8000)
    sf.write(files["long"], decaying_tone(220.0, 5.0, 16000, tau=5.0), 16000)
    files["afile"] = tmp / "afile"
    files["afile"].write_text("a file where a folder is wanted\n")
    files["folder"] = tmp / "folder.wav"
    files["folder"].mkdir()
    files["emptydir"] = tmp / "emptydir"
    files["emptydir"].mkdir()
    files["badlatent"] = tmp / "bad.safetensors"
    files["badlatent"].write_text("not safetensors")
    files["textpack"] = tmp / "textpack"
    (files["textpack"] / "a").mkdir(parents=True)
    (files["textpack"] / "a" / "x.wav").write_text("not audio either\n")
    return files


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`main(argv)` in-process → (exit code, stderr)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = int(stop.code or 0)
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, expected: int, fragment: str) -> None:
    """Exit code `expected`, no traceback, exactly one error line, containing `fragment`."""
    assert "Traceback" not in err, err
    assert code == expected, err
    errors = [line for line in err.splitlines() if line.startswith("error:") or ": error: " in line]
    assert len(errors) == 1, err
    assert fragment in errors[0], errors[0]


def table(text: str) -> list[Any]:
    """Rows `id | exit code | fragment of the error line | argv` → test cases; argv is split on
    spaces and its `{place}`s are filled per test (see `Places`)."""
    rows = []
    for line in text.strip().splitlines():
        name, code, fragment, argv = (part.strip() for part in line.split(" | "))
        rows.append(pytest.param(argv.split(" "), int(code), fragment, id=name))
    return rows


USAGE = table(  # argparse refuses these before anything is loaded: exit 2
    """
random-n-0 | 2 | argument -n: 0 is not a positive | generate random B -n 0 -o out
random-n-negative | 2 | argument -n | generate random B -n -3 -o out
random-n-text | 2 | 'many' is not an integer | generate random B -n many -o out
random-seed-2**70 | 2 | --seed | generate random B --seed {big} -o out
random-seed-negative | 2 | --seed | generate random B --seed -1 -o out
random-temp-neg | 2 | --temperature | generate random B --temperature -1 -o out
random-temp-nan | 2 | finite | generate random B --temperature nan -o out
random-temp-inf | 2 | finite | generate random B --temperature inf -o out
path-seed | 2 | --seed | generate path B a.wav --op reverse --seed {big} -o o.wav
control-seed-neg | 2 | --seed | generate control B --random --seed -5 -o o.wav
control-no-start | 2 | one of the arguments | generate control B -o o.wav
gla-0 | 2 | --gla-iters | generate reconstruct B a.wav -o o.wav --gla-iters 0
gla-big | 2 | --gla-iters | generate transfer B a.wav -o o.wav --gla-iters 99999
align | 2 | --align | generate interpolate B a.wav b.wav --align warp -o o.wav
random-no-output | 2 | -o/--output | generate random B
generate-no-action | 2 | ACTION | generate
generate-unknown-action | 2 | invalid choice | generate morph B
unknown-verb | 2 | invalid choice | morph
nearest-k-negative | 2 | argument -k | nearest B --random -k -1
nearest-k-0 | 2 | argument -k | nearest B --random -k 0
nearest-seed | 2 | --seed | nearest B --random --seed {big}
prepare-max-seconds-neg | 2 | --max-seconds | prepare d -o c --max-seconds -1
prepare-max-seconds-0 | 2 | --max-seconds | prepare d -o c --max-seconds 0
prepare-length-neg | 2 | --length | prepare d -o c --length -1
prepare-length-nan | 2 | --length | prepare d -o c --length nan
prepare-hop-0 | 2 | --hop | prepare d -o c --hop 0
prepare-sr-0 | 2 | --sr | prepare d -o c --sr 0
prepare-sr-10 | 2 | --sr | prepare d -o c --sr 10
prepare-workers-0 | 2 | --workers | prepare d -o c --workers 0
prepare-channels-3 | 2 | --channels | prepare d -o c --channels 3
prepare-mode | 2 | --mode | prepare d -o c --mode loop
prepare-no-output | 2 | -o/--output | prepare d
demo-pack-n-0 | 2 | --n | demo-pack out --n 0
demo-pack-sr-neg | 2 | --sr | demo-pack out --sr -44100
demo-pack-seed-neg | 2 | --seed | demo-pack out --seed -1
melodies-seconds-neg | 2 | --seconds | melodies out --seconds -5
melodies-sr-0 | 2 | --sr | melodies out --sr 0
train-max-steps-0 | 2 | --max-steps | train --data c --out r --max-steps 0
train-minutes-neg | 2 | --max-minutes | train --data c --out r --max-minutes -1
train-batch-0 | 2 | --batch-size | train --data c --out r --batch-size 0
train-lr-neg | 2 | --lr | train --data c --out r --lr -0.1
train-lr-inf | 2 | --lr | train --data c --out r --lr inf
train-seed | 2 | --seed | train --data c --out r --seed {big}
train-devices-text | 2 | --devices | train --data c --out r --devices zero
train-devices-0 | 2 | --devices | train --data c --out r --devices 0
train-preset | 2 | --preset | train --data c --out r --preset huge
train-logger | 2 | --logger | train --data c --out r --logger mlflow
eval-limit-0 | 2 | --limit | eval r --data c --limit 0
eval-split | 2 | --split | eval r --data c --split test
demo-port | 2 | --port | demo --port 70000
demo-minutes-0 | 2 | --minutes | demo --minutes 0
demo-n-neg | 2 | --n | demo --n -1
"""
)

NO_MODEL = table(  # one-line errors that need no trained model
    """
info-missing | 1 | /nonexistent: not a prepared cache | info /nonexistent
info-a-file | 1 | afile | info {afile}
info-empty-folder | 1 | emptydir | info {emptydir}
prepare-missing-dataset | 1 | /nonexistent | prepare /nonexistent -o {tmp}/c
prepare-dataset-is-file | 1 | not a folder | prepare {afile} -o {tmp}/c
prepare-empty | 1 | no usable audio | prepare {emptydir} -o {tmp}/c
prepare-only-bad-files | 1 | no usable audio | prepare {textpack} -o {tmp}/c
prepare-out-is-file | 1 | is a file, not a folder | prepare {pack} -o {afile}
prepare-out-parent | 1 | is a file, not a folder | prepare {pack} -o {afile}/cache
prepare-out-newline | 1 | control character | prepare {pack} -o {tmp}/ca{nl}che
prepare-out-long | 1 | over 255 bytes | prepare {pack} -o {tmp}/{longname}
demo-pack-out-is-file | 1 | is a file, not a folder | demo-pack {afile}
demo-pack-out-parent | 1 | is a file, not a folder | demo-pack {afile}/pack
demo-pack-out-newline | 1 | control character | demo-pack {tmp}/pa{nl}ck
melodies-unknown-instrument | 1 | unknown instrument 'kazoo' | melodies {tmp}/m --instruments kazoo
melodies-out-is-file | 1 | is a file, not a folder | melodies {afile}
train-missing-cache | 1 | /nonexistent | train --data /nonexistent --out {tmp}/r
train-data-not-cache | 1 | not a prepared cache | train --data {pack} --out {tmp}/r
train-out-file | 1 | is a file, not a folder | train --data {cache} --out {afile}
train-unknown-family | 1 | unknown model family | train --data {cache} --out {tmp}/r --model gan
train-set-without-value | 1 | KEY=VALUE | train --data {cache} --out {tmp}/r --set latent_dim
train-set-wrong-type | 1 | latent_dim | train --data {cache} --out {tmp}/r --set latent_dim=big
train-set-unknown-key | 1 | laten_dim | train --data {cache} --out {tmp}/r --set laten_dim=8
demo-out-is-file | 1 | is a file, not a folder | demo --out {afile}
eval-no-bundle | 1 | /nonexistent: not a bundle | eval /nonexistent --data {cache}
analyze-no-bundle | 1 | /nonexistent: not a bundle | analyze /nonexistent
controls-no-bundle | 1 | /nonexistent: not a bundle | controls /nonexistent
plot-no-bundle | 1 | /nonexistent: not a bundle | plot /nonexistent -o {tmp}/f
nearest-no-bundle | 1 | /nonexistent: not a bundle | nearest /nonexistent --random
generate-bundle-is-file | 1 | not a bundle | generate random {afile} -o {tmp}/r
studio-no-bundle | 1 | /nonexistent | studio /nonexistent --no-browser --port 65431
"""
)

ONESHOT = table(  # the tiny one-shot model: {bundle} not analysed, {analysed} analysed
    """
reconstruct-input-missing | 1 | file not found | generate reconstruct {bundle} /no/such.wav -o {tmp}/o.wav
reconstruct-input-folder | 1 | is a folder | generate reconstruct {bundle} {emptydir} -o {tmp}/o.wav
reconstruct-input-text-named-wav | 1 | not a readable | generate reconstruct {bundle} {text} -o {tmp}/o.wav
reconstruct-input-empty-file | 1 | empty.wav | generate reconstruct {bundle} {empty} -o {tmp}/o.wav
reconstruct-input-nan-samples | 1 | NaN | generate reconstruct {bundle} {nan} -o {tmp}/o.wav
reconstruct-input-zero-length | 1 | zero-length | generate reconstruct {bundle} {zero} -o {tmp}/o.wav
transfer-input-without-suffix | 1 | not a readable | generate transfer {bundle} {afile} -o {tmp}/o.wav
reconstruct-out-is-folder | 1 | is a folder | generate reconstruct {bundle} {wav} -o {tmp}
reconstruct-out-folder-named-wav | 1 | is a folder | generate reconstruct {bundle} {wav} -o {folder}
reconstruct-out-no-suffix | 1 | no suffix | generate reconstruct {bundle} {wav} -o {tmp}/out
reconstruct-out-txt | 1 | '.txt' | generate reconstruct {bundle} {wav} -o {tmp}/o.txt
transfer-out-opus | 1 | '.opus' | generate transfer {bundle} {wav} -o {tmp}/o.opus
reconstruct-out-parent-is-file | 1 | is a file | generate reconstruct {bundle} {wav} -o {afile}/o.wav
reconstruct-out-grandparent-is-file | 1 | is a file | generate reconstruct {bundle} {wav} -o {afile}/d/o.wav
reconstruct-out-newline | 1 | control char | generate reconstruct {bundle} {wav} -o {tmp}/a{nl}b.wav
reconstruct-out-tab | 1 | control char | generate reconstruct {bundle} {wav} -o {tmp}/a{tab}b.wav
reconstruct-out-name-too-long | 1 | 255 | generate reconstruct {bundle} {wav} -o {tmp}/{longname}
transfer-no-crop-long-input | 1 | --no-crop | generate transfer {bundle} {long} --no-crop -o {tmp}/o.wav
random-out-file | 1 | is a file, not a folder | generate random {bundle} -o {afile}
random-nonfinite-temperature | 1 | --temperature | generate random {bundle} --temperature 1e300 -n 2 -o {tmp}/r
path-nonfinite-scale | 1 | scale=1e300 | generate path {bundle} {wav} --op scale=1e300 -o {tmp}/p.wav
path-unknown-op | 1 | unknown operator | generate path {bundle} {wav} --op warp=2 -o {tmp}/p.wav
path-op-not-number | 1 | not a number | generate path {bundle} {wav} --op stretch=x -o {tmp}/p.wav
path-out-no-suffix | 1 | no suffix | generate path {bundle} {wav} --op reverse -o {tmp}/p
path-input-bad-latent | 1 | not a latent | generate path {bundle} {badlatent} --op reverse -o {tmp}/p.wav
interpolate-amount-text | 1 | 'x' | generate interpolate {bundle} {wav} {wav} --amount x -o {tmp}/i.wav
interpolate-amount-infinite | 1 | fin | generate interpolate {bundle} {wav} {wav} --amount 1e999 -o {tmp}/i.wav
interpolate-several-out-is-file | 1 | a file | generate interpolate {bundle} {wav} {wav} --amount 0,1 -o {afile}
interpolate-b-missing | 1 | b.wav | generate interpolate {bundle} {wav} /no/b.wav -o {tmp}/i.wav
interpolate-a-bad-latent | 1 | not a latent | generate interpolate {bundle} {badlatent} {wav} -o {tmp}/i.wav
interpolate-curve-one-shot | 1 | path | generate interpolate {bundle} {wav} {wav} --curve 0:0,1:1 -o {tmp}/i.wav
plane-xy-three-values | 1 | 2 | generate plane {bundle} {wav} {wav} {wav} {wav} --xy 1,2,3 -o {tmp}/p.wav
plane-corner-not-audio | 1 | text.wav | generate plane {bundle} {wav} {wav} {wav} {text} -o {tmp}/p.wav
plane-out-no-suffix | 1 | no suffix | generate plane {bundle} {wav} {wav} {wav} {wav} -o {tmp}/p
encode-suffix | 1 | .safetensors | generate encode {bundle} {wav} -o {tmp}/e.wav
encode-parent | 1 | a file | generate encode {bundle} {wav} -o {afile}/e.safetensors
encode-input | 1 | text.wav | generate encode {bundle} {text} -o {tmp}/e.safetensors
control-unanalysed | 1 | no analysis | generate control {bundle} --random -o {tmp}/c.wav
controls-unanalysed | 1 | no analysis | controls {bundle}
plot-unanalysed | 1 | no analysis | plot {bundle} -o {tmp}/figs
nearest-unanalysed | 1 | no analysis | nearest {bundle} --random
analyze-missing-data | 1 | /nonexistent | analyze {bundle} --data /nonexistent
analyze-control-syntax | 1 | --control 'punch' | analyze {bundle} --control punch
analyze-control-glob | 1 | matches no sound | analyze {bundle} --control x=no*:none*
eval-missing-data | 1 | /nonexistent | eval {bundle} --data /nonexistent
eval-data-not-cache | 1 | not a prepared cache | eval {bundle} --data {pack}
control-nonfinite | 1 | pca1 | generate control {analysed} --random --set pca1=1e300 --extrapolate -o {tmp}/c.wav
control-unknown-name | 1 | punch | generate control {analysed} --random --set punch=1 -o {tmp}/c.wav
control-value-text | 1 | pitch=abc | generate control {analysed} --random --set pitch=abc -o {tmp}/c.wav
control-lock-unknown | 1 | punch | generate control {analysed} --random --lock punch -o {tmp}/c.wav
control-nearest-unknown-sound | 1 | no/such | generate control {analysed} --nearest no/such.wav -o {tmp}/c.wav
control-from | 1 | text.wav | generate control {analysed} --from {text} -o {tmp}/c.wav
control-out-dir | 1 | is a folder | generate control {analysed} --random -o {tmp}
control-sweep-syntax | 1 | --sweep | generate control {analysed} --random --sweep pitch -o {tmp}/s
control-sweep-out-is-file | 1 | a file | generate control {analysed} --random --sweep pca1=-1:1:3 -o {afile}
sweep-nonfinite | 1 | pca1 | generate control {analysed} --random --sweep pca1=-1e300:1e300:3 --extrapolate -o {tmp}/s
nearest-unknown-control | 1 | punch | nearest {analysed} --random --set punch=1
nearest-from-text | 1 | text.wav | nearest {analysed} --from {text}
plot-out-is-file | 1 | is a file, not a folder | plot {analysed} -o {afile}
plot-out-parent | 1 | is a file, not a folder | plot {analysed} -o {afile}/figs
plot-out-newline | 1 | control character | plot {analysed} -o {tmp}/fi{nl}gs
"""
)


@pytest.mark.parametrize(("argv", "code", "fragment"), USAGE + NO_MODEL + ONESHOT)
def test_bad_input_is_one_line(
    argv: list[str],
    code: int,
    fragment: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    places = Places(request, tmp_path)
    filled = [word.format_map(places) for word in argv]
    fragment = fragment.format_map(places)
    assert_one_line_error(*run_cli(filled, capsys), code, fragment)


WRITE_ERRORS = [errno.EROFS, errno.EACCES, errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG]
WRITERS = {  # verb writing through atomic_path → argv
    "reconstruct": "generate reconstruct {bundle} {wav} -o {tmp}/out/o.wav",
    "random": "generate random {bundle} -n 2 -o {tmp}/out",
    "encode": "generate encode {bundle} {wav} -o {tmp}/out/z.safetensors",
    "path-latent": "generate path {bundle} {wav} --op reverse -o {tmp}/out/z.safetensors",
    "plot": "plot {analysed} -o {tmp}/out",
    "sweep": "generate control {analysed} --random --sweep pca1=-1:1:2 -o {tmp}/out",
}


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("number", WRITE_ERRORS, ids=[errno.errorcode[n] for n in WRITE_ERRORS])
def test_write_failures_name_the_output(
    writer: str,
    number: int,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file system refusing the write (read-only, permission, full disk, quota, name too
    long), met when the output is written: one line naming the output, nothing left behind."""
    places = Places(request, tmp_path)
    argv = [word.format_map(places) for word in WRITERS[writer].split(" ")]

    def refuse(*args: Any, dir: str | None = None, **kwargs: Any) -> tuple[int, str]:
        raise OSError(number, os.strerror(number), os.path.join(dir or "", ".tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, 1, str(tmp_path / "out"))
    assert os.strerror(number).lower() in err.lower()
    assert not list(tmp_path.rglob(".*.tmp*"))


READ_ONLY = {  # verb → argv writing into {tmp} (or into the bundle, for analyze)
    "reconstruct": "generate reconstruct /nonexistent {text} -o {tmp}/o.wav",
    "random": "generate random /nonexistent -o {tmp}/r",
    "prepare": "prepare {emptydir} -o {tmp}/cache",
    "train": "train --data /nonexistent --out {tmp}/run",
    "demo-pack": "demo-pack {tmp}/pack",
    "analyze": "analyze {bundle}",
}


@pytest.mark.parametrize("verb", list(READ_ONLY))
def test_read_only_folder_is_refused_before_any_work(
    verb: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A folder on a read-only mount (faked: root passes the real permission bits) is refused
    before the model or the data is even opened."""
    places = Places(request, tmp_path)
    argv = [word.format_map(places) for word in READ_ONLY[verb].split(" ")]

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "access", lambda path, mode, **kw: not mode & os.W_OK)
    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly())
    assert_one_line_error(*run_cli(argv, capsys), 1, "read-only file system")


def test_unreadable_input_is_named(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An input file this process may not read (faked: root reads every file)."""
    long = Places(request, tmp_path)["long"]
    bundle = _bundle(request)
    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        return not (mode & os.R_OK and Path(path) == long) and real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    argv = ["generate", "transfer", str(bundle), str(long), "-o", str(tmp_path / "o.wav")]
    assert_one_line_error(*run_cli(argv, capsys), 1, f"{long}: permission denied")


def test_real_permission_denied(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """/sys refuses new files even to root: the real EACCES path of `save_audio`."""
    probe = Path("/sys/timbrespace-probe.wav")
    try:
        probe.touch()
    except OSError:
        pass
    else:
        probe.unlink()
        pytest.skip("/sys is writable here")
    wav = PLACES["wav"](request)
    code, err = run_cli(
        ["generate", "reconstruct", str(_bundle(request)), str(wav), "-o", str(probe)], capsys
    )
    assert_one_line_error(code, err, 1, str(probe))


def test_one_shot_transfer_says_it_renders_one_clip(
    trained: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 5 s file through a 0.5 s one-shot model: rendered, with a notice saying how much."""
    long = bad_files(tmp_path)["long"]
    out = tmp_path / "t.wav"
    code, err = run_cli(
        ["generate", "transfer", str(trained[0] / "bundle"), str(long), "-o", str(out)], capsys
    )
    assert code == 0, err
    notices = [line for line in err.splitlines() if line.startswith("notice:")]
    assert any("lasts 5 s" in line and "one-shot" in line for line in notices), err
    assert sf.info(out).duration == pytest.approx(0.5, abs=0.01)


def test_spectral_transfer_says_where_it_cuts(
    spectral_run: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A recording longer than a path model reads (600 s, here lowered to 2 s to stay fast) is
    cut with a notice naming the limit, or refused with --no-crop."""
    from timbrespace import inference

    monkeypatch.setattr(inference, "MAX_INPUT_SECONDS", 2.0)
    long = bad_files(tmp_path)["long"]
    argv = ["generate", "transfer", str(spectral_run[0] / "bundle"), str(long)]
    code, err = run_cli([*argv, "--gla-iters", "2", "-o", str(tmp_path / "t.wav")], capsys)
    assert code == 0, err
    assert "notice:" in err and "at most 2 s" in err, err
    assert sf.info(tmp_path / "t.wav").duration == pytest.approx(2.0, abs=0.1)
    code, err = run_cli([*argv, "--no-crop", "-o", str(tmp_path / "u.wav")], capsys)
    assert_one_line_error(code, err, 1, "--no-crop")
    assert not (tmp_path / "u.wav").exists()


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["info", "/nonexistent"], 1), (["generate", "random", "B", "-n", "0", "-o", "o"], 2)],
    ids=["user-error", "usage"],
)
def test_the_installed_command_prints_one_line(argv: list[str], code: int) -> None:
    """The same through the console script in a fresh process (the real stderr)."""
    import subprocess
    import sys

    script = Path(sys.executable).with_name("timbrespace")
    done = subprocess.run([str(script), *argv], capture_output=True, text=True, timeout=120)
    assert_one_line_error(done.returncode, done.stderr, code, argv[-1] if code == 1 else "-n")
