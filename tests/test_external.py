"""External validation: a finished run evaluated on another data set, read the run's way, with DeLong's
unpaired test of internal against external ROC AUC; unreadable data refused in one line."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import write_image
from pneumonia_tf import stats
from pneumonia_tf.evaluate import main as evaluate_main
from pneumonia_tf.train import train
from test_dicom_rsna import make_rsna


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory):
    """A model trained on the phantom (three channels, unit normalization)."""
    out = tmp_path_factory.mktemp("run") / "run"
    train(dict(model="model1", data="synthetic:24", image_size=32, epochs=2, batch_size=8, resamples=20), out,
          verbose=0)
    return out


def test_a_phantom_model_on_an_rsna_folder_writes_its_record_predictions_and_figures(phantom_run, tmp_path, capsys):
    rsna = make_rsna(tmp_path / "rsna", n=12)
    assert evaluate_main(["--run", str(phantom_run), "--data", str(rsna), "--name", "rsna", "--split", "all",
                          "--resamples", "50"]) == 0
    out = phantom_run / "external" / "rsna"
    record = json.loads((out / "record.json").read_text())
    predictions = pd.read_csv(out / "predictions.csv")
    assert record["images"] == len(predictions) == 12 and set(predictions["split"]) == {"all"}
    assert record["classes"] == {"NORMAL": 6, "PNEUMONIA": 6}
    internal = pd.read_csv(phantom_run / "predictions.csv")
    internal = internal[internal["split"] == "test"]
    expected = stats.delong_unpaired(internal["label"], internal["score"], predictions["label"], predictions["score"])
    assert record["internal_vs_external_roc_auc"]["p"] == pytest.approx(expected["p"])
    assert "unpaired" in record["internal_vs_external_roc_auc"]["test"]
    assert record["at_0.5"]["accuracy"] == pytest.approx(((predictions["score"] >= 0.5) == predictions["label"]).mean())
    assert all((out / "figures" / name).exists() for name in ("roc.png", "pr.png", "confusion_0.5.png"))
    assert "DeLong unpaired" in capsys.readouterr().out
    assert np.isfinite(record["internal_vs_external_roc_auc"]["z"])


def test_unreadable_or_one_class_data_is_one_line(phantom_run, tmp_path, capsys):
    assert evaluate_main(["--run", str(phantom_run), "--data", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "absent" in err and "\n" not in err
    root = make_rsna(tmp_path / "one_class", n=6)
    labels = pd.read_csv(root / "stage_2_train_labels.csv").drop_duplicates("patientId")
    labels.assign(Target=0, x=None, y=None, width=None, height=None).to_csv(root / "stage_2_train_labels.csv",
                                                                           index=False)
    (root / "stage_2_detailed_class_info.csv").unlink()
    assert evaluate_main(["--run", str(phantom_run), "--data", str(root), "--split", "all"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "a class has 0 patient(s)" in err and "\n" not in err
    generated = tmp_path / "generated"  # a DCGAN folder has a train split only: nothing to test on
    for class_name in ("NORMAL", "PNEUMONIA"):
        for i in range(4):
            write_image(generated / class_name / f"gen_{i}.png", 100 + 50 * i)
    assert evaluate_main(["--run", str(phantom_run), "--data", str(generated)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no images in its test split" in err and "\n" not in err
