"""Non-finite, boolean, out-of-range and control-character inputs are refused at validation.

Each case goes through `tinmen validate` and `tinmen run` (in process): one line, exit 2.
"""

from __future__ import annotations

import pytest

from cli.main import main
from tests.conftest import mini_scenario

BAD_SETTINGS = [
    ("customers.0.budget=.nan", "customers.0.budget"),
    ("customers.0.budget=.inf", "customers.0.budget"),
    ("customers.0.budget=-5", "customers.0.budget"),
    ("customers.0.budget=0", "customers.0.budget"),
    ("products.0.price=.inf", "products.0.price"),
    ("products.0.margins.oil=.nan", "products.0.margins.oil"),
    ("companies.0.utility.margin_weight=.nan", "companies.0.utility.margin_weight"),
    ("customers.0.attribute_weights={electric: .inf}", "customers.0.attribute_weights"),
    ("customers.0.price_weight=.inf", "customers.0.price_weight"),
    ("customers.0.budget={dist: lognormal, median: .inf, sigma: 1}", "customers.0.budget"),
    ("customers.0.budget={dist: uniform, low: .nan, high: .nan}", "customers.0.budget"),
    ("customers.0.budget={dist: uniform, low: 0, high: 10}", "customers.0.budget"),
    ("dynamics={switching: {temperature: .inf}}", "dynamics.switching.temperature"),
    ("customers.0.count=true", "customers.0.count"),
    ("agents.0.count=true", "agents.0.count"),
    ("run.ticks=true", "run.ticks"),
    ("run.seed=9223372036854775808", "run.seed"),
    ("run.seed=-1", "run.seed"),
    ("agents.0.sampling.seed=9223372036854775808", "agents.0.sampling.seed"),
    ("agents.0.sampling.seed=-1", "agents.0.sampling.seed"),
    ('products.0.name="Tesla\\0Model"', "products.0.name"),
    ('companies.0.name="Petro\\e[31mCorp"', "companies.0.name"),
    ('products.0.seller_text="buy\\e[2Jme"', "products.0.seller_text"),
]


@pytest.mark.parametrize(("setting", "key"), BAD_SETTINGS)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_value_refused_in_one_line(write_yaml, tmp_path, capsys, command, setting, key):
    path = write_yaml(mini_scenario())
    argv = [command, str(path), "--set", setting]
    if command == "run":
        argv += ["--out", str(tmp_path / "run"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"error: {path}: {key}")
    assert not (tmp_path / "run").exists()


def test_largest_seed_and_multiline_text_accepted(write_yaml, capsys):
    path = write_yaml(mini_scenario())
    assert main(["validate", str(path), "--set", "run.seed=9223372036854775807",
                 "--set", 'companies.0.persona="line one\\nline two\\tend"']) == 0
    assert "ok:" in capsys.readouterr().out


OVERSIZED = [
    ("customers.0.count=1000000000", "needs"),
    ("customers.0.count=99999999999999999999999", "needs"),
    ("agents.0.count=1000000000000", "needs"),
    ('customers.0.request="I have {budget:>99999999}"', "width or precision above 1000"),
    ('customers.0.request="I have {budget:.99999999f}"', "width or precision above 1000"),
]


@pytest.mark.parametrize(("setting", "words"), OVERSIZED)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_impossible_size_refused_before_allocation(write_yaml, tmp_path, capsys, command,
                                                   setting, words):
    import tracemalloc

    path = write_yaml(mini_scenario())
    argv = [command, str(path), "--set", setting]
    if command == "run":
        argv += ["--out", str(tmp_path / "run"), "--quiet"]
    tracemalloc.start()
    try:
        code = main(argv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and words in err, err
    assert peak < 50 * 2**20, "refused before allocating the arrays"
    assert not (tmp_path / "run").exists()


def test_memory_message_says_how_much(write_yaml):
    from agents.errors import ScenarioError
    from sim.scenario.capacity import check_fits
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(write_yaml(mini_scenario()))
    check_fits(scenario, "s.yaml", available=10**9)
    with pytest.raises(ScenarioError, match=r"needs .* KiB of memory \(12 customers x 2 "
                       r"products, 1 agents\) but this machine has 1\.0 KiB available"):
        check_fits(scenario, "s.yaml", available=1024)


def test_validate_refuses_unknown_backend_like_run(write_yaml, tmp_path, capsys):
    path = write_yaml(mini_scenario())
    assert main(["validate", str(path), "--set", "agents.0.backend=rationl"]) == 2
    validate_err = capsys.readouterr().err.strip()
    assert main(["run", str(path), "--set", "agents.0.backend=rationl", "--quiet",
                 "--out", str(tmp_path / "run")]) == 2
    run_err = capsys.readouterr().err.strip()
    hint = ("unknown backend 'rationl'; available: hf, openai, rational, replay, scripted, "
            "vllm; did you mean 'rational'?")
    assert validate_err == f"error: {path}: agents.0.backend: {hint}"
    assert run_err.endswith(hint)


def test_validate_refuses_unknown_backend_in_a_sweep(tmp_path, capsys):
    from tests.sim.sweep.test_spec import write_sweep

    path = write_sweep(tmp_path, {"grid": {"agents.0.backend": ["rational", "scriptd"]}})
    assert main(["validate", str(path)]) == 2
    assert "did you mean 'scripted'?" in capsys.readouterr().err


@pytest.mark.parametrize("setting", ["agents.0.backend_options.timeout_s=.inf",
                                     "agents.0.backend_options.backoff_s=.nan"])
def test_backend_options_are_finite(write_yaml, capsys, setting):
    path = write_yaml(mini_scenario())
    assert main(["validate", str(path), "--set", setting]) == 2
    key = setting.split("=")[0]
    assert capsys.readouterr().err.startswith(f"error: {path}: {key}")
