"""Run every benchmark (`benchmarks/bench_*.py`) in its own process; each writes benchmarks/out/<name>.json
and a markdown section. This script concatenates the sections into benchmarks/out/README.md."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    failures = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        print(
            f"== {script.name}: exit {result.returncode} after {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        if result.returncode:
            failures.append(script.name)
    sections = [path.read_text() for path in sorted(OUT.glob("*.md")) if path.name != "README.md"]
    (OUT / "README.md").write_text("# Benchmarks\n\n" + "\n\n".join(sections))
    print(f"wrote {OUT / 'README.md'}")
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
