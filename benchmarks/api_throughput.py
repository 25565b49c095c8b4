"""`python -m benchmarks.api_throughput`: signed SubmitSnapshotJob throughput and end-to-end job latency.

The benchmark lives in `benchmarks/api/` (one module per job: load generator, CPU accounting, services,
phases, report); this is its entry point. `--help` lists the knobs; `--json FILE` keeps the raw figures.
"""

from __future__ import annotations

import sys

from benchmarks.api.cli import main

if __name__ == "__main__":
    sys.exit(main())
