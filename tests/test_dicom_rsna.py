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
    df, skipped = load_rsna(make_rsna(tmp_path / "rsna"), size=32, test_fraction=0.25)
    assert skipped == {}
    assert len(df) == 8 and df["patient"].is_unique
    p0 = df.set_index("patient").loc["p0"]
    assert p0["label"] == 1 and p0["kind"] == "Lung Opacity"
    assert json.loads(p0["boxes"]) == [[0.125, 0.125, 0.25, 0.5], [0.625, 0.125, 0.25, 0.5]]
    assert json.loads(df.set_index("patient").loc["p1", "boxes"]) == []
    assert set(df["split"]) == {"train", "test"}
    assert Image.open(df["path"].iloc[0]).size == (32, 32)


def test_rsna_decodes_once_from_cache(tmp_path, monkeypatch):
    root = make_rsna(tmp_path / "rsna")
    first, _ = load_rsna(root, size=32, test_fraction=0.25)
    import pneumonia_tf.data.rsna as rsna
    monkeypatch.setattr(rsna, "read_dicom", lambda path: pytest.fail(f"decoded {path} again"))
    assert load_rsna(root, size=32, test_fraction=0.25)[0].equals(first)


def test_rsna_csv_with_missing_columns(tmp_path):
    root = make_rsna(tmp_path / "rsna")
    pd.DataFrame({"patientId": ["p0"], "Target": [1]}).to_csv(root / "stage_2_train_labels.csv", index=False)
    with pytest.raises(DataError, match="stage_2_train_labels.csv: missing column.*x, y, width, height"):
        load_rsna(root)


def test_palette_colour_applies_the_palette(tmp_path):
    """An inverting grey palette: index i shows as 255 - i. Raw indices taken for intensities would
    give the opposite image."""
    indices = gradient()
    lut = (65535 - np.arange(256) * 257).astype(np.uint16)  # 16-bit entries, grey (R = G = B)
    palette = {f"{c}PaletteColorLookupTableDescriptor": [256, 0, 16] for c in ("Red", "Green", "Blue")}
    palette.update({f"{c}PaletteColorLookupTableData": lut.tobytes() for c in ("Red", "Green", "Blue")})
    image = read_dicom(str(write_dicom(tmp_path / "palette.dcm", indices, photometric="PALETTE COLOR", **palette)))
    np.testing.assert_allclose(image, (255 - indices) / 255, atol=1e-6)


def test_rgb_decodes_to_luma(tmp_path):
    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[:, :2, 0] = pixels[:, 2:4, 1] = pixels[:, 4:, 2] = 255  # red, green, blue columns
    path = write_dicom(tmp_path / "rgb.dcm", pixels[..., 0], photometric="RGB")
    import pydicom
    ds = pydicom.dcmread(path)
    ds.SamplesPerPixel, ds.PlanarConfiguration, ds.PixelData = 3, 0, pixels.tobytes()
    ds.save_as(path)
    image = read_dicom(str(path))
    assert image.shape == (4, 6)
    np.testing.assert_allclose(image[0], [0.299, 0.299, 0.587, 0.587, 0.114, 0.114], atol=1e-6)


def test_multi_frame_grayscale_is_refused_by_name(tmp_path):
    frames = np.stack([gradient(16)] * 3)
    path = write_dicom(tmp_path / "frames.dcm", frames[0])
    import pydicom
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames, ds.PixelData = 3, frames.tobytes()
    ds.save_as(path)
    with pytest.raises(DataError, match=r"frames.dcm: multi-frame DICOM \(3 frames\)"):
        read_dicom(str(path))


@pytest.mark.parametrize("name, outcome", [
    ("CT_small.dcm", (128, 128)), ("MR_small.dcm", (64, 64)), ("examples_palette.dcm", (350, 800)),
    ("examples_rgb_color.dcm", (240, 320)), ("SC_ybr_full_422_uncompressed.dcm", (100, 100)),
    ("rtdose.dcm", "multi-frame DICOM (15 frames)"), ("emri_small.dcm", "multi-frame DICOM (10 frames)"),
    ("SC_rgb_rle_2frame.dcm", "multi-frame DICOM (2 frames)"), ("examples_ybr_color.dcm", "multi-frame DICOM (30"),
    ("MR_truncated.dcm", "cannot decode pixel data"), ("nested_priv_SQ.dcm", "cannot decode pixel data"),
    ("rtplan.dcm", "no pixel data"),
])
def test_files_shipped_with_pydicom_decode_to_one_gray_image_or_are_refused_by_name(name, outcome):
    from pydicom.data import get_testdata_file
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} does not ship with this pydicom (it is in the pydicom-data download)")
    if isinstance(outcome, tuple):
        image = read_dicom(path)
        assert image.shape == outcome and image.dtype == np.float32
        assert 0 <= image.min() and image.max() <= 1 and image.max() > image.min()
    else:
        with pytest.raises(DataError, match=f"{name}: .*{outcome}".replace("(", r"\(").replace(")", r"\)")):
            read_dicom(path)


def test_palette_file_from_pydicom_is_not_read_as_indices():
    """pydicom's palette example: the decoded image is the luma of its palette colours."""
    import pydicom
    from pydicom import examples
    from pydicom.pixels import apply_color_lut
    ds = examples.palette_color
    expected = apply_color_lut(ds.pixel_array, ds).astype(np.float64) @ [0.299, 0.587, 0.114] / 65535
    raw = ds.pixel_array.astype(np.float64)
    image = read_dicom(str(examples.get_path("palette_color")))
    np.testing.assert_allclose(image, expected, atol=1e-5)
    assert np.abs(image - (raw - raw.min()) / (raw.max() - raw.min())).max() > 0.1
    del pydicom


def test_rsna_folder_with_odd_files_loads_the_rest_and_names_them(tmp_path):
    """One multi-frame, one palette, one colour and one corrupt file among ordinary ones: the load
    finishes, decodes the palette and colour files, and skips the other two by name; --strict refuses."""
    import shutil

    from pydicom.data import get_testdata_file

    from pneumonia_tf.data.sources import load
    root = make_rsna(tmp_path / "rsna", n=12)
    images = root / "stage_2_train_images"
    shutil.copy(get_testdata_file("SC_rgb_rle_2frame.dcm", download=False), images / "p1.dcm")
    shutil.copy(get_testdata_file("examples_palette.dcm", download=False), images / "p3.dcm")
    shutil.copy(get_testdata_file("examples_rgb_color.dcm", download=False), images / "p5.dcm")
    (images / "p7.dcm").write_bytes(b"DICM but not really")
    data = load(str(root), image_size=32)
    assert set(data.skipped) == {str(images / "p1.dcm"), str(images / "p7.dcm")}
    assert "multi-frame" in data.skipped[str(images / "p1.dcm")]
    assert len(data.index) == 10 and {"p3", "p5"} <= set(data.index["patient"])
    with pytest.raises(DataError, match="p1.dcm"):
        load(str(root), image_size=32, strict=True)
