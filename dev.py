#!/usr/bin/env python3
"""Sets up a virtual environment and runs a keras-regkit task. Needs only CPython 3.10+.

    python3 dev.py compare [ARGS...]      # the main job: keras-regkit compare ARGS (JAX backend)
    python3 dev.py test [PYTEST ARGS...]  # the whole test suite on tensorflow, jax and torch

The environment lives in .venv and is reinstalled when pyproject.toml or constraints.txt
change. Set REGKIT_BACKENDS="jax torch" to test a subset of backends.
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
EXTRAS = {"compare": "jax,plot,pandas", "test": "tensorflow,jax,torch,plot,dev"}
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


def run_tests(pytest_args: list[str]) -> int:
    backends = os.environ.get("REGKIT_BACKENDS", " ".join(BACKENDS)).split()
    results = {}
    for backend in backends:
        print(f"\n{'=' * 30} KERAS_BACKEND={backend} {'=' * 30}", flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend)
        results[backend] = subprocess.run(
            [str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=env
        ).returncode
    print("\n" + "=" * 30 + " summary " + "=" * 30)
    for backend, code in results.items():
        print(f"  {backend:<11} {'passed' if code == 0 else f'FAILED (pytest exit {code})'}")
    return 0 if all(code == 0 for code in results.values()) else 1


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
