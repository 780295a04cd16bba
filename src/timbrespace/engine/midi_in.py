"""MIDI input for the engine (mido + python-rtmidi): note-on / note-off from a port become
`/note` commands, checked and queued like OSC messages, so they land at the next block."""

from __future__ import annotations

import time
from typing import Any

from timbrespace.engine.addresses import AddressError, Command, parse_message
from timbrespace.errors import TimbrespaceError

__all__ = ["MidiInput", "list_midi_inputs", "midi_command"]


def midi_command(message: Any) -> Command | None:
    """The engine command of a mido message (note-on/off → `/note pitch velocity`, velocity 0
    for a note-off; all-notes-off and all-sound-off → `/reset`), None for anything else."""
    kind = getattr(message, "type", "")
    if kind == "note_on":
        return parse_message("/note", [float(message.note), float(message.velocity)])
    if kind == "note_off":
        return parse_message("/note", [float(message.note), 0.0])
    if kind == "control_change" and message.control in (120, 123):
        return parse_message("/reset", [])
    return None


def _mido() -> Any:
    try:
        import mido

        mido.set_backend("mido.backends.rtmidi", load=True)
        return mido
    except Exception as error:  # noqa: BLE001 - rtmidi reports many kinds of failure
        raise TimbrespaceError(
            f"MIDI input is unavailable ({error}); install python-rtmidi "
            "(pip install 'timbrespace[engine]') or send /note over OSC"
        ) from None


def list_midi_inputs() -> str:
    """The MIDI input ports, one per line (or why there are none)."""
    try:
        names = _mido().get_input_names()
    except TimbrespaceError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001
        return f"no MIDI system ({error})"
    return "\n".join(names) if names else "no MIDI input ports"


class MidiInput:
    """An open MIDI input port feeding `engine` (anything with `check` and `submit`)."""

    def __init__(self, engine: Any, name: str) -> None:
        mido = _mido()
        try:
            names = mido.get_input_names()
        except Exception as error:  # noqa: BLE001
            raise TimbrespaceError(f"--midi {name}: no MIDI system ({error})") from None
        matches = [n for n in names if name.lower() in n.lower()]
        if not matches:
            known = ", ".join(names) or "none"
            raise TimbrespaceError(f"--midi {name}: no MIDI input matches; inputs: {known}")
        self.engine = engine
        self.name = matches[0]
        self.errors = 0
        self.port = mido.open_input(self.name, callback=self.receive)

    def receive(self, message: Any) -> None:
        command = midi_command(message)
        if command is None:
            return
        try:
            checked = self.engine.check(Command(command.address, command.args, time.perf_counter()))
        except AddressError:
            self.errors += 1
            return
        self.engine.submit(checked)

    def close(self) -> None:
        self.port.close()
