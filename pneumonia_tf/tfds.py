"""TensorFlow Datasets builders for the two data sets; `import pneumonia_tf.tfds` registers them.

    python -m pneumonia_tf.data tfds kermany_pneumonia --manual-dir path/to/chest_xray [--data-dir DIR]
    import pneumonia_tf.tfds, tensorflow_datasets as tfds
    tfds.builder("kermany_pneumonia").download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="path/to/chest_xray"))   # offline
    ds = tfds.load("kermany_pneumonia", split="validation")
    tfds build kermany_pneumonia --imports pneumonia_tf.tfds --manual_dir PATH
        (tensorflow-datasets 4.9's own CLI imports apache-beam when it starts: pip install apache-beam first)

kermany_pneumonia: manual_dir holds the Kermany folder (train/, test/) or its zip. Splits train,
validation and test: the official test split, and a validation split carved from the official train
split by patient exactly as the suite does (pneumonia_tf.data.sources.load, val_fraction and seed in the
builder config), so `tfds.load` gives the splits and counts of `python -m pneumonia_tf.data summary`.
Features: image (grey, full resolution, PNG), label (NORMAL / PNEUMONIA), patient, file_name.

rsna_pneumonia: manual_dir holds the RSNA folder (stage_2_train_labels.csv and stage_2_train_images/).
Images decoded from DICOM as the suite decodes them (pneumonia_tf.data.dicom), at the builder config's
image_size; label; every opacity box as a tfds.features.BBoxFeature sequence; patient. Splits as the
suite carves them: test and validation by patient.

The suite reads a prepared data set too: `--data tfds:kermany_pneumonia` (or tfds:NAME/CONFIG),
from TFDS's data_dir ($TFDS_DATA_DIR or ~/tensorflow_datasets).
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from pneumonia_tf import CLASSES
from pneumonia_tf.data.folders import load_files

SPLITS = {"train": "train", "validation": "val", "test": "test"}  # TFDS split name -> the suite's


@dataclasses.dataclass
class SplitConfig(tfds.core.BuilderConfig):
    """How the validation split is carved: `val_fraction` of the training patients, seeded."""
    val_fraction: float = 0.1
    seed: int = 0
    image_size: int = 256  # rsna_pneumonia only: the side the DICOMs are decoded to


def _suite_data(manual_dir: Path, config: SplitConfig):
    return load_files(str(manual_dir), image_size=config.image_size, val_fraction=config.val_fraction,
                      seed=config.seed, strict=False, decoded_cache=False)  # the build reads the files itself


def _grey(path: str) -> np.ndarray:
    """(H, W, 1) uint8 of an image file, full resolution."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))[..., None]


class _SuiteSplits(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Splits read from manual_dir with the suite's own loader, so they are the suite's splits."""

    def _split_generators(self, dl_manager):
        data = _suite_data(Path(dl_manager.manual_dir), self.builder_config)
        return {name: self._generate_examples(data.split(ours)) for name, ours in SPLITS.items()}


class KermanyPneumonia(_SuiteSplits):
    """Kermany et al. (2018) paediatric chest X-rays, NORMAL vs PNEUMONIA, split by patient."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Splits by patient, as pneumonia_tf carves them."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = ("Put the Kermany chest X-ray folder (train/ and test/ with NORMAL/ and "
                                    "PNEUMONIA/) or its zip in manual_dir.")
    BUILDER_CONFIGS = [SplitConfig(name="default", description="validation: 10% of training patients, seed 0")]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 1), encoding_format="png"),
                "label": tfds.features.ClassLabel(names=list(CLASSES)),
                "patient": tfds.features.Text(), "file_name": tfds.features.Text()}),
            supervised_keys=("image", "label"),
            citation="Kermany D, Zhang K, Goldbaum M (2018). Labeled Optical Coherence Tomography (OCT) and "
                     "Chest X-Ray Images for Classification. Mendeley Data, doi:10.17632/rscbjbr9sj.2")

    def _generate_examples(self, frame):
        for row in frame.itertuples():
            name = Path(row.path).name
            yield f"{row.patient}/{Path(row.path).parent.name}/{name}", {
                "image": _grey(row.path), "label": int(row.label), "patient": str(row.patient), "file_name": name}


class RsnaPneumonia(_SuiteSplits):
    """RSNA Pneumonia Detection Challenge (2018) DICOMs: label and opacity boxes, split by patient."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "DICOMs decoded as pneumonia_tf decodes them; splits by patient."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = ("Put the RSNA folder (stage_2_train_labels.csv and stage_2_train_images/*.dcm) "
                                    "in manual_dir.")
    BUILDER_CONFIGS = [SplitConfig(name="default", description="256 px; validation: 10% of training patients, seed 0")]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 1), encoding_format="png"),
                "label": tfds.features.ClassLabel(names=list(CLASSES)),
                "boxes": tfds.features.Sequence(tfds.features.BBoxFeature()),
                "patient": tfds.features.Text()}),
            supervised_keys=("image", "label"))

    def _generate_examples(self, frame):
        for row in frame.itertuples():
            boxes = [tfds.features.BBox(ymin=max(y, 0.0), xmin=max(x, 0.0), ymax=min(y + h, 1.0), xmax=min(x + w, 1.0))
                     for x, y, w, h in json.loads(row.boxes or "[]")]
            yield str(row.patient), {"image": _grey(row.path), "label": int(row.label), "boxes": boxes,
                                     "patient": str(row.patient)}


def prepared_builder(spec: str):
    """The builder of a prepared data set "NAME" or "NAME/CONFIG"; a data set not prepared yet is a
    DataError that says how to prepare it."""
    from pneumonia_tf.data.index import DataError
    try:
        builder = tfds.builder(spec, data_dir=os.environ.get("TFDS_DATA_DIR"))
    except tfds.core.registered.DatasetNotFoundError as error:
        raise DataError(f"tfds:{spec}: no such TFDS data set ({str(error).splitlines()[0]})") from None
    if not builder.is_prepared():
        raise DataError(f"tfds:{spec}: not prepared in {builder.data_dir}; prepare it offline with "
                        f"`python -m pneumonia_tf.data tfds {builder.name} --manual-dir PATH`")
    return builder


def prepare(name: str, manual_dir: Path, data_dir: Path | None = None):
    """Prepare builder `name` offline from `manual_dir`; returns the builder."""
    from pneumonia_tf.data.index import DataError
    if not Path(manual_dir).exists():
        raise DataError(f"{manual_dir}: no such file or folder")
    builder = tfds.builder(name, data_dir=str(data_dir) if data_dir else os.environ.get("TFDS_DATA_DIR"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder
