"""results writes report.html: one self-contained page (no network, no script, figures embedded),
rebuilt byte for byte from the same records, holding every table cell and the figures it lists."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from pneumonia_tf.results import main as results_main

FIXTURES = Path(__file__).parent / "fixtures"


def images_of(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]*)"', html)


@pytest.fixture(scope="module")
def seed000_smoke(tmp_path_factory):
    """A finished smoke reproduction of seed 000 (its paper shows Grad-CAM, so it has maps and scores)."""
    from pneumonia_tf.reproduce import reproduce
    runs = tmp_path_factory.mktemp("runs")
    reproduce("seed000", "smoke", runs=runs, verbose=0)
    return runs


@pytest.mark.slow  # 40-150 s on 2 cores: with the slow tests, to keep the default run under 10 minutes
def test_report_is_self_contained_and_holds_the_table_and_figures(seed000_smoke, tmp_path):
    assert results_main(["seed000", "--profile", "smoke", "--runs", str(seed000_smoke), "--out", str(tmp_path)]) == 0
    page = tmp_path / "seed000" / "smoke" / "report.html"
    html = page.read_text()
    assert "<script" not in html.lower() and not re.search(r'(src|href)="(https?:)?//', html)
    images = images_of(html)
    assert len(images) >= 8  # summary, curves vs paper, 4 run figures, Grad-CAM grid and overlays
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "SYNTHETIC PHANTOM DATA: NOT COMPARABLE TO ANY PAPER" in html
    table = pd.read_csv(tmp_path / "seed000" / "smoke" / "table.csv", keep_default_na=False)
    for _, row in table[table["kind"] == "cell"].iterrows():  # every number and verdict of the long table
        assert f"{row['mean']:.3f}" in html and row["verdict"].split(" (")[0] in html, row["cell"]
    assert "always PNEUMONIA" in html and "degenerate" in html
    for caption in ("training curves against the paper&#39;s endpoints", "confusion matrix at 0.5", "ROC curve",
                    "precision-recall curve", "one NORMAL and two PNEUMONIA test images", "randomization_rank_correlation",
                    "Departures and scale reductions", "Provenance", "Official splits", "Summary",
                    "The paper's claims", "test_above_validation", "Optimism gap"):
        assert caption in html, caption
    before = page.read_bytes()
    assert results_main(["seed000", "--profile", "smoke", "--runs", str(seed000_smoke), "--out", str(tmp_path)]) == 0
    assert page.read_bytes() == before  # the same records give the same file
