"""Class activation maps for every model here: Grad-CAM, Grad-CAM++, HiResCAM, LayerCAM, Score-CAM
and CAM on one base (base.py: sub-model, target, batching, mixed precision, upsampling,
normalization; methods.py: each method's weighting), their checks (checks.py, road.py), the shortcut
audit (shortcut.py), and what reproduce and the command line make of a run (explain.py).

maps(model, images, "layercam") -> (N, H, W) in [0, 1] at the input size; gradients of the LOGIT
(pre-sigmoid), negated for target NORMAL.
"""
from __future__ import annotations

from pneumonia_tf.cam.base import conv_and_logit, find_conv_layer  # noqa: F401
from pneumonia_tf.cam.methods import METHODS, maps


def _method_function(name: str):
    def explain(model, images, layer=None, target="predicted", batch_size: int = 32):
        return maps(model, images, name, layer, target, batch_size)
    explain.__name__ = explain.__qualname__ = name
    explain.__doc__ = (f"{name} maps (N, H, W) in [0, 1] for images (N, H, W, C) as the model takes them; "
                       "target \"predicted\", \"PNEUMONIA\"/1 or \"NORMAL\"/0 (pneumonia_tf.cam.methods).")
    return explain


gradcam, gradcam_plus_plus, hirescam, layercam, scorecam = map(
    _method_function, ("gradcam", "gradcam_plus_plus", "hirescam", "layercam", "scorecam"))


def cam(model, images, target="predicted", batch_size: int = 32):
    """CAM maps (N, H, W) in [0, 1] for global-average-pooling nets (resnet18_1ch)."""
    return maps(model, images, "cam", None, target, batch_size)


__all__ = ["METHODS", "maps", "gradcam", "gradcam_plus_plus", "hirescam", "layercam", "scorecam", "cam",
           "conv_and_logit", "find_conv_layer"]
