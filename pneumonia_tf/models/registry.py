"""Every model of the suite described once, as data (in the way keras-hub keeps presets): its builder,
the options the builder applies by default and where each comes from, its input channels, its
preprocessing, the layer Grad-CAM explains and the description tables print. Everything that asks
"is this an ImageNet base", "how many channels", "which preprocess_input" or "which layer to explain"
asks here.

A source is "seed:line" where a paper states the value, or "not stated: <why ours>". tests/test_fidelity.py
checks that each builder's keyword defaults are exactly the ones listed here with a source, so a
default cannot change without its entry changing too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import keras

from pneumonia_tf.errors import UserError
from pneumonia_tf.models.cnn import TABLE1, table1_cnn
from pneumonia_tf.models.resnet18 import resnet18_1ch
from pneumonia_tf.models.transfer import transfer_model

TABLE1_SOURCE = "004:73-81 (Table 1: conv blocks, dropout rates, dense width, batch norm, L1/L2 0.001 at 004:100)"


@dataclass(frozen=True)
class ModelSpec:
    """name; family: "table1", "imagenet" or "resnet18"; builder(input_shape, **fixed, **options);
    fixed: the builder arguments this model always gets; defaults: {builder option: (default value,
    source)}; notes: {what the builder does without an option: source}; channels; preprocess: the
    ImageNet base's preprocess_input (None otherwise); gradcam_layer; description (for tables)."""
    name: str
    family: str
    builder: Callable
    defaults: dict[str, tuple[object, str]]
    channels: int
    gradcam_layer: str
    description: str
    fixed: dict = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    preprocess: Callable | None = None

    @property
    def imagenet(self) -> bool:
        return self.family == "imagenet"

    def build(self, input_shape: tuple[int, int, int], **options) -> keras.Model:
        return self.builder(input_shape=input_shape, **self.fixed, **options)


def _table1(name: str) -> ModelSpec:
    spec = TABLE1[name]
    blocks = ", ".join("-".join(map(str, block)) for block in spec["blocks"])
    regularizers = f"L1 {spec['l1']}, L2 {spec['l2']}" if spec["l1"] or spec["l2"] else "-"
    return ModelSpec(
        name, "table1", table1_cnn, fixed={"name": name}, channels=3, gradcam_layer="last_conv",
        defaults={"pooling": ("flatten", "004:175 (the final model flattens before its dense layer)")},
        notes={"architecture": TABLE1_SOURCE,
               "conv layers": "004:81: 3x3 kernels, 2x2 max pooling, ReLU, same padding, sigmoid output",
               "dropout placement": "004:69 puts dropout after convolutional and pooling layers and Table 1 gives one "
                                    "rate for the conv layers: 0.25 after each of the three pooling layers (our reading), "
                                    "0.5 after the dense layer",
               "batch-norm placement": "not stated: after each conv's ReLU (004:85 says only that models 3-5 use it)",
               "regularizer placement": "not stated (004:100 names no layers): L1/L2 on every conv kernel and on the hidden "
                                        "dense kernel (whose 4.2M weights dominate the initial penalty)",
               "channels": "004:53: ImageDataGenerator's default colour mode, three channels"},
        description=f"conv {blocks}; dense {spec['dense']}; conv dropout {spec['conv_dropout'] or '-'}; dense dropout "
                    f"{spec['dense_dropout'] or '-'}; batch norm {'yes' if spec['batch_norm'] else 'no'}; "
                    f"regularizers {regularizers}")


TRANSFER_DEFAULTS = {
    "weights": ("imagenet", "002:22, 003:47 (bases pretrained on ImageNet)"),
    "dense": (512, "002:45 (two fully connected layers of 512)"),
    "dense_layers": (2, "002:45 (two fully connected layers); seed 003 asks for 0 (003:45-47, its own ledger)"),
    "dropout": (0.5, "not stated (002:45 names dropout, not its rate): 0.5"),
    "freeze_base": (True, "002:65-69, 003:17 (the base is frozen until the threshold epoch / stage 2)"),
}
TRANSFER_NOTES = {"batch norm after the unfreeze": "not stated: kept frozen in inference mode "
                                                   "(SaturationThresholdUnfreeze keep_batch_norm_frozen=True, a config key "
                                                   "of [train].unfreeze), as keras-io's transfer-learning guide advises; "
                                                   "002 and 003 say the whole extractor trains",
                  "head": "global average pooling, then the dense layers, then the logit"}


