"""SaturationThresholdUnfreeze keeps everything the user compiled: every batch still trains after the
threshold under steps_per_execution > 1, the user's metrics and compile settings survive the
recompile, and MirroredStrategy replicas stay equal."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from pneumonia_tf.callbacks import SaturationThresholdUnfreeze
from pneumonia_tf.models import build
from pneumonia_tf.models.transfer import base_layers


def vgg16_tiny():
    keras.utils.set_random_seed(0)
    return build("vgg16", (32, 32, 3), weights=None, dense=8)


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 32, 32, 3)).astype("float32"), rng.integers(0, 2, n).astype("float32")


def test_every_batch_trains_after_the_threshold_with_steps_per_execution():
    """6 batches per epoch, steps_per_execution=3: the optimizer must step 6 times in every epoch."""
    model = vgg16_tiny()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", steps_per_execution=3)
    steps = []
    count = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: steps.append(int(model.optimizer.iterations.numpy())))
    model.fit(*data(), batch_size=8, epochs=4, verbose=0, shuffle=False,
              callbacks=[SaturationThresholdUnfreeze(threshold_epoch=2, learning_rate=1e-4, verbose=0), count])
    assert model.steps_per_execution == 3
    # before: 6 and 12 steps; the unfreeze starts a fresh optimizer, which then steps 6 per epoch
    assert steps == [6, 12, 6, 12]


def test_user_metrics_and_compile_settings_survive_the_unfreeze():
    model = vgg16_tiny()
    user_metrics = [keras.metrics.BinaryAccuracy(name="acc"), keras.metrics.AUC(name="roc", num_thresholds=50)]
    optimizer = keras.optimizers.SGD(learning_rate=1e-2, momentum=0.9, nesterov=True, clipnorm=0.5)
    loss = keras.losses.BinaryCrossentropy(label_smoothing=0.1)
    model.compile(optimizer=optimizer, loss=loss, loss_weights=[0.5], metrics=user_metrics,
                  jit_compile=False, run_eagerly=True, steps_per_execution=2)
    before = model.get_compile_config()
    history = model.fit(*data(32), validation_data=data(16, seed=1), batch_size=8, epochs=3, verbose=0,
                        callbacks=[SaturationThresholdUnfreeze(threshold_epoch=1, learning_rate=1e-4, verbose=0)])
    assert set(history.history) == {"loss", "acc", "roc", "val_loss", "val_acc", "val_roc"}
    assert all(len(values) == 3 for values in history.history.values())
    after = model.get_compile_config()
    for key in ("loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly", "steps_per_execution",
                "jit_compile"):
        assert after[key] == before[key], key
    assert model.run_eagerly is True and model.jit_compile is False and model.steps_per_execution == 2
    new = model.optimizer
    assert type(new) is keras.optimizers.SGD and new is not optimizer
    assert (new.momentum, new.nesterov, new.clipnorm) == (0.9, True, 0.5)
    assert float(new.learning_rate.numpy()) == pytest.approx(1e-4)
    metrics = {m.name: m for container in model.metrics for m in getattr(container, "metrics", [container])}
    assert isinstance(metrics["roc"], keras.metrics.AUC) and metrics["roc"].num_thresholds == 50
    assert all(m is not metrics[m.name] for m in user_metrics)  # fresh objects, not the old state
    assert any(layer.trainable for layer in base_layers(model))


def test_unfreeze_under_mixed_float16_keeps_loss_scaling():
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = vgg16_tiny()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        model.fit(*data(16), batch_size=8, epochs=2, verbose=0,
                  callbacks=[SaturationThresholdUnfreeze(threshold_epoch=1, learning_rate=1e-4, verbose=0)])
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert type(model.optimizer.inner_optimizer) is keras.optimizers.Adam


MIRRORED_UNFREEZE = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from pneumonia_tf.callbacks import SaturationThresholdUnfreeze
    from pneumonia_tf.models import build
    from pneumonia_tf.fit_setup import compile_model, make_optimizer
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (32, 32, 32, 3)).astype("float32"); y = rng.integers(0, 2, 32).astype("float32")
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        model = compile_model(build("vgg16", (32, 32, 3), weights=None, dense=8), make_optimizer("adam", 1e-3))
    model.fit(x, y, batch_size=8, epochs=3, verbose=0,
              callbacks=[SaturationThresholdUnfreeze(threshold_epoch=1, learning_rate=1e-3, verbose=0)])
    kernel = model.get_layer("block1_conv1").kernel.value  # the tf.Variable (a MirroredVariable here)
    replicas = [v.numpy() for v in kernel.values] if hasattr(kernel, "values") else [kernel.numpy()]
    print(len(replicas), max(float(np.abs(r - replicas[0]).max()) for r in replicas))
""")


@pytest.mark.slow  # 40-150 s on 2 cores: with the slow tests, to keep the default run under 10 minutes
def test_replicas_agree_after_the_unfreeze_under_mirrored_strategy():
    result = subprocess.run([sys.executable, "-c", MIRRORED_UNFREEZE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    replicas, difference = result.stdout.split()[-2:]
    assert int(replicas) == 2
    assert float(difference) == 0.0


MIRRORED_METRIC_KINDS = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from pneumonia_tf.callbacks import SaturationThresholdUnfreeze
    from pneumonia_tf.models import build
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (32, 32, 32, 3)).astype("float32"); y = rng.integers(0, 2, 32).astype("float32")
    strategy = tf.distribute.MirroredStrategy()
    for kind, metrics in [("string", ["accuracy"]), ("function", [keras.metrics.binary_accuracy]),
                          ("object", [keras.metrics.AUC(name="auc")]), ("dict", {"probability": ["accuracy"]})]:
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = build("vgg16", (32, 32, 3), weights=None, dense=8)
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=metrics)
        unfreeze = SaturationThresholdUnfreeze(threshold_epoch=1, learning_rate=1e-3, verbose=0)
        history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_data=(x[:8], y[:8]),
                            callbacks=[unfreeze])
        metric = [k for k in history.history if k not in ("loss", "val_loss") and not k.startswith("val_")][0]
        assert unfreeze.unfrozen_at == 1 and len(history.history[metric]) == 3, (kind, history.history)
        print("ok", kind, metric, flush=True)
""")


@pytest.mark.slow
def test_the_unfreeze_under_mirrored_strategy_works_with_every_kind_of_metric():
    """Compiled with metrics given as strings, functions, objects or a dict per output, a model under
    MirroredStrategy (two logical CPUs) trains past the unfreeze (Keras used to build the string and
    function metrics inside the replica step after the recompile and fail there)."""
    result = subprocess.run([sys.executable, "-c", MIRRORED_METRIC_KINDS], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("ok")] == \
        ["string", "function", "object", "dict"]
