"""The replication notebook runs top to bottom on a small rational-backend run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import nbformat
import pytest
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


def make_run(out, scenario: str, *extra: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "cli", "run", scenario, "--out", str(out),
                           "--quiet", *extra], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def project_copy(tmp_path):
    """A project tree like a checkout: pyproject.toml, scenarios/, the notebook in its folder."""
    root = tmp_path / "project"
    (root / "scenarios").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'tinmen'\n")
    folder = root / "analysis" / "notebooks"
    folder.mkdir(parents=True)
    return root, folder


def execute(notebook_path, cwd, monkeypatch, run_env: str | None = None):
    monkeypatch.delenv("TINMEN_RUN", raising=False)
    if run_env is not None:
        monkeypatch.setenv("TINMEN_RUN", run_env)
    monkeypatch.setenv("TINMEN_BOOTSTRAP", "100")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    notebook = nbformat.read(notebook_path, as_version=4)
    # "python3" resolves to this interpreter (jupyter_client maps a kernelspec's "python")
    client = NotebookClient(notebook, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    tables = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return images, tables, text


@pytest.mark.parametrize("where", ["project root", "notebook folder"])
def test_notebook_finds_the_default_run_from_the_root_or_its_folder(tmp_path, monkeypatch,
                                                                    where):
    root, folder = project_copy(tmp_path)
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    make_run(root / "runs" / "tin_men", "scenarios/tin_men.yaml", "--set", "run.seed=5")
    images, tables, text = execute(folder / NOTEBOOK.name,
                                   root if where == "project root" else folder, monkeypatch)
    # rates, outcome shares, agency loss, override probability (the rational backend records
    # choice probabilities), published comparison; no per-tick plot for one tick
    assert len(images) == 6 - 1
    assert any("expected_override" in t and "override_rate" in t for t in tables)
    assert "a single tick: no per-tick series" in text
    assert any("customer_group" in t and "override_rate" in t for t in tables)
    assert any("published_model" in t for t in tables)
    assert str(root / "runs" / "tin_men") in text


def test_notebook_runs_on_a_multi_tick_market_without_the_published_comparison(
        tmp_path, monkeypatch):
    root, folder = project_copy(tmp_path)
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    make_run(root / "runs" / "market", "scenarios/online_shopping.yaml", "--backend",
             "rational", "--set", "run.ticks=3")
    images, tables, text = execute(folder / NOTEBOOK.name, folder, monkeypatch,
                                   run_env="runs/market")
    assert "not a run of the tin_men design: no published comparison" in text
    assert "a single tick" not in text
    assert not any("published_model" in t for t in tables)
    assert len(images) >= 4  # outcome shares, agency loss, override probability, per tick
    assert "no decision in this run carries choice probabilities" not in text
