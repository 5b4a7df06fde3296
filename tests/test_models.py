"""Every model builds, outputs (N, 1), and the Table-1 CNNs have the parameter counts their
architecture implies (counted here by hand from the table, not by Keras)."""
from __future__ import annotations

import numpy as np
import pytest

from pneumonia_tf.models import MODELS, build
from pneumonia_tf.models.cnn import TABLE1
from pneumonia_tf.models.registry import imagenet_models
from pneumonia_tf.models.transfer import base_layers, set_base_trainable

# At 128x128x3: conv (9*c_in + 1)*c_out, batch norm 4*c, dense (n_in + 1)*n_out, flatten of 16x16xC.
STATED_PARAMS_128 = {"model1": 4_287_809, "model2": 4_287_809, "model3": 4_288_705,
                     "model4": 4_302_337, "model5": 4_302_337, "model6": 17_148_545}


def expected_params(spec: dict, size: int, channels: int) -> int:
    total, c_in = 0, channels
    for block in spec["blocks"]:
        for c_out in block:
            total += (9 * c_in + 1) * c_out + (4 * c_out if spec["batch_norm"] else 0)
            c_in = c_out
    flat = (size // 2 ** len(spec["blocks"])) ** 2 * c_in
    return total + (flat + 1) * spec["dense"] + spec["dense"] + 1


@pytest.mark.parametrize("name", TABLE1)
def test_table1_parameter_counts(name):
    model = build(name, (128, 128, 3))
    assert model.count_params() == expected_params(TABLE1[name], 128, 3) == STATED_PARAMS_128[name]
    assert model.get_layer("last_conv").output.shape[-1] == TABLE1[name]["blocks"][-1][-1]
    regularized = [layer.kernel_regularizer is not None for layer in model.layers if hasattr(layer, "kernel_regularizer")
                   and layer.name != "logit"]
    assert all(regularized) == (TABLE1[name]["l1"] > 0)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_builds_and_outputs_n_by_1(name):
    channels = 1 if name == "resnet18_1ch" else 3
    options = {"weights": None} if name in imagenet_models() else {}
    model = build(name, (64, 64, channels), **options)
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, channels)).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == (2, 1) and ((0 <= y) & (y <= 1)).all()
    assert model.get_layer("logit").output.shape == (None, 1)


def test_transfer_graph_is_flat_and_freezing_keeps_batch_norm_frozen():
    model = build("resnet50v2", (64, 64, 3), weights=None)
    assert not any(hasattr(layer, "layers") for layer in model.layers)  # no nested base model
    assert model.get_layer("post_relu") is not None  # inner conv layers reachable by name
    head = {w.path for w in model.trainable_weights}
    assert head and all(p.startswith(("head_", "logit")) for p in head)
    set_base_trainable(model, True)
    bn = [layer for layer in base_layers(model) if layer.__class__.__name__ == "BatchNormalization"]
    assert bn and not any(layer.trainable for layer in bn)
    assert any(layer.trainable for layer in base_layers(model))
    set_base_trainable(model, True, last=5, keep_batch_norm_frozen=False)
    assert sum(layer.trainable for layer in base_layers(model)) == 5


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'model9'"):
        build("model9", (32, 32, 3))
