"""The replication notebook runs top to bottom on a small rational-backend run."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOK = REPO / "analysis" / "notebooks" / "tin_men_replication.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    text = " ".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    for metric in ("override rate", "sided-with-company rate", "agency loss", "invalid rate",
                   "company gain", "observation gap", "refusal rate"):
        assert metric in text.lower() or metric in text


def test_notebook_executes_on_a_fresh_run(tmp_path, monkeypatch):
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", "scenarios/tin_men.yaml",
                           "--out", str(run), "--quiet", "--set", "run.seed=5"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    monkeypatch.setenv("TINMEN_RUN", str(run))
    monkeypatch.setenv("TINMEN_BOOTSTRAP", "200")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # "python3" resolves to this interpreter (jupyter_client maps a kernelspec's "python")
    client = NotebookClient(notebook, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 5  # rates, agency loss, override probability, published, per tick
    tables = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("customer_group" in t and "override_rate" in t for t in tables)
    assert any("published_model" in t for t in tables)
    assert any(str(run.name) in t for t in tables)  # the runs table names the loaded run