def _imagenet(name: str, application, preprocess, layer: str, description: str) -> ModelSpec:
    return ModelSpec(name, "imagenet", transfer_model, fixed={"name": name, "application": application}, channels=3,
                     gradcam_layer=layer, defaults=TRANSFER_DEFAULTS, notes=TRANSFER_NOTES, preprocess=preprocess,
                     description=description)


SPECS: dict[str, ModelSpec] = {
    **{name: _table1(name) for name in TABLE1},
    "vgg16": _imagenet("vgg16", keras.applications.VGG16, keras.applications.vgg16.preprocess_input, "block5_conv3",
                       "ImageNet VGG16 (seed 002)"),
    "resnet50v2": _imagenet("resnet50v2", keras.applications.ResNet50V2, keras.applications.resnet_v2.preprocess_input,
                            "post_relu", "ImageNet ResNet50V2 (seed 002)"),
    "densenet201": _imagenet("densenet201", keras.applications.DenseNet201,
                             keras.applications.densenet.preprocess_input, "relu", "ImageNet DenseNet201 (seed 002)"),
    "resnet50": _imagenet("resnet50", keras.applications.ResNet50, keras.applications.resnet50.preprocess_input,
                          "conv5_block3_out", "ImageNet ResNet50 (seed 003)"),
    "resnet18_1ch": ModelSpec(
        "resnet18_1ch", "resnet18", resnet18_1ch, channels=1, gradcam_layer="last_conv",
        defaults={"width": (64, "001:362 (torchvision's resnet18: 64 filters in the first stage)")},
        notes={"input": "001:184, 001:363: one channel", "batch norm": "PyTorch's momentum 0.1 and epsilon 1e-5, as "
                                                                        "seed 001 used torchvision's ResNet18 (001:362)"},
        description="ResNet18, one input channel, global average pooling (seed 001)"),
}
MODELS = tuple(SPECS)


def spec(name: str) -> ModelSpec:
    """The spec of model `name`; an unknown name is a UserError listing the models."""
    if name not in SPECS:
        raise UserError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    return SPECS[name]


def imagenet_models() -> tuple[str, ...]:
    return tuple(name for name, s in SPECS.items() if s.imagenet)


# Defaults of the other builders a study uses, with their sources: the DCGAN (seed 004) and the
# saturation-threshold unfreeze (seeds 002 and 003). Checked the same way as the models'.
DCGAN_DEFAULTS = {
    "generator": {"width": (64, "not stated (004:128-132 give no widths): 64, the DCGAN paper's"),
                  "latent_dim": (100, "004:128 (latent vector of 100)"),
                  "channels": (1, "departure (ledger dcgan_channels): one channel"),
                  "image_size": (128, "004:120 (128x128)")},
    "discriminator": {"width": (64, "not stated (004:130): 64"), "dropout": (0.3, "not stated (004:130): 0.3"),
                      "channels": (1, "departure (ledger dcgan_channels): one channel"),
                      "image_size": (128, "004:120 (128x128)")},
}
DCGAN_NOTES = {"generator": "004:132: upsampling with strides, same padding, LeakyReLU, tanh output; not stated: batch "
                            "norm after each transposed conv, 4x4 kernels, LeakyReLU slope 0.2 (the Kaggle notebook the "
                            "paper follows, 004:134-135, and the DCGAN paper)",
               "discriminator": "004:130: convolutions with LeakyReLU, a flattened dense output with one node; not "
                                "stated: 4x4 stride-2 kernels, dropout after each, slope 0.2"}
UNFREEZE_DEFAULTS = {
    "threshold_epoch": (10, "002:69, 002:103 (the saturation threshold, epoch 10)"),
    "learning_rate": (1e-5, "not stated: 1e-5 after the threshold"),
    "last": (None, "002:65-69, 003:17 (the whole extractor is unfrozen)"),
    "keep_batch_norm_frozen": (True, TRANSFER_NOTES["batch norm after the unfreeze"]),
    "verbose": (1, "output only"),
}
