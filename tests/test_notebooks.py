"""Executes the notebooks in notebooks/ offline, shrunk by REGKIT_NOTEBOOK_SMOKE=1.

The kernel inherits this process's environment, so a notebook runs on the backend under test
(the notebooks only set KERAS_BACKEND when it is unset). A notebook costs a kernel start and a
dozen model compilations, so to fit CI's budget each backend run executes one notebook, and the
three backend runs of the suite execute all three (every notebook runs on every backend, by
design; run them all on the current backend with REGKIT_NOTEBOOKS=all).
"""

import os
from pathlib import Path

import keras
import nbformat
import pytest
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = {
    "tensorflow": "min_diff_fair_lending.ipynb",
    "jax": "regularization_tour.ipynb",
    "torch": "augmentation.ipynb",
}
TO_RUN = (
    sorted(NOTEBOOKS.values())
    if os.environ.get("REGKIT_NOTEBOOKS") == "all"
    else [NOTEBOOKS[keras.backend.backend()]]
)


def test_every_notebook_is_assigned_a_backend():
    assert sorted(p.name for p in FOLDER.glob("*.ipynb")) == sorted(NOTEBOOKS.values())


@pytest.mark.parametrize("name", TO_RUN)
def test_notebook_executes(name, tmp_path, monkeypatch):
    monkeypatch.setenv("REGKIT_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(FOLDER / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    # Committed notebooks carry no outputs: the repository stays small and diffs readable.
    assert not any(cell.get("outputs") for cell in code)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # files a notebook writes land here
    )
    client.execute()  # raises CellExecutionError, naming the failing cell, on any error
    assert all(cell.execution_count is not None for cell in code)
    images = [
        output for cell in code for output in cell.outputs if "image/png" in output.get("data", {})
    ]
    assert images, "the notebook's figures did not render"
