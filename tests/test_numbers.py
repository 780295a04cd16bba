"""Numbers as users type and read them (`timbrespace.numbers`)."""

from __future__ import annotations

import pytest

from timbrespace.errors import TimbrespaceError
from timbrespace.numbers import format_pitch, format_quantity, note_name, parse_numbers


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (16599.4, "Hz", "16599 Hz"),
        (1306.3, "Hz", "1306 Hz"),
        (440.0, "Hz", "440 Hz"),
        (0.005, "s", "0.005 s"),
        (0.00076, "s", "0.00076 s"),
        (-12.345, "dB", "-12.35 dB"),
        (-2.4e-8, "", "-2.4e-08"),
        (3.2e7, "Hz", "3.2e+07 Hz"),
    ],
)
def test_format_quantity_reads_like_a_person_writes(value: float, unit: str, text: str) -> None:
    assert format_quantity(value, unit) == text


def test_parse_numbers_names_the_option_and_the_bad_value() -> None:
    assert parse_numbers("0, 0.5,1.2", "--amount") == [0.0, 0.5, 1.2]
    with pytest.raises(TimbrespaceError, match=r"--xy: expected 2 comma-separated numbers"):
        parse_numbers("1,2,3", "--xy", 2)
    with pytest.raises(TimbrespaceError, match=r"--amount: value 'nan' is not a finite number"):
        parse_numbers("0,nan", "--amount")


@pytest.mark.parametrize(
    ("hz", "name"),
    [
        (440.0, "A4"),
        (261.6255653, "C4"),
        (138.5913155, "C#3"),
        (333.3, "E4 +19c"),
        (27.5, "A0"),
        (452.0, "A4 +47c"),
        (538.58, "C#5 -50c"),  # both sides of the quarter tone between C5 and C#5
        (538.62, "C#5 -50c"),
        (538.50, "C#5 -50c"),
        (float("nan"), "—"),
        (0.0, "—"),
    ],
)
def test_note_names_of_frequencies(hz: float, name: str) -> None:
    assert note_name(hz) == name


def test_a_measured_pitch_is_named_from_its_requests_note_within_a_semitone() -> None:
    """The demo's sweep printed `requested 359.5 Hz (F#4 -50c) → measured 359.2 Hz (F4 +49c)`."""
    assert note_name(359.2) == "F4 +49c"
    assert note_name(359.2, near=359.5) == "F#4 -51c"
    assert note_name(460.0, near=440.0) == "A4 +77c"
    assert note_name(500.0, near=440.0) == "B4 +21c"  # over a semitone away: its own note
    assert note_name(440.0, near=float("nan")) == "A4"
    assert format_pitch(359.2, 359.5) == "359.2 Hz (F#4 -51c)"


def test_format_pitch_gives_hz_and_the_note() -> None:
    assert format_pitch(329.0) == "329 Hz (E4 -3c)"


def test_format_reading_in_a_musicians_units() -> None:
    from timbrespace.numbers import format_reading

    assert format_reading(0.004805, "s") == "4.805 ms"
    assert format_reading(1.5, "s") == "1.5 s"
    assert format_reading(440.0, "Hz", pitch=True) == "440 Hz (A4)"
    assert format_reading(6120.0, "Hz") == "6120 Hz"
    assert format_reading(-12.0, "dB") == "-12 dB"
