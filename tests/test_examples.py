"""The OSC examples (examples/osc) and docs/osc.md stay in step with the address space."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from timbrespace.engine.addresses import ADDRESSES, osc_help, parse_message

ROOT = Path(__file__).resolve().parents[1]
OSC = ROOT / "examples" / "osc"

# (inlets, outlets) of the vanilla Pd objects the patch uses.
PD_OBJECTS = {
    "netsend": (1, 2),
    "oscformat": (1, 1),
    "oscparse": (1, 1),
    "print": (1, 0),
    "hsl": (1, 1),
    "tgl": (1, 1),
    "i": (2, 1),
    "t": None,  # one outlet per argument
    "pack": None,  # one inlet per argument
    "list": None,  # depends on the method
}
PD_LIST = {"prepend": (2, 1), "append": (2, 1), "trim": (1, 1)}


def _pd_ports(kind: str, words: list[str]) -> tuple[int, int]:
    if kind in ("msg", "floatatom", "symbolatom"):
        return 1, 1
    if kind == "text":
        return 0, 0
    name, args = words[0], words[1:]
    if name not in PD_OBJECTS:
        raise AssertionError(f"unknown Pd object {name!r}: add it to PD_OBJECTS")
    if name == "t":
        return 1, len(args)
    if name == "pack":
        return len(args), 1
    if name == "list":
        return PD_LIST[args[0]]
    return PD_OBJECTS[name]


def _pd_records() -> list[str]:
    text = (OSC / "timbrespace.pd").read_text("utf-8")
    assert text.rstrip().endswith(";")
    # a record ends at a `;` that is not escaped
    return [r.strip() for r in re.split(r"(?<!\\);\s*\n", text.rstrip()[:-1] + "\n") if r.strip()]


def _pd_patch() -> tuple[list[tuple[str, list[str]]], list[list[int]]]:
    objects, connects = [], []
    for line in (OSC / "timbrespace.pd").read_text("utf-8").splitlines():
        assert line.endswith(";"), line
    records = _pd_records()
    assert records[0].startswith("#N canvas ")
    for record in records[1:]:
        words = record.split()
        assert words[0] == "#X", record
        if words[1] == "connect":
            connects.append([int(w) for w in words[2:6]])
        elif words[1] in ("obj", "msg", "text", "floatatom", "symbolatom"):
            int(words[2]), int(words[3])
            objects.append((words[1], words[4:]))
        else:
            raise AssertionError(f"unexpected record {record!r}")
    return objects, connects


def test_pd_patch_connections_are_valid():
    objects, connects = _pd_patch()
    assert connects
    for src, outlet, dst, inlet in connects:
        assert 0 <= src < len(objects) and 0 <= dst < len(objects), (src, dst)
        assert outlet < _pd_ports(*objects[src])[1], (objects[src], outlet)
        assert inlet < _pd_ports(*objects[dst])[0], (objects[dst], inlet)
    assert len({tuple(c) for c in connects}) == len(connects)


def _pd_addresses() -> set[str]:
    objects, _ = _pd_patch()
    return {
        "/" + "/".join(words[1:])
        for kind, words in objects
        if kind == "obj" and words[0] == "oscformat"
    }


def _max_patch() -> dict:
    return json.loads((OSC / "timbrespace.maxpat").read_text("utf-8"))["patcher"]


def _max_addresses() -> set[str]:
    found = set()
    for entry in _max_patch()["boxes"]:
        box, text = entry["box"], entry["box"].get("text", "")
        if box["maxclass"] == "newobj" and text.startswith("prepend /"):
            found.add(text.split()[1])
        elif box["maxclass"] == "message" and text.startswith("/"):
            found.add(text.split()[0])
    return found


@pytest.mark.parametrize("addresses", [_pd_addresses, _max_addresses], ids=["pd", "max"])
def test_patch_addresses_exist(addresses):
    found = addresses()
    assert len(found) >= 15
    assert found <= set(ADDRESSES), found - set(ADDRESSES)


def test_max_patch_lines_reference_boxes():
    patcher = _max_patch()
    boxes = {entry["box"]["id"]: entry["box"] for entry in patcher["boxes"]}
    assert len(boxes) == len(patcher["boxes"])
    assert patcher["lines"]
    for entry in patcher["lines"]:
        (src, outlet), (dst, inlet) = (
            entry["patchline"]["source"],
            entry["patchline"]["destination"],
        )
        assert src in boxes and dst in boxes, (src, dst)
        assert outlet < boxes[src]["numoutlets"] and inlet < boxes[dst]["numinlets"]


def _value(word: str) -> float | str:
    try:
        return float(word)
    except ValueError:
        return word


def test_cues_parse():
    count = 0
    for line in (OSC / "cues.txt").read_text("utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        assert float(words[0]) >= 0
        command = parse_message(words[1], [_value(w) for w in words[2:]])
        assert ADDRESSES[command.address].needs in ("", "input"), line
        count += 1
    assert count >= 5


def test_client_help():
    result = subprocess.run(
        [sys.executable, str(OSC / "client.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "sweep" in result.stdout


def test_docs_hold_current_osc_help():
    docs = (ROOT / "docs" / "osc.md").read_text("utf-8")
    assert osc_help() in docs, "docs/osc.md is stale: paste `timbrespace serve --osc-help`"
