"""The layer rule of DESIGN.md, read from the import graph: imports flow downward only, and the
faces reach models only through `LatentSpace` and the inference module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "timbrespace"

LAYERS: list[tuple[str, ...]] = [
    ("timbrespace", "errors", "atomic", "progress", "limits", "config", "numbers", "runtime"),
    ("audio",),
    ("data",),
    ("models",),
    ("losses",),
    ("latent",),
    ("bundle", "bundle_checks"),
    (
        "render_stages",
        "stage_search",
        "latent_files",
        "inference",
        "blocks",
        "instrument",
        "note_play",
        "codebook_play",
    ),
    ("train",),
    (
        "analyze",
        "calibrate",
        "codebook_analysis",
        "evaluation",
        "plots",
        "space_results",
        "space_aim",
        "space_history",
        "space_loop",
        "space_readout",
        "space_staged",
    ),
    ("space", "control_fidelity", "live", "live_notes", "exportable", "pack"),
    ("cli", "studio", "engine", "export"),
]
"""Bottom to top; a module may import its own layer and the layers below it."""

FACES = ("cli", "studio", "engine", "export")
FACE_FORBIDDEN = ("timbrespace.models", "timbrespace.latent", "timbrespace.data.cache")
"""What a face never imports: it reaches models through `space` and `inference`."""

RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def part_of(module: str) -> str:
    """`timbrespace.latent.paths` → `latent`; `timbrespace` → `timbrespace`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    relative = path.relative_to(SRC.parent).with_suffix("")
    parts = list(relative.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every `timbrespace` import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text("utf-8"))
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names = [f"{base}.{alias.name}" for alias in node.names]
            found += [(node.lineno, name) for name in [base, *names]]
    return [(line, name) for line, name in found if name.split(".")[0] == "timbrespace"]


def source_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    unknown = {part_of(module_name(path)) for path in source_files()} - set(RANK)
    assert not unknown, f"add these to LAYERS in tests/test_layers.py: {sorted(unknown)}"


def test_imports_flow_downward() -> None:
    upward = []
    for path in source_files():
        own = part_of(module_name(path))
        if own == "timbrespace":  # the package's public façade re-exports from every layer
            continue
        for line, target in imports_of(path):
            if target in {"timbrespace", "timbrespace.__version__"}:
                continue
            other = part_of(target)
            if other in RANK and RANK[other] > RANK[own]:
                upward.append(f"{path.relative_to(SRC)}:{line} imports {target}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(set(upward)))


def test_faces_reach_models_only_through_the_space() -> None:
    found = []
    for path in source_files():
        if part_of(module_name(path)) not in FACES:
            continue
        for line, target in imports_of(path):
            if target.startswith(FACE_FORBIDDEN):
                found.append(f"{path.relative_to(SRC)}:{line} imports {target}")
        text = path.read_text("utf-8")
        for pattern in (r"\bmodel\.(encode|decode)\(", r"is_one_shot", r"\.family\s*[!=]="):
            if re.search(pattern, text):
                found.append(f"{path.relative_to(SRC)} matches {pattern!r}")
    assert not found, "faces going around LatentSpace:\n" + "\n".join(sorted(set(found)))


@pytest.mark.parametrize("limit", [500])
def test_source_files_stay_readable(limit: int) -> None:
    long = [
        f"{path.relative_to(SRC)}: {n} lines"
        for path in source_files()
        if (n := len(path.read_text("utf-8").splitlines())) > limit
    ]
    assert not long, "split these by concept:\n" + "\n".join(long)


def test_help_loads_no_torch() -> None:
    """`timbrespace … --help` stays instant: the CLI imports torch only inside a verb's run."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from timbrespace.cli import build_parser\n"
        "for verb in (['--help'], ['generate', 'interpolate', '--help'], ['train', '--help']):\n"
        "    try:\n"
        "        build_parser().parse_args(verb)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('torch', 'numpy', 'lightning') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
