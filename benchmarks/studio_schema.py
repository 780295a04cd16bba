"""The studio against its own OpenAPI document: schemathesis, bounded. Prints JSON.

Starts the studio (uvicorn in a thread, 127.0.0.1, a free port, an empty temporary dataset
folder so no export can touch real files) for a bundle, runs `schemathesis run` on
`/openapi.json` with `--max-examples` cases per operation and a fixed seed, and reports the
number of test cases, server errors (5xx) and failures per check. The acceptance of issue 13:
0 server errors and 0 schema-conformance failures (status code, content type, headers, body;
see CONFORMANCE).

    python benchmarks/studio_schema.py --bundle runs/kit/bundle
    python benchmarks/studio_schema.py --bundle runs/kit --max-examples 40 --timeout 170
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from studio_latency import free_port, start_server

CONFORMANCE = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
"""The acceptance: these never fail. The other checks are reported too; `positive_data_acceptance`
fails by design here: a schema-valid request can name a control, sound or operator this bundle
does not have (400/422 naming it), which a static schema can't list."""


CONFIG = """
[checks.negative_data_rejection]
# schemathesis's defaults plus 408 and 413: a body too large or too slow is refused too
expected-statuses = ["400", "401", "403", "404", "405", "406", "408", "409", "413", "415", "422",
                     "428", "429", "5xx"]
"""


def schemathesis_command(
    url: str, args: argparse.Namespace, report: Path, config: Path
) -> list[str]:
    binary = Path(sys.executable).with_name("schemathesis")
    return [
        str(binary),
        "--config-file",
        str(config),
        "run",
        url,
        "--checks",
        "all",
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--continue-on-failure",
        "--request-timeout",
        "30",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]


def summarize(report: Path) -> dict:
    """Counts from schemathesis's NDJSON events: requests and their status codes, checks run
    and failed by name, and the acceptance numbers (server errors, conformance failures)."""
    failures: Counter[str] = Counter()
    checks_run: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for line in report.read_text("utf-8").splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished.get("recorder", {})
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response") or {}
            if "status_code" in response:
                statuses[str(response["status_code"])] += 1
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                checks_run[check["name"]] += 1
                if str(check.get("status", "")).lower() == "failure":
                    failures[check["name"]] += 1
    return {
        "requests": sum(statuses.values()),
        "server_errors": sum(n for code, n in statuses.items() if code.startswith("5")),
        "conformance_failures": sum(failures[name] for name in CONFORMANCE),
        "failures_by_check": dict(sorted(failures.items())),
        "checks_run": dict(sorted(checks_run.items())),
        "statuses": dict(sorted(statuses.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, help="an analysed bundle (or run folder)")
    parser.add_argument("--max-examples", type=int, default=40, help="cases per operation")
    parser.add_argument("--timeout", type=int, default=170, help="stop schemathesis after (s)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    import torch

    from timbrespace.studio.app import create_app
    from timbrespace.studio.service import Studio

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="studio_schema_"))
    dataset = work / "dataset"
    dataset.mkdir()
    try:
        studio = Studio.open(args.bundle, dataset=dataset)
        port = free_port()
        server = start_server(create_app(studio), port)
        report = work / "report.ndjson"
        url = f"http://127.0.0.1:{port}/openapi.json"
        config = work / "schemathesis.toml"
        config.write_text(CONFIG, "utf-8")
        command = schemathesis_command(url, args, report, config)
        started = time.perf_counter()
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=args.timeout,
            cwd=work,  # its cache folder (.schemathesis) stays out of the repository
        )
        seconds = time.perf_counter() - started
        server.should_exit = True
        result = {
            "command": " ".join(command[1:]),
            "seconds": round(seconds, 1),
            "exit_code": run.returncode,
            **(summarize(report) if report.is_file() else {}),
            "files_written": sorted(str(p) for p in dataset.rglob("*") if p.is_file()),
        }
        if run.returncode not in (0, 1) or not report.is_file():
            result["output"] = (run.stdout + run.stderr)[-3000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
