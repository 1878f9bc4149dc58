"""Help texts: commands in the order a user meets them, descriptions, the fake server's flags."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cli.main import build_parser
from tests.conftest import REPO


def test_commands_are_listed_in_the_order_a_user_meets_them(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    positions = [text.index(f"    {name} ") for name in
                 ("validate", "run", "sweep", "report", "schema")]
    assert positions == sorted(positions)


@pytest.mark.parametrize("command", ["run", "validate"])
def test_run_and_validate_have_a_description(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    usage, _, rest = capsys.readouterr().out.partition("\n\n")
    description = rest.split("\n\n")[0]
    assert not description.startswith(("positional", "options")) and len(description) > 40


def test_fake_server_help_documents_latency_and_slots():
    proc = subprocess.run([sys.executable, "-m", "agents.fake_server", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()
             if line.strip().startswith("--")}
    assert "millisecond" in lines["--latency-ms"] and "at once" in lines["--slots"]
