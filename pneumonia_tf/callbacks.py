"""Training callbacks that Keras does not ship: the saturation-threshold unfreeze, a step decay, and
early stopping that survives a restart."""
from __future__ import annotations

import logging
from pathlib import Path

import keras
import pandas as pd

from pneumonia_tf.keras_compat import build_compile_state
from pneumonia_tf.models.transfer import set_base_trainable


class SaturationThresholdUnfreeze(keras.callbacks.Callback):
    """Keep the pretrained base frozen until `threshold_epoch` (0-based), then unfreeze it (all of it,
    or its `last` layers) and continue at `learning_rate` (seed 002; also seed 003's two-stage
    fine-tuning: stage 1 trains the head, stage 2 everything at a lower rate).

    Keras 3 trap: flipping `trainable` inside fit changes nothing, because the optimizer and the traced
    train function hold the old variable list. So this recompiles from the model's own compile config
    (`get_compile_config` / `compile_from_config`, the mechanism Keras uses when loading a model): the
    loss, loss weights, metrics (fresh objects of the same kinds and names, so history keys stay
    stable), steps_per_execution, jit_compile and run_eagerly are the ones the user compiled with, and
    the optimizer is a fresh one of the same kind and settings at the new learning rate. It runs in
    the model's distribution strategy scope, so a MirroredStrategy's replicas stay in step.
    On resume past the threshold, call unfreeze() before fit (pneumonia_tf.train does).
    """

    def __init__(self, threshold_epoch: int = 10, learning_rate: float = 1e-5, last: int | None = None,
                 keep_batch_norm_frozen: bool = True, verbose: int = 1):
        super().__init__()
        self.threshold_epoch, self.learning_rate, self.last = threshold_epoch, learning_rate, last
        self.keep_batch_norm_frozen, self.verbose = keep_batch_norm_frozen, verbose
        self.unfrozen_at = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.unfrozen_at is None and epoch >= self.threshold_epoch:
            self.unfreeze(epoch)

    def unfreeze(self, epoch: int) -> None:
        """Unfreeze the base and recompile now. Called before fit when resuming past the threshold, so
        that BackupAndRestore restores the unfrozen optimizer's state (moments, step, learning rate)."""
        model = self.model
        set_base_trainable(model, True, last=self.last, keep_batch_norm_frozen=self.keep_batch_norm_frozen)
        with model.distribute_strategy.scope():
            model.compile_from_config(model.get_compile_config())  # also builds the new optimizer
            model.optimizer.learning_rate = self.learning_rate
            build_compile_state(model)  # string / function metrics, built here and not inside the replica step
        model.make_train_function(force=True)
        model.make_test_function(force=True)
        self.unfrozen_at = epoch
        if self.verbose:
            logging.getLogger(__name__).info(
                f"SaturationThresholdUnfreeze: epoch {epoch + 1}: base unfrozen "
                f"({len(model.trainable_weights)} trainable tensors), learning rate {self.learning_rate:g}")


class AtFitEnd(keras.callbacks.Callback):
    """Call `finish(model)` when fit ends. Placed before BackupAndRestore, whose on_train_end deletes
    the backup, it makes the end of training durable before the backup is gone: `finish` saves what
    training produced and a marker, so a run killed later (evaluation, figures) never trains again."""

    def __init__(self, finish):
        super().__init__()
        self.finish = finish

    def on_train_end(self, logs=None):
        self.finish(self.model)


def step_decay(factor: float = 0.1, every: int = 10) -> keras.callbacks.LearningRateScheduler:
    """Multiply the learning rate by `factor` every `every` epochs (seed 002: x0.1 every 10). Relative
    to the current rate, so it composes with the unfreeze callback's new rate."""
    return keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: lr * factor if epoch > 0 and epoch % every == 0 else lr)


def read_history(path: Path):
    """The epochs a CSVLogger file holds (last row per epoch), or None when there are none yet: no
    file, or the empty file CSVLogger creates when fit begins (it may run before the reader does)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    return pd.read_csv(path).drop_duplicates("epoch", keep="last")


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping whose patience survives a restart. Keras resets the best value and the epochs waited
    when fit begins; this takes both from the run's history CSV (CSVLogger's file), so a run killed and
    resumed stops at the same epoch as one that was never interrupted. With start_from_epoch (Keras's
    own argument), epochs before it are neither watched nor counted, here as in Keras."""

    def __init__(self, history_csv: str | Path, **kwargs):
        super().__init__(**kwargs)
        if self.mode not in ("min", "max"):
            raise ValueError(f"ResumableEarlyStopping needs mode 'min' or 'max', got {self.mode!r}")
        self.history_csv = Path(history_csv)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        history = read_history(self.history_csv)
        if history is None:
            return
        history = history[history["epoch"] >= self.start_from_epoch]
        values = history[self.monitor].to_numpy()
        if len(values):
            best = int(values.argmax() if self.mode == "max" else values.argmin())
            self.best, self.wait = float(values[best]), len(values) - 1 - best
            self.best_epoch = int(history["epoch"].iloc[best])
