"""Decode one DICOM to a grayscale float image in [0, 1] with pydicom.

Order (DICOM PS3.3 C.11): stored values -> modality LUT (RescaleSlope/Intercept or LUT) -> VOI LUT,
or the first WindowCenter/WindowWidth -> [0, 1] -> MONOCHROME1 inverted so bright is always dense.
Without a VOI transform the full range of the image is used. Compressed transfer syntaxes are
decoded by pydicom's handlers (pylibjpeg and its plugins, or Pillow).
"""
from __future__ import annotations

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from pneumonia_tf.data.index import DataError


def read_dicom(path: str) -> np.ndarray:
    """(H, W) float32 in [0, 1]."""
    try:
        ds = pydicom.dcmread(path)
    except (pydicom.errors.InvalidDicomError, OSError) as error:
        raise DataError(f"{path}: not a readable DICOM file ({error})") from None
    if "PixelData" not in ds:
        raise DataError(f"{path}: DICOM has no pixel data (PixelData element missing)")
    try:
        stored = ds.pixel_array
    except (RuntimeError, NotImplementedError, ValueError) as error:
        syntax = ds.file_meta.get("TransferSyntaxUID", "unknown")
        raise DataError(f"{path}: cannot decode pixel data with transfer syntax {syntax} "
                        f"(install pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg): {error}") from None
    values = apply_modality_lut(stored, ds).astype(np.float64)
    if values.ndim == 3:  # colour: average the channels
        values = values.mean(axis=-1)
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
