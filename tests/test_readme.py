"""The README stays true: its commands are what CI runs, its reference is the schema's."""

from __future__ import annotations

import re

from sim.scenario.reference import BEGIN, END, scenario_reference
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_quick_start_has_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert "tinmen run scenarios/" in commands[0] and "--backend rational" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert quick_start_commands()[1] in ci.splitlines()


def test_scenario_reference_is_current():
    between = README.split(BEGIN, 1)[1].split(END, 1)[0]
    assert between.strip() == scenario_reference().strip(), "run: tinmen schema, paste in README"
