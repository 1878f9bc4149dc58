"""Every page of the viewer renders without an error for a run and a sweep (Streamlit's
AppTest runs the page script in process; the browser test checks what a browser shows)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the viewer extra is not installed "
                    "(pip install 'tinmen[viewer]')")

from streamlit.testing.v1 import AppTest  # noqa: E402

APP = Path(__file__).resolve().parents[2] / "analysis" / "viewer" / "app.py"


def _app(monkeypatch, path: Path) -> AppTest:
    monkeypatch.setattr(sys, "argv", [str(APP), str(path), "2", "20"])
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    return app


def _clean(app: AppTest) -> None:
    assert [e.value for e in app.exception] == []
    assert [e.value for e in app.error] == []


def test_run_pages_and_a_decision(monkeypatch, tin_men_run):
    app = _app(monkeypatch, tin_men_run)
    assert [m.label for m in app.metric][:4] == ["Status", "Ticks done", "Decisions",
                                                 "Override rate"]
    assert app.metric[2].value == "240"
    for page in ("Backend health", "Decisions", "Side by side", "Decisions"):
        app.radio[0].set_value(page).run()
        _clean(app)
    [condition] = [s for s in app.selectbox if s.label == "condition"]
    condition.set_value("company").run()
    assert any("60 decisions match" in m.value for m in app.markdown)
    [opener] = [s for s in app.selectbox if s.label == "Open a decision"]
    decision_id = opener.options[1]
    opener.set_value(decision_id).run()
    _clean(app)
    assert [h.value for h in app.subheader] == [f"Decision {decision_id}"]


def test_sweep_pages_and_drill_down(monkeypatch, small_sweep):
    app = _app(monkeypatch, small_sweep)
    _clean(app)
    for page in ("Cells", "Knob curve", "Side by side"):
        app.radio[0].set_value(page).run()
        _clean(app)
    run_id = app.sidebar.selectbox[0].options[1]
    app.sidebar.selectbox[0].set_value(run_id).run()
    _clean(app)
    assert app.title[0].value == run_id
