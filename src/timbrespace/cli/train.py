"""The `train` verb and its `--set KEY=VALUE` model overrides."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from timbrespace.cli.common import add_bool, add_verb, check_output
from timbrespace.cli.options import devices, positive_float, positive_int, seed
from timbrespace.errors import TimbrespaceError

if TYPE_CHECKING:
    from timbrespace.train.run import TrainResult

PRESETS = ["tiny", "small", "full"]


def parse_overrides(items: Sequence[str] | None) -> dict[str, object]:
    """`KEY=VALUE` items → {key: value}; a value is read as JSON when it parses, else as text."""
    overrides: dict[str, object] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise TimbrespaceError(f"--set {item!r}: expected KEY=VALUE")
        try:
            overrides[key] = json.loads(text)
        except ValueError:
            overrides[key] = text
    return overrides


def run_train(args: argparse.Namespace) -> int:
    from timbrespace.train.run import train

    check_output(args.out, "--out", "folder")
    result = train(
        args.data,
        args.out,
        family=args.model,
        preset=args.preset,
        model_overrides=parse_overrides(args.set),
        train_overrides={
            "max_steps": args.max_steps,
            "max_minutes": args.max_minutes,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "seed": args.seed,
            "adversarial_after": args.adversarial_after,
        },
        resume=args.resume,
        accelerator=args.accelerator,
        devices=args.devices,
        strategy=args.strategy,
        logger=args.logger,
        progress=args.progress,
    )
    print_train_result(result)
    return 0


def print_train_result(result: TrainResult) -> None:
    if result.bundle is not None:
        print(f"trained {result.steps} steps; run: {result.run_dir}; bundle: {result.bundle}")


def add_parsers(verbs: argparse._SubParsersAction) -> None:
    sub = add_verb(
        verbs,
        "train",
        run_train,
        "Train a model family on a prepared cache (Lightning; checkpoints, logs, previews, bundle).",
        "  timbrespace train --model oneshot --data cache/samples --out runs/kit --preset small\n"
        "  timbrespace train --data cache/samples --out runs/kit --resume\n"
        "  timbrespace train --data cache/samples --out runs/kit --devices 2 --strategy ddp\n"
        "  timbrespace train --data cache/samples --out runs/vae --set bottleneck=vae --set beta=0.01\n",
        job="train",
    )
    sub.add_argument("--model", default="oneshot", help="model family (default oneshot)")
    sub.add_argument("--data", required=True, help="cache folder from `timbrespace prepare`")
    sub.add_argument("--out", required=True, help="run folder (checkpoints, logs, bundle)")
    sub.add_argument(
        "--preset",
        default="small",
        choices=PRESETS,
        help="tiny = tests, small = CPU (default), full = GPU",
    )
    sub.add_argument(
        "--max-steps", type=positive_int, default=None, help="stop after this many steps"
    )
    sub.add_argument(
        "--max-minutes", type=positive_float, default=None, help="stop after this long"
    )
    sub.add_argument("--batch-size", type=positive_int, default=None)
    sub.add_argument("--lr", type=positive_float, default=None, help="learning rate")
    sub.add_argument("--seed", type=seed, default=None, help="random seed, 0…2³²−1")
    sub.add_argument(
        "--adversarial-after",
        type=positive_int,
        default=None,
        metavar="STEPS",
        help="a waveform family (stream, oneshot) trains against discriminators after STEPS "
        "steps of reconstruction, as RAVE's second phase (one device; GPU runs)",
    )
    sub.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a model config field (repeatable; unknown keys are errors)",
    )
    add_bool(sub, "resume", False, "continue the run in --out from its last checkpoint")
    sub.add_argument("--accelerator", default="auto", help="auto, cpu, gpu, mps (Lightning)")
    sub.add_argument("--devices", type=devices, default="auto", help="number of devices or auto")
    sub.add_argument("--strategy", default="auto", help="auto, ddp, ... (Lightning)")
    sub.add_argument("--logger", default="tensorboard", choices=["tensorboard", "wandb", "none"])
    add_bool(sub, "progress", None, "progress bar (default: on a terminal)")
