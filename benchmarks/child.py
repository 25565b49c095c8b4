"""Peak RSS of one capture, measured from a small process so that nothing else is counted.

`python -m benchmarks.child measure CASE_INDEX MEDIA_DIR` starts `… child capture …` and prints the child's
peak RSS in MiB from `getrusage(RUSAGE_CHILDREN)`. The extra process level matters on Linux: a child's
ru_maxrss starts at the RSS of the process that forked it (execve keeps the old mm's high-water mark), so
forking straight from the benchmark — which holds decoded frames, moto's copy of the clip, … — would
report the benchmark's size, not the capture's. This process is a fresh interpreter of ~20 MB.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path


def capture_one(case_index: int, media: Path) -> None:
    from benchmarks.cases import CASES
    from benchmarks.engine import spec_for
    from benchmarks.probes import run_capture

    case = CASES[case_index]
    run_capture(str(media / case.clip), spec_for(case))


def main() -> int:
    mode, case_index, media = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    if mode == "capture":
        capture_one(case_index, media)
        return 0
    subprocess.run([sys.executable, "-m", "benchmarks.child", "capture", str(case_index), str(media)], check=True)
    # Linux reports ru_maxrss in KiB
    print(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
