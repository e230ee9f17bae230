"""The output folder of `keras-regkit compare` as a journal: no finished run is ever lost.

`config.json` records what determines the runs (the data, the arguments, the backend), and
`runs.jsonl` gets one JSON line per run, appended (one `write` of the whole line, then `fsync`)
the moment the run is measured, so an interruption, a crash or SIGKILL keeps every finished
run. `--resume` reads them back and trains only the missing runs; a folder whose runs came from
another configuration is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from keras_regkit.compare.engine import RunResult

CONFIG = "config.json"
RUNS = "runs.jsonl"
FORMAT = 1
# Everything `write_report` writes: a folder holding one of these holds a comparison.
OUTPUTS = (
    "report.md",
    "results.csv",
    "summary.csv",
    "differences.csv",
    "learning_curves.png",
    "fairness_frontier.png",
    "recipe.json",
)


class OutputError(Exception):
    """The output folder cannot be used as asked (`keras-regkit compare` exits with 2)."""


def file_digest(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (the identity of a --data CSV)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    # JSON turns tuples into lists: compare what a round trip gives.
    return json.loads(json.dumps(value, sort_keys=True))


class Journal:
    """Opens `out_dir` for a comparison with `config`, or refuses it.

    Args:
        out_dir: the output folder.
        config: a JSON-ready dict of everything that determines the runs.
        resume: continue the comparison already in the folder (same `config` only).
        overwrite: replace whatever comparison the folder holds.

    Attributes:
        completed: the runs read back from the folder (empty unless `resume`).
        skipped_lines: lines of runs.jsonl that could not be read (a torn last line).

    Raises:
        OutputError: the folder holds another comparison and neither `resume` nor
            `overwrite` was given, or `resume` finds a different configuration.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        config: dict[str, Any],
        *,
        resume: bool = False,
        overwrite: bool = False,
    ) -> None:
        if resume and overwrite:
            raise OutputError("--resume and --overwrite exclude each other; pass one of them.")
        self.out = Path(out_dir)
        self.config = _canonical({"format": FORMAT, **config})
        self.completed: list[RunResult] = []
        self.skipped_lines = 0
        held = self._held()
        if held and resume:
            self._check_config()
            self.completed, self.skipped_lines = read_runs(self.out / RUNS)
            _drop_torn_tail(self.out / RUNS)
        elif held and overwrite:
            for name in (CONFIG, RUNS, *OUTPUTS):
                (self.out / name).unlink(missing_ok=True)
        elif held:
            raise OutputError(
                f"--out {str(self.out)!r} holds another comparison ({', '.join(held)}); "
                "pass --resume to continue it or --overwrite to replace it, or choose another "
                "--out."
            )
        self.out.mkdir(parents=True, exist_ok=True)
        if not (self.out / CONFIG).exists():
            partial = self.out / (CONFIG + ".partial")
            partial.write_text(json.dumps(self.config, indent=2, sort_keys=True) + "\n")
            partial.replace(self.out / CONFIG)

    def _held(self) -> list[str]:
        if not self.out.is_dir():
            return []
        return [name for name in (CONFIG, RUNS, *OUTPUTS) if (self.out / name).exists()]

    def _check_config(self) -> None:
        path = self.out / CONFIG
        try:
            found = json.loads(path.read_text())
        except (OSError, ValueError):
            raise OutputError(
                f"--resume: {str(self.out)!r} has no readable {CONFIG}, so its runs cannot be "
                "matched to this configuration; pass --overwrite to replace them."
            ) from None
        if found == self.config:
            return
        changes = []
        for key in sorted(set(found) | set(self.config)):
            there, here = found.get(key), self.config.get(key)
            if there == here:
                continue
            if isinstance(there, dict) and isinstance(here, dict):
                for sub in sorted(set(there) | set(here)):
                    if there.get(sub) != here.get(sub):
                        changes.append(f"{sub}: {there.get(sub)!r} there, {here.get(sub)!r} here")
            else:
                changes.append(f"{key}: {there!r} there, {here!r} here")
        raise OutputError(
            f"--resume: the runs in {str(self.out)!r} come from a different configuration ("
            + "; ".join(changes)
            + "). Resume with the same data, arguments and backend, or pass --overwrite."
        )

    def append(self, run: RunResult) -> None:
        """Appends one run as one JSON line: a single `write`, then `fsync`."""
        line = (json.dumps(run.to_dict()) + "\n").encode()
        fd = os.open(self.out / RUNS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            while written < len(line):  # a short write (rare): finish the line
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)


def _drop_torn_tail(path: Path) -> None:
    """Cuts a last line without its newline, so the next append starts a line of its own."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as file:
            file.truncate(data.rfind(b"\n") + 1)


def read_runs(path: str | os.PathLike) -> tuple[list[RunResult], int]:
    """The runs of a runs.jsonl file, and how many lines were unreadable.

    A line without its newline (cut by SIGKILL mid-write) or with bad JSON is skipped; of
    two lines for the same run, the first counts.
    """
    path = Path(path)
    if not path.exists():
        return [], 0
    runs: dict[tuple, RunResult] = {}
    skipped = 0
    *lines, tail = path.read_bytes().split(b"\n")
    for line in lines:
        if not line.strip():
            continue
        try:
            run = RunResult.from_dict(json.loads(line))
        except (ValueError, TypeError):
            skipped += 1
            continue
        runs.setdefault(run.key, run)
    return list(runs.values()), skipped + bool(tail.strip())
