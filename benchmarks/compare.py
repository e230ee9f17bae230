"""Wall time of `keras-regkit compare` with repeats against the single-seed run.

    KERAS_BACKEND=jax python benchmarks/compare.py [--jobs 1 2] [--repeats 5]
        [--keep DIR] [-- extra compare arguments, e.g. --max-train-rows 2000]

Runs, one after another in this one session (so that the machine's load weighs
on all alike), the default comparison as a user would start it, each in a fresh
process with its own output folder:

- `--repeats 1 --jobs 1`: the single-seed default before repeats (the baseline);
- `--repeats R --jobs J` for every J in `--jobs`.

and prints, for each, the wall time from process start to exit (imports, data,
every run, report and plots), the number of runs, the seconds per run and the
ratio to the baseline. `--keep DIR` keeps the output folder of the last
configuration (e.g. to copy into docs/compare/). The runs of one configuration
differ from the others' only in how they are scheduled: the same seeds give the
same results with any `--jobs`.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = "import sys; from keras_regkit import cli; sys.exit(cli.main(sys.argv[1:]))"


def run(out: Path, repeats: int, jobs: int, extra: list[str]) -> dict:
    command = [sys.executable, "-c", CLI, "compare", "--out", str(out), "--overwrite"]
    command += ["--repeats", str(repeats), "--jobs", str(jobs), *extra]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    with open(out / "results.csv", newline="") as file:
        runs = sum(1 for _ in csv.DictReader(file))
    return {"repeats": repeats, "jobs": jobs, "seconds": seconds, "runs": runs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", type=Path, help="keep the last configuration's output here")
    parser.add_argument("extra", nargs="*", help="further compare arguments (after --)")
    args = parser.parse_args(argv)
    configs = [(1, 1)] + [(args.repeats, jobs) for jobs in args.jobs]
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for index, (repeats, jobs) in enumerate(configs):
            out = Path(root) / f"run{index}"
            rows.append(run(out, repeats, jobs, args.extra))
            row = rows[-1]
            print(
                f"repeats {repeats} jobs {jobs}: {row['runs']} runs in {row['seconds']:.1f} s",
                file=sys.stderr,
            )
        if args.keep is not None:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(out, args.keep)
    base = rows[0]["seconds"]
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"`keras-regkit compare` wall time, {backend} backend, {os.cpu_count()} cores")
    print(f"(extra arguments: {' '.join(args.extra) or 'none'})\n")
    print("| Repeats | Jobs | Runs | Wall time (s) | s per run | Ratio to single seed |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['repeats']} | {row['jobs']} | {row['runs']} | {row['seconds']:.1f} | "
            f"{row['seconds'] / row['runs']:.2f} | {row['seconds'] / base:.2f}x |"
        )


if __name__ == "__main__":
    main()
