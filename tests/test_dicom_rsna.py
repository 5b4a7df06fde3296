"""DICOM decoding (photometric, bit depth, LUTs, compression) and the RSNA source, on DICOMs written here."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, SecondaryCaptureImageStorage, generate_uid

from pneumonia_tf.data.dicom import read_dicom
from pneumonia_tf.data.index import DataError
from pneumonia_tf.data.rsna import load_rsna


def write_dicom(path, pixels: np.ndarray, photometric="MONOCHROME2", jpeg=False, **elements):
    """A minimal secondary-capture DICOM; 8- or 16-bit from pixels' dtype; extra elements as keywords."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if jpeg else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID = path.stem
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, photometric, 0
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    if jpeg:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "01"
    elif pixels is not None:
        ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def gradient(size=32, dtype=np.uint8, high=255):
    y, x = np.mgrid[0:size, 0:size]
    return ((x + 2 * y) / (3 * (size - 1)) * high).astype(dtype)


def test_monochrome1_and_monochrome2_of_same_pixels_decode_the_same(tmp_path):
    pixels = gradient()
    mono2 = read_dicom(str(write_dicom(tmp_path / "m2.dcm", pixels)))
    mono1 = read_dicom(str(write_dicom(tmp_path / "m1.dcm", 255 - pixels, photometric="MONOCHROME1")))
    assert mono2.dtype == np.float32 and mono2.shape == (32, 32)
    assert mono2.min() == 0 and mono2.max() == 1
    np.testing.assert_allclose(mono1, mono2, atol=1e-6)


def test_16_bit_with_rescale_slope_intercept_and_window(tmp_path):
    stored = gradient(dtype=np.uint16, high=4000)
    hu = stored * 0.5 - 1000.0  # modality LUT: -1000 .. 1000
    window = dict(WindowCenter=0, WindowWidth=1000)  # shows -500 .. 500 in output units
    image = read_dicom(str(write_dicom(tmp_path / "ct.dcm", stored, RescaleSlope=0.5, RescaleIntercept=-1000,
                                       **window)))
    expected = np.clip((hu + 500) / 1000, 0, 1)
    np.testing.assert_allclose(image, expected, atol=1e-6)
    no_window = read_dicom(str(write_dicom(tmp_path / "raw.dcm", stored)))
    np.testing.assert_allclose(no_window, stored / 4000, atol=1e-6)  # full range of a 16-bit image


def test_jpeg_compressed_transfer_syntax(tmp_path):
    pixels = gradient(64)
    plain = read_dicom(str(write_dicom(tmp_path / "plain.dcm", pixels)))
    compressed = read_dicom(str(write_dicom(tmp_path / "jpeg.dcm", pixels, jpeg=True)))
    assert compressed.shape == plain.shape
    assert np.abs(compressed - plain).mean() < 0.02


def test_dicom_errors_name_the_file(tmp_path):
    no_pixels = tmp_path / "nopix.dcm"
    write_dicom(no_pixels, gradient())
    import pydicom
    ds = pydicom.dcmread(no_pixels)
    del ds.PixelData
    ds.save_as(no_pixels)
    with pytest.raises(DataError, match="nopix.dcm: DICOM has no pixel data"):
        read_dicom(str(no_pixels))
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom at all")
    with pytest.raises(DataError, match="junk.dcm: not a readable DICOM"):
        read_dicom(str(junk))


def make_rsna(root, n=8):
    """n patients, half positive; patient p0 has two boxes. 64x64 images."""
    (root / "stage_2_train_images").mkdir(parents=True)
    rows, details = [], []
    for i in range(n):
        pid = f"p{i}"
        write_dicom(root / "stage_2_train_images" / f"{pid}.dcm", gradient(64))
        if i % 2 == 0:
            boxes = [(8, 8, 16, 32), (40, 8, 16, 32)] if i == 0 else [(4, 4, 8, 8)]
            rows += [dict(patientId=pid, x=x, y=y, width=w, height=h, Target=1) for x, y, w, h in boxes]
            details.append(dict(patientId=pid, **{"class": "Lung Opacity"}))
        else:
            rows.append(dict(patientId=pid, x=None, y=None, width=None, height=None, Target=0))
            details.append(dict(patientId=pid, **{"class": "Normal"}))
    pd.DataFrame(rows).to_csv(root / "stage_2_train_labels.csv", index=False)
    pd.DataFrame(details).to_csv(root / "stage_2_detailed_class_info.csv", index=False)
    return root


def test_rsna_one_example_per_patient_with_all_boxes(tmp_path):
    df = load_rsna(make_rsna(tmp_path / "rsna"), size=32, test_fraction=0.25)
    assert len(df) == 8 and df["patient"].is_unique
    p0 = df.set_index("patient").loc["p0"]
    assert p0["label"] == 1 and p0["kind"] == "Lung Opacity"
    assert json.loads(p0["boxes"]) == [[0.125, 0.125, 0.25, 0.5], [0.625, 0.125, 0.25, 0.5]]
    assert json.loads(df.set_index("patient").loc["p1", "boxes"]) == []
    assert set(df["split"]) == {"train", "test"}
    assert Image.open(df["path"].iloc[0]).size == (32, 32)


def test_rsna_decodes_once_from_cache(tmp_path, monkeypatch):
    root = make_rsna(tmp_path / "rsna")
    first = load_rsna(root, size=32, test_fraction=0.25)
    import pneumonia_tf.data.rsna as rsna
    monkeypatch.setattr(rsna, "read_dicom", lambda path: pytest.fail(f"decoded {path} again"))
    assert load_rsna(root, size=32, test_fraction=0.25).equals(first)


def test_rsna_csv_with_missing_columns(tmp_path):
    root = make_rsna(tmp_path / "rsna")
    pd.DataFrame({"patientId": ["p0"], "Target": [1]}).to_csv(root / "stage_2_train_labels.csv", index=False)
    with pytest.raises(DataError, match="stage_2_train_labels.csv: missing column.*x, y, width, height"):
        load_rsna(root)
