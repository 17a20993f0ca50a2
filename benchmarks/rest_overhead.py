"""How much of the model's own speed survives tensorserve's REST front end.

Measures half_plus_two at batch 1 in one run: the in-process predict call (the
exact call the server makes per request) from N threads, then tensorserve REST
driven by wrk with N connections, for N = 1, 8 and 32. Prints both and their
ratio; the goal is >= 0.70 of in-process at concurrency 8::

    python benchmarks/rest_overhead.py [--duration 10] [--quick]

The load generator shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from harness import models, report, tools
from harness.report import HALF_PLUS_TWO, IN_PROCESS, REST, Results
from harness.suite import BenchmarkSuite, SuiteOptions

GOAL_AT_8 = 0.70


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of 2 s cells")
    parser.add_argument("--duration", type=float, default=None, help="seconds per cell (4)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (3)")
    args = parser.parse_args(argv)
    duration = args.duration or (2.0 if args.quick else 4.0)
    rounds = args.rounds or (1 if args.quick else 3)
    options = SuiteOptions(duration_s=duration, warmup_s=min(2.0, duration / 3), rounds=rounds)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="tensorserve-bench-") as tmp:
        work_dir = Path(tmp)
        wrk_tool = tools.debian_tool("wrk", "wrk", work_dir / "install.log")
        suite = BenchmarkSuite(options, work_dir, wrk_tool, tools.Tool("h2load", reason="unused"))
        model = models.half_plus_two(work_dir)
        try:
            suite.in_process(model, options.concurrencies)
            suite.tensorserve(
                model, batching=False, concurrencies=options.concurrencies, with_grpc=False
            )
            suite.run_rounds()
        finally:
            suite.close()
    results = Results(suite.measurements)
    print(
        f"{os.cpu_count()} cores shared by wrk and the server; "
        f"median of {rounds} interleaved rounds of {duration:g} s per cell\n"
    )
    print(report.format_text(report.table_rows(results), report.HEADER))
    print()
    for concurrency in options.concurrencies:
        ratio = results.ratio(HALF_PLUS_TWO, REST, IN_PROCESS, concurrency)
        shown = "n/a" if ratio is None else f"{ratio:.2f}"
        print(f"REST / in-process at concurrency {concurrency}: {shown}")
    ratio = results.ratio(HALF_PLUS_TWO, REST, IN_PROCESS, 8)
    verdict = "N/A" if ratio is None else ("PASS" if ratio >= GOAL_AT_8 else "MISS")
    print(f"{verdict}: goal >= {GOAL_AT_8:.2f} of in-process at concurrency 8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
