"""Decode one DICOM to a grayscale float image in [0, 1] with pydicom, or refuse it by name.

Grayscale (MONOCHROME1/2), DICOM PS3.3 C.11: stored values -> modality LUT (RescaleSlope/Intercept
or LUT) -> VOI LUT, or the first WindowCenter/WindowWidth -> [0, 1] -> MONOCHROME1 inverted so bright
is always dense. Without a VOI transform the full range of the image is used.
Colour (RGB, YBR_*; pydicom converts YBR to RGB) and PALETTE COLOR (the palette applied first):
luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), over the full range of the sample's bit depth.
Frames: one radiograph per file. A file with more than one frame is refused, never averaged or
cut to one frame, because no frame is 'the' image of a multi-frame series.
Compressed transfer syntaxes are decoded by pydicom's handlers (pylibjpeg and its plugins, or Pillow).
Every failure is a DataError naming the file and the reason, so one odd file never ends a load.
"""
from __future__ import annotations

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

from pneumonia_tf.data.index import DataError

GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420", "YBR_PARTIAL_422")
LUMA = np.array([0.299, 0.587, 0.114])


def read_dicom(path: str) -> np.ndarray:
    """(H, W) float32 in [0, 1]; DataError for anything that is not one decodable 2-D image."""
    try:
        ds = pydicom.dcmread(path)
    except Exception as error:  # pydicom raises many kinds for malformed files
        raise DataError(f"{path}: not a readable DICOM file ({type(error).__name__}: {error})") from None
    if "PixelData" not in ds:
        raise DataError(f"{path}: DICOM has no pixel data (PixelData element missing)")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric not in (*GRAYSCALE, *COLOUR, "PALETTE COLOR"):
        raise DataError(f"{path}: unsupported PhotometricInterpretation {photometric!r}")
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        raise DataError(f"{path}: invalid NumberOfFrames {ds.get('NumberOfFrames')!r}") from None
    if frames != 1:
        raise DataError(f"{path}: multi-frame DICOM ({frames} frames); one radiograph per file is expected")
    try:
        stored = ds.pixel_array
    except Exception as error:  # handlers raise RuntimeError, ValueError, AttributeError, NotImplementedError...
        syntax = getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "unknown")
        raise DataError(f"{path}: cannot decode pixel data with transfer syntax {syntax} "
                        f"({type(error).__name__}: {error})") from None
    expected = 2 if photometric in (*GRAYSCALE, "PALETTE COLOR") else 3
    if stored.ndim != expected:
        raise DataError(f"{path}: {photometric} pixel data of shape {stored.shape}, expected {expected} axes")
    if photometric == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(stored, ds)
        except Exception as error:
            raise DataError(f"{path}: cannot apply its palette ({type(error).__name__}: {error})") from None
        return _luma(rgb, np.iinfo(rgb.dtype).max)
    if photometric in COLOUR:
        return _luma(stored, 2 ** int(ds.get("BitsStored", 8)) - 1)
    return _grayscale(stored, ds)


def _luma(rgb: np.ndarray, full_scale: float) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W) float32 luma in [0, 1]."""
    return np.clip(rgb.astype(np.float64) @ LUMA / full_scale, 0, 1).astype(np.float32)


def _grayscale(stored: np.ndarray, ds) -> np.ndarray:
    values = apply_modality_lut(stored, ds).astype(np.float64)
    if "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds).astype(np.float64)
        low, high = values.min(), values.max()
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        center = float(np.atleast_1d(ds.WindowCenter)[0])
        width = float(np.atleast_1d(ds.WindowWidth)[0])
        low, high = center - width / 2, center + width / 2
    else:
        low, high = values.min(), values.max()
    image = np.clip((values - low) / (high - low), 0, 1) if high > low else np.zeros_like(values)
    if ds.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        image = 1.0 - image
    return image.astype(np.float32)
