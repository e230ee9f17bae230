#!/usr/bin/env python3
"""Sets up a virtual environment and runs a keras-regkit task. Needs only CPython 3.10+.

    python3 dev.py compare [ARGS...]      # the main job: keras-regkit compare ARGS (JAX backend)
    python3 dev.py test [PYTEST ARGS...]  # the whole test suite on tensorflow, jax and torch

The environment lives in .venv and is reinstalled when pyproject.toml or constraints.txt
change. Set REGKIT_BACKENDS="jax torch" to test a subset of backends. Tests run in parallel
worker processes (pytest-xdist, one test file per worker at a time so module fixtures are built
once): REGKIT_TEST_WORKERS sets how many (default: the number of cores, at most 4); passing
your own `-n` to pytest overrides it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
EXTRAS = {
    "compare": "jax,plot,pandas,compare",
    "test": "tensorflow,jax,torch,plot,dev,compare,cluster",
}
BACKENDS = ("tensorflow", "jax", "torch")


def _fingerprint(extras: str) -> str:
    digest = hashlib.sha256(extras.encode())
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment(task: str) -> None:
    extras = EXTRAS[task]
    stamp = VENV / f".installed-{task}"
    if stamp.exists() and stamp.read_text() == _fingerprint(extras):
        return
    if not PYTHON.exists():
        print(f"[dev.py] creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"[dev.py] installing keras-regkit[{extras}] into {VENV}", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run(
        [*pip, "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[{extras}]"], check=True
    )
    stamp.write_text(_fingerprint(extras))


def _worker_args(pytest_args: list[str]) -> list[str]:
    if any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in pytest_args):
        return []
    workers = os.environ.get("REGKIT_TEST_WORKERS") or str(min(os.cpu_count() or 1, 4))
    if workers in ("0", "1"):
        return []
    return ["-n", workers, "--dist", "loadfile"]


_OUTCOMES = {0: "passed", 5: "nothing to run on this backend (one_backend tests only)"}


def run_tests(pytest_args: list[str]) -> int:
    backends = os.environ.get("REGKIT_BACKENDS", " ".join(BACKENDS)).split()
    pytest_args = [*_worker_args(pytest_args), *pytest_args]
    results = {}
    for backend in backends:
        print(f"\n{'=' * 30} KERAS_BACKEND={backend} {'=' * 30}", flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend)
        results[backend] = subprocess.run(
            [str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=env
        ).returncode
    print("\n" + "=" * 30 + " summary " + "=" * 30)
    for backend, code in results.items():
        print(f"  {backend:<11} {_OUTCOMES.get(code, f'FAILED (pytest exit {code})')}")
    # Exit 5 means every selected test is a one_backend test and ran on another backend.
    ok = all(code in _OUTCOMES for code in results.values()) and 0 in results.values()
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    task, rest = argv[0], argv[1:]
    ensure_environment(task)
    if task == "test":
        return run_tests(rest)
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "jax")
    return subprocess.run([str(BIN / "keras-regkit"), task, *rest], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
