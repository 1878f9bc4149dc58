"""Early, specific errors: bad flags in one line, sweep files given to run, misspelt keys."""

from __future__ import annotations

import pytest

from cli.main import main
from tests.conftest import REPO, mini_scenario


@pytest.mark.parametrize(("argv", "expected"), [
    (["run", "S", "--seed", "abc"],
     "error: tinmen run: argument --seed: invalid int value: 'abc'; see 'tinmen run --help'"),
    (["run", "S", "--structured-output", "regexp"],
     "did you mean 'regex'?; see 'tinmen run --help'"),
    (["validate"], "the following arguments are required: FILE; see 'tinmen validate --help'"),
    (["runn"], "did you mean 'run'?; see 'tinmen --help'"),
])
def test_bad_flag_values_print_one_line_and_point_to_help(argv, expected, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    captured = capsys.readouterr()
    assert info.value.code == 2 and captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and "usage:" not in err and expected in err


def test_run_on_a_sweep_file_says_to_use_sweep(tmp_path, capsys):
    sweep = REPO / "scenarios" / "sweeps" / "asymmetry_grid.yaml"
    assert main(["run", str(sweep), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {sweep}: this is a sweep file (it has `base:` and no "
                   f"schema_version); run it with: tinmen sweep {sweep}")
    assert not (tmp_path / "run").exists()


def test_misspelt_required_key_leads_with_did_you_mean(write_yaml, capsys):
    data = mini_scenario()
    data["customers"][0]["budjet"] = data["customers"][0].pop("budget")
    path = write_yaml(data)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: customers.0.budjet: unknown key 'budjet'")
    assert "did you mean 'budget'?" in err


def test_an_unrelated_unknown_key_does_not_hide_a_missing_one(write_yaml, capsys):
    data = mini_scenario()
    data["customers"][0].pop("budget")
    data["customers"][0]["colour"] = "red"
    path = write_yaml(data)
    assert main(["validate", str(path)]) == 2
    assert "customers.0.budget: missing required key" in capsys.readouterr().err
