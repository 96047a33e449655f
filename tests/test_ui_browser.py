"""The MLflow UI in a real browser: a demo's parent run lists its named children and shows its Pareto figure.

The demo runs on the fake engine into a tmp store, the UI is started on loopback (optimize.tracking.ui) and
headless Chromium reads the rendered pages over the DevTools protocol (tools.screenshots.Chromium).
"""

from __future__ import annotations

import re

import pytest

from optimize.experiments.demo import DEMO_BASELINE_VERBOSITY  # noqa: E402
from tools.screenshots import (  # noqa: E402
    PREVIEW_SHOWN,
    Chromium,
    fill_fake_demo,
    find_chromium,
    find_demo_runs,
    open_page,
    running_ui,
    ui_state,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (apt-get install chromium;"
                       " CI: .ci/chromium.sh)"),
]

# What ran, in a few words: "test-only v0 (fake)", "sleep k=1 + v0 (fake)" (runner.run_label).
NAMED = re.compile(r"^(test-only v\d|sleep k=\d+( r=\d+)? (\(\w+\) )?\+ v\d)( compiled)? \(\w+\)$")


def test_a_demo_parent_run_shows_its_named_children_and_pareto_figure(tmp_path):
    mlruns = fill_fake_demo(tmp_path)
    runs = find_demo_runs(f"sqlite:///{mlruns / 'mlflow.db'}")
    names = sorted(runs.children.values())
    assert runs.parent_name == "demo-comparison"
    baseline = f"test-only v{DEMO_BASELINE_VERBOSITY} (fake)"
    assert names == ["sleep k=1 + v0 (fake)", "test-only v0 (fake)", baseline]
    assert all(NAMED.match(name) for name in names), names

    with running_ui(mlruns) as url, Chromium() as browser:
        experiment = f"experiments/{runs.experiment_id}"
        state = ui_state(runs)
        listing = open_page(browser, url, f"{experiment}/runs", state, runs.parent_name, *names, settle=0.5)
        parent_at = listing.index(runs.parent_name)
        assert all(listing.index(name) > parent_at for name in names)  # nested under their parent
        assert "trial-" not in listing and "demo-comparison-0" not in listing

        run = f"{experiment}/runs/{runs.parent_run_id}"
        overview = open_page(browser, url, run, state, "Description", "Child runs", settle=0.5)
        assert "Demo, step 1" in overview  # the parent's description
        assert all(name in overview for name in names)

        artifacts = open_page(browser, url, f"{run}/artifacts/pareto_front.png", state, "pareto_front.png",
                              "pareto_front.csv", settle=0.5)
        assert "Artifacts" in artifacts
        assert browser.wait_for(PREVIEW_SHOWN, timeout=60)  # the figure itself rendered, not a spinner
