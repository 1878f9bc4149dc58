"""Progress inside an hf tick: one report per micro-batch, shown on the run's progress bar;
transformers' own loading bar stays hidden."""

from __future__ import annotations

from agents.backends.options import BackendOptions
from agents.backends.progress import answer_progress, report_answered
from tests.conftest import make_request, mini_scenario


def test_reports_reach_listeners_only_inside_the_block():
    seen: list[int] = []
    report_answered(5)
    with answer_progress(seen.append):
        report_answered(2)
        report_answered(3)
    report_answered(7)
    assert seen == [2, 3]


def test_hf_reports_each_micro_batch_and_hides_the_loading_bar(tiny_lm, capfd):
    from agents.backends.hf_local import HFBackend

    capfd.readouterr()
    backend = HFBackend(str(tiny_lm), options=BackendOptions(micro_batch_size=2))
    loading = capfd.readouterr().err
    assert "Loading weights" not in loading
    import transformers

    assert transformers.utils.logging.is_progress_bar_enabled()  # restored afterwards
    seen: list[int] = []
    requests = [make_request(seed, max_tokens=4) for seed in range(5)]
    with answer_progress(seen.append):
        answers = backend.generate(requests)
    backend.close()
    assert len(answers) == 5 and seen == [2, 2, 1]


class RecordingBar:
    """Stands in for the tqdm bar: keeps every postfix shown."""

    def __init__(self) -> None:
        self.postfixes: list[str] = []

    def set_postfix_str(self, text: str) -> None:
        self.postfixes.append(text)

    def set_postfix(self, **_: object) -> None:
        pass

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_one_tick_hf_run_shows_progress_inside_the_tick(tiny_lm, tmp_path, monkeypatch):
    import sim.engine.run as engine_run
    from sim.scenario.loader import validate_scenario

    bar = RecordingBar()
    monkeypatch.setattr(engine_run, "_progress_bar", lambda total, enabled: bar)
    data = mini_scenario(run={"ticks": 1, "seed": 7})
    data["agents"][0].update(backend="hf", model=str(tiny_lm),
                             sampling={"max_tokens": 4, "temperature": 1.0},
                             backend_options={"micro_batch_size": 5, "retry_invalid": 0})
    engine_run.run_scenario(validate_scenario(data, "t"), tmp_path / "run")
    assert bar.postfixes == ["tick 1: 5/12 answered", "tick 1: 10/12 answered",
                             "tick 1: 12/12 answered"]
