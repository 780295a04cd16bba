"""The engine's OSC address space: one table, used to validate every message, to answer `/info`,
to print `serve --osc-help` and to write `docs/osc.md`. A message becomes a `Command` (address and
checked arguments) or raises `AddressError` with a one-line reason, sent back to the sender.

Argument kinds: `f` a finite number (int or float), `i` an integer (a float with an integral
value is taken), `s` a string, `b` an on/off (0/1, true/false), `f*` any count of finite numbers.
Ranges that depend on the model (dimensions, sounds, controls, Nyquist) are checked by the
engine (`Engine.check`), which raises `AddressError` too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from timbrespace.errors import TimbrespaceError
from timbrespace.limits import GLA_ITERS_MAX, GLA_ITERS_MIN

__all__ = ["ADDRESSES", "AddressError", "Arg", "Command", "Spec", "osc_help", "parse_message"]

MAX_REST = 4096
"""Most numbers a variable-length message (`/curve`, `/latent`) may carry."""


class AddressError(TimbrespaceError):
    """A message the engine refuses (unknown address, wrong arguments, out of range)."""


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    unit: str = ""
    optional: bool = False

    def describe(self) -> str:
        span = ""
        if self.low is not None and self.high is not None:
            span = f" {self.low:g}…{self.high:g}"
        unit = f" {self.unit}" if self.unit else ""
        label = f"{self.name}:{self.kind}{span}{unit}"
        return f"[{label}]" if self.optional else label


@dataclass(frozen=True)
class Spec:
    address: str
    args: tuple[Arg, ...]
    doc: str
    needs: str = ""
    """A capability of the model the address needs: `input` (live audio in: a streaming
    model), `paths` (latent paths played in a loop), `gla` (Griffin-Lim), `voices` (one-shot
    triggers), `pitch` (a pitch control); empty: every model."""

    def usage(self) -> str:
        return " ".join([self.address, *(arg.describe() for arg in self.args)])


@dataclass(frozen=True)
class Command:
    address: str
    args: tuple[Any, ...]
    received: float = 0.0
    """`time.perf_counter()` when the message arrived (for latency measurements)."""


def _a(
    name: str,
    kind: str,
    low: float | None = None,
    high: float | None = None,
    unit: str = "",
    optional: bool = False,
) -> Arg:  # noqa: E501
    return Arg(name, kind, low, high, unit, optional)


ADDRESSES: dict[str, Spec] = {
    spec.address: spec
    for spec in (
        Spec("/ping", (), "Answered with `/pong`."),
        Spec(
            "/info",
            (),
            "Answered with the model, the engine settings, the controls and "
            "their ranges (`/info/model`, `/info/engine`, `/info/control`, `/info/sound`).",
        ),
        Spec("/reset", (), "Every parameter back to its default (sources kept)."),
        Spec("/gain", (_a("db", "f", -60, 12, "dB"),), "Output gain."),
        Spec(
            "/drywet",
            (_a("wet", "f", 0, 1),),
            "0: the input only (delayed like the model), 1: the model only.",
        ),
        Spec(
            "/bias",
            (_a("dim", "i"), _a("value", "f", -20, 20)),
            "Add `value` (latent units) to dimension `dim` (0-based; -1: every dimension).",
        ),
        Spec(
            "/scale",
            (_a("dim", "i"), _a("factor", "f", -4, 4)),
            "Multiply dimension `dim` (-1: every dimension) by `factor` (before the bias).",
        ),
        Spec(
            "/random",
            (_a("amount", "f", 0, 4), _a("rate", "f", 0.01, 50, "Hz", True)),
            "Smooth random motion of every dimension: `amount` × the training latents' "
            "spread, a new target `rate` times per second.",
        ),
        Spec(
            "/curve",
            (_a("dim", "i"), _a("seconds", "f", 0.01, 600, "s"), _a("t v …", "f*")),
            "A drawn offset curve on dimension `dim`, looping every `seconds`: pairs of time "
            "(fraction 0…1 of the loop, increasing) and latent offset.",
        ),
        Spec(
            "/curve/clear",
            (_a("dim", "i", optional=True),),
            "Remove the curve of `dim` (all curves without an argument).",
        ),
        Spec("/reverse", (_a("on", "b"),), "Play the looped sounds backwards.", "paths"),
        Spec(
            "/source",
            (_a("name", "s"),),
            "`input` (live audio in through the model), "
            "`mix` (the four corner sounds, by `/plane` or `/ab`) or `notes` (an instrument "
            "model played by `/note` and MIDI).",
        ),
        Spec(
            "/corner",
            (_a("index", "i", 0, 3), _a("sound", "s")),
            "Corner `index` (0 = A, 1 = B, 2 = C, 3 = D) becomes a dataset sound (its name or "
            "a unique end of its path).",
        ),
        Spec(
            "/plane",
            (_a("x", "f", -1, 2), _a("y", "f", -1, 2)),
            "4-way bilinear plane over the corners (0,0)=A (1,0)=B (0,1)=C (1,1)=D; outside "
            "0…1 extrapolates.",
        ),
        Spec(
            "/ab",
            (_a("amount", "f", -1, 2),),
            "A→B morph (corner A to corner B); outside 0…1 extrapolates.",
        ),
        Spec(
            "/latent",
            (_a("frames", "i", 1, 4096), _a("values …", "f*")),
            "Set corner A to this latent (`frames` × latent_dim numbers, dimension-major) "
            "and move to it (`/ab 0`): the studio's live link.",
        ),
        Spec(
            "/control",
            (_a("name", "s"), _a("value", "f", unit="control's unit")),
            "Hold a named control of the analysis (e.g. `brightness 3000`) at `value`.",
        ),
        Spec(
            "/control/clear",
            (_a("name", "s", optional=True),),
            "Release a named control (all without an argument).",
        ),
        Spec(
            "/gla",
            (_a("iterations", "i", GLA_ITERS_MIN, GLA_ITERS_MAX),),
            "Griffin-Lim iterations per block.",
            "gla",
        ),
        Spec(
            "/play",
            (_a("sound", "s"), _a("velocity", "f", 0, 127, optional=True)),
            "Trigger a dataset sound (velocity 100 by default).",
            "voices",
        ),
        Spec(
            "/note",
            (_a("pitch", "f", 0, 127, "MIDI"), _a("velocity", "f", 0, 127)),
            "One-shot models: trigger the current sound at a MIDI pitch (60 = C4, fractions "
            "are cents); velocity 0 is ignored (one-shots play out). Note models (fader): the "
            "current latent played at that pitch and velocity in the `/style` mix. Instrument models "
            "(ddsp): note-on, velocity 0 = note-off; monophonic, legato while a key is held; "
            "switches the source to `notes`.",
            "pitch",
        ),
        Spec(
            "/style",
            (_a("name", "s"), _a("weight", "f", -4, 4)),
            "Note models (fader): the weight of a trained style in the mix that `/note` plays "
            "(the others keep theirs; 0.5 and 0.5 blend two, 1.3 goes beyond one).",
            "styles",
        ),
        Spec(
            "/trigger",
            (_a("velocity", "f", 0, 127, optional=True),),
            "Trigger the current sound as it is.",
            "voices",
        ),
        Spec(
            "/feedback",
            (_a("on", "b"),),
            "Feed the shaped output back into the model's input (one block later).",
            "input",
        ),
        Spec(
            "/feedback/freq",
            (_a("hz", "f", 20, 24000, "Hz"),),
            "Centre frequency of the feedback band-pass (at most 0.45 × the sample rate).",
        ),
        Spec("/feedback/q", (_a("q", "f", 0.1, 30),), "Quality factor of the band-pass."),
        Spec("/feedback/gain", (_a("gain", "f", 0, 1),), "Feedback gain before the soft limiter."),
    )
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _convert(arg: Arg, value: Any) -> Any:
    """One argument checked against its kind and fixed range, or `AddressError`."""
    if arg.kind == "s":
        if not isinstance(value, str) or not value or len(value) > 1024:
            raise AddressError(f"{arg.name}: expected a string, got {value!r:.60}")
        return value
    if arg.kind == "b":
        if isinstance(value, bool):
            return value
        number = _number(value)
        if number is None or number not in (0.0, 1.0):
            raise AddressError(f"{arg.name}: expected 0 or 1, got {value!r:.60}")
        return bool(number)
    number = _number(value)
    if number is None:
        raise AddressError(f"{arg.name}: expected a number, got {value!r:.60}")
    if not math.isfinite(number):
        raise AddressError(f"{arg.name}: expected a finite number, got {number}")
    if arg.kind == "i":
        if number != int(number):
            raise AddressError(f"{arg.name}: expected an integer, got {number:g}")
        number = int(number)
    if (arg.low is not None and number < arg.low) or (arg.high is not None and number > arg.high):
        raise AddressError(
            f"{arg.name}: {number:g} is outside {arg.low:g}…{arg.high:g}"
            + (f" {arg.unit}" if arg.unit else "")
        )
    return number


def parse_message(address: str, params: list[Any], received: float = 0.0) -> Command:
    """A checked `Command`, or `AddressError` naming the address and the bad argument."""
    spec = ADDRESSES.get(address)
    if spec is None:
        close = [a for a in ADDRESSES if a.split("/")[1:2] == address.split("/")[1:2]][:4]
        hint = (
            f" (did you mean {', '.join(close)}?)" if close else " (see /info or serve --osc-help)"
        )
        raise AddressError(f"{address[:80]}: unknown address{hint}")
    fixed = [arg for arg in spec.args if arg.kind != "f*"]
    rest = spec.args[-1] if spec.args and spec.args[-1].kind == "f*" else None
    required = sum(1 for arg in fixed if not arg.optional)
    if len(params) < required or (rest is None and len(params) > len(fixed)):
        raise AddressError(f"{address}: expected `{spec.usage()}`, got {len(params)} arguments")
    if rest is not None and len(params) - len(fixed) > MAX_REST:
        raise AddressError(f"{address}: at most {MAX_REST} numbers")
    try:
        values = [_convert(arg, value) for arg, value in zip(fixed, params, strict=False)]
        if rest is not None:
            values += [_convert(Arg(rest.name, "f"), v) for v in params[len(fixed) :]]
    except AddressError as error:
        raise AddressError(f"{address}: {error}") from None
    return Command(address, tuple(values), received)


def osc_help() -> str:
    """The address space as text (`serve --osc-help`, `docs/osc.md`)."""
    lines = []
    for spec in ADDRESSES.values():
        needs = f"  (needs: {spec.needs})" if spec.needs else ""
        lines += [f"{spec.usage()}{needs}", f"    {spec.doc}"]
    return "\n".join(lines)
