"""pneumonia_tf: Keras 3 / TensorFlow reproduction suite for pneumonia detection on chest X-rays."""

__version__ = "0.1.0"
CLASSES = ("NORMAL", "PNEUMONIA")  # label 0, label 1
