import os
import subprocess
import sys

import pytest

import keras_regkit
from keras_regkit import cli

# Backend-independent (NumPy / subprocess / docs): runs in the jax run only, see tests/conftest.py.
pytestmark = pytest.mark.one_backend

SUBPACKAGES = (
    "regularizers",
    "constraints",
    "layers",
    "callbacks",
    "min_diff",
    "fairness",
    "models",
    "optimizers",
    "recipes",
    "datasets",
    "wrappers",
)


def test_subpackages_exported():
    for name in SUBPACKAGES:
        module = getattr(keras_regkit, name)
        for symbol in module.__all__:
            assert hasattr(module, symbol), f"{name}.__all__ names missing {symbol}"


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_import_does_not_import_tensorflow(backend):
    code = "import sys, keras_regkit; print('tensorflow' in sys.modules)"
    env = dict(os.environ, KERAS_BACKEND=backend)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert keras_regkit.__version__ in capsys.readouterr().out


def test_cli_help(capsys):
    assert cli.main([]) == 0
    assert "keras-regkit" in capsys.readouterr().out


def test_console_script():
    exe = os.path.join(os.path.dirname(sys.executable), "keras-regkit")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "usage: keras-regkit" in out.stdout
