"""`tinmen plan` as the README shows it."""

from __future__ import annotations

import re
import shlex

from cli.main import main
from tests.conftest import REPO, SCENARIOS


def readme_plan_usages() -> list[str]:
    """Every `tinmen plan ...` command the README writes in backticks."""
    return re.findall(r"`(tinmen plan [^`]*)`", (REPO / "README.md").read_text())


def test_the_readme_plan_command_runs_as_written(capsys):
    usages = readme_plan_usages()
    assert usages
    for usage in usages:
        argv = [SCENARIOS.joinpath("tin_men.yaml").as_posix() if word == "SCENARIO" else word
                for word in shlex.split(usage)[1:]]
        assert main(argv) == 0, usage
        assert "design:" in capsys.readouterr().out
