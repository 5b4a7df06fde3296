"""pneumonia_tf: Keras 3 / TensorFlow reproduction suite for pneumonia detection on chest X-rays."""
from importlib.util import find_spec

__version__ = "0.1.0"
CLASSES = ("NORMAL", "PNEUMONIA")  # label 0, label 1

if find_spec("tensorflow") is None:  # TensorFlow is an extra: the CPU or the GPU build (setup.cfg)
    raise ImportError("pneumonia_tf needs TensorFlow, which is not installed: `make install` (CPU), `make install "
                      "GPU=1`, or pip install 'pneumonia_tf[cpu]' / 'pneumonia_tf[gpu]'")
