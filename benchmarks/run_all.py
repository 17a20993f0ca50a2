"""Compare tensorserve with the in-process limit, Flask and MLServer in one table.

``make bench`` runs this. It installs its load generators if they are missing
(wrk for REST, h2load for gRPC; apt-get as root) and MLServer into
``benchmarks/.venv-mlserver``, starts each target alone on free ports, checks
one answer from each, then times it at concurrency 1, 8 and 32::

    python benchmarks/run_all.py            # 3 interleaved rounds of 4 s cells, ~10 minutes
    python benchmarks/run_all.py --quick    # 1 round of 2 s cells, a fast check
    python benchmarks/run_all.py --markdown results.md
    python benchmarks/run_all.py --quick --sweep   # every target at concurrency 1, 8, 32, 128

The load generator and the server share this machine's cores, so read the
numbers as ratios within one run, not as absolute capacity.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import sys
import tempfile
from pathlib import Path

from harness import models, report, tools
from harness import suite as suite_module
from harness.report import HALF_PLUS_TWO, Results
from harness.suite import BenchmarkSuite, SuiteOptions

TARGET_GROUPS = ("tensorserve", "batching", "flask", "mlserver", "cnn", "v2")
SWEEP = (1, 8, 32, 128)
"""``--sweep``: wide enough that latency turns from flat to queueing on any machine."""


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    load_before = os.getloadavg()[0]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # As tensorserve serves (see server.ONEDNN_ENV); every target inherits it.
    if not os.environ.get("TF_ENABLE_ONEDNN_OPTS"):
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    options = SuiteOptions(duration_s=args.duration, warmup_s=args.warmup, rounds=args.rounds)
    if args.sweep:
        options = dataclasses.replace(options, concurrencies=SWEEP)
    skip = set(args.skip)
    with tempfile.TemporaryDirectory(prefix="tensorserve-bench-") as tmp:
        work_dir = Path(tmp)
        install_log = work_dir / "install.log"
        wrk_tool = tools.debian_tool("wrk", "wrk", install_log)
        h2load_tool = tools.debian_tool("h2load", "nghttp2-client", install_log)
        mlserver_tool = (
            tools.Tool("mlserver", reason="skipped")
            if "mlserver" in skip
            else tools.mlserver(install_log)
        )
        suite = BenchmarkSuite(options, work_dir, wrk_tool, h2load_tool)
        try:
            origin = _register(suite, skip, mlserver_tool, work_dir, sweep=args.sweep)
            suite.run_rounds()
        finally:
            suite.close()
    results = Results(suite.measurements)
    context = _context(args, origin, options)
    context.append(
        f"1-min load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        "(anything above the core count means other work shared the machine)"
    )
    print(_render(results, context, options, markdown=False))
    if args.markdown:
        Path(args.markdown).write_text(_render(results, context, options, markdown=True) + "\n")
    return 0


def _register(
    suite: BenchmarkSuite,
    skip: set[str],
    mlserver_tool: tools.Tool,
    work_dir: Path,
    sweep: bool = False,
) -> str:
    """Start every target that is not skipped and register its cells with ``suite``;
    returns where half_plus_two came from. With ``sweep``, the targets usually timed
    at the highest concurrency only (batching, the CNN) get every concurrency too."""
    options = suite.options
    half_plus_two = models.half_plus_two(work_dir)
    small_cnn = None if "cnn" in skip else models.small_cnn(work_dir)
    every, high = options.concurrencies, (max(options.concurrencies),)
    if sweep:
        high = every

    suite.in_process(half_plus_two, every)
    suite.in_process_function(half_plus_two, every)
    if small_cnn is not None:
        suite.in_process(small_cnn, high, batched=report.V2_BATCH)
    v2 = "v2" not in skip
    if "tensorserve" not in skip:
        suite.tensorserve(half_plus_two, batching=False, concurrencies=every, v2=v2)
    if "batching" not in skip:
        suite.tensorserve(half_plus_two, batching=True, concurrencies=high)
    if "flask" not in skip:
        suite.flask(half_plus_two, every)
    if "mlserver" not in skip:
        suite.mlserver(mlserver_tool, half_plus_two, every)
    if small_cnn is not None:
        v2_batch = report.V2_BATCH if v2 else 0
        suite.tensorserve(small_cnn, batching=False, concurrencies=high, v2_batch=v2_batch)
        suite.tensorserve(small_cnn, batching=True, concurrencies=high)
    return half_plus_two.origin


def _render(results: Results, context: list[str], options: SuiteOptions, markdown: bool) -> str:
    fmt = report.format_markdown if markdown else report.format_text
    peer_header = ("half_plus_two req/s ratio", *(f"c={c}" for c in options.concurrencies))
    goals = [(goal.verdict, goal.text, goal.evidence) for goal in report.goals(results)]
    sections = [
        "\n".join(("- " + line) if markdown else line for line in context),
        fmt(report.table_rows(results), report.HEADER),
        fmt(report.peer_ratios(results, options.concurrencies), peer_header),
        fmt(goals, ("goal", "target", "measured")),
    ]
    return "\n\n".join(sections)


def _context(args: argparse.Namespace, origin: str, options: SuiteOptions) -> list[str]:
    return [
        f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"machine: {os.cpu_count()} cores, {_cpu_model()}, {platform.system()} "
        f"{platform.release()}; load generators and servers share these cores",
        f"command: python benchmarks/run_all.py {' '.join(args.argv)}".rstrip(),
        f"cells: median of {options.rounds} rounds of {options.duration_s:g} s, every "
        f"target up and the rounds interleaved, after {options.warmup_s:g} s warm-up; "
        "closed loop, batch 1 per request; wrk/h2load use at most 2 threads",
        f"{HALF_PLUS_TWO}: {origin}; small_cnn: conv32-pool-conv64-pool-dense10, "
        "float [1,28,28,1] per request (req/s = images/s)",
        "x limit: req/s over the in-process predict rate at the same concurrency; "
        "CPU us/req: CPU time of the serving process tree per answer (load generator excluded)",
        f"V2 rows: the same tensorserve server as the TF Serving rows; V2 JSON REST sends "
        f"MLServer's body; the batch-{report.V2_BATCH} V2 rows (small_cnn, "
        f"{suite_module.V2_BATCH_CONCURRENCY} connections) count images/s",
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="one round of 2 s cells, 0.5 s warm-up"
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds per cell and round (4)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per cell (3)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds (2)")
    parser.add_argument(
        "--skip", action="append", default=[], choices=TARGET_GROUPS, help="leave a target out"
    )
    parser.add_argument("--markdown", help="also write the report as Markdown to this file")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help=f"every target at concurrency {', '.join(map(str, SWEEP))} (batching and CNN too)",
    )
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    args.argv = raw
    args.duration = args.duration or (2.0 if args.quick else 4.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.warmup = args.warmup or (0.5 if args.quick else 2.0)
    return args


if __name__ == "__main__":
    sys.exit(main())
