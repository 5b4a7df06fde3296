"""Learning-rate range test (Smith 2017; seed 003): raise the rate exponentially each batch, record the
loss, stop when it diverges. Writes a loss-vs-rate plot and prints a suggested rate.

python -m pneumonia_tf.lr_find --model NAME --data PATH|synthetic [--min-lr 1e-7 --max-lr 1 --steps 100] --out DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from pneumonia_tf import cli, plots
from pneumonia_tf.config import resolve
from pneumonia_tf.inputs import build_model, datasets_for
from pneumonia_tf.records import atomic_write, write_json


class LRRangeTest(keras.callbacks.Callback):
    """Set lr = min_lr * (max_lr / min_lr) ** (step / steps) before each batch; record the loss;
    stop once the smoothed loss exceeds `diverge` times its minimum."""

    def __init__(self, min_lr=1e-7, max_lr=1.0, steps=100, smoothing=0.9, diverge=4.0):
        super().__init__()
        self.min_lr, self.max_lr, self.steps, self.smoothing, self.diverge = min_lr, max_lr, steps, smoothing, diverge
        self.rates, self.losses, self._avg, self._step = [], [], 0.0, 0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.min_lr * (self.max_lr / self.min_lr) ** (self._step / self.steps)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        self._avg = self.smoothing * self._avg + (1 - self.smoothing) * float(logs["loss"])
        smoothed = self._avg / (1 - self.smoothing ** self._step)  # bias-corrected
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        self.losses.append(smoothed)
        if self._step >= self.steps or smoothed > self.diverge * min(self.losses):
            self.model.stop_training = True


def suggest(rates, losses, skip: float = 0.1, min_drop: float = 0.02) -> float:
    """The rate where the smoothed loss falls fastest (steepest slope in log-rate) between the first
    `skip` fraction of steps and the loss minimum. If the loss never falls by `min_drop` (relative),
    a tenth of the rate at the minimum."""
    rates, losses = np.asarray(rates), np.asarray(losses)
    start, stop = int(len(rates) * skip), int(np.argmin(losses)) + 1
    if stop - start < 3 or losses[start:stop].max() - losses[stop - 1] < min_drop * losses[start:stop].max():
        return float(rates[stop - 1] / 10)
    slopes = np.gradient(losses[start:stop], np.log(rates[start:stop]))
    return float(rates[start + int(np.argmin(slopes))])


def plot(rates, losses, suggestion, path):
    fig, ax = plots.plt.subplots(figsize=(6, 4))
    ax.plot(rates, losses)
    ax.axvline(suggestion, color="tab:red", linestyle="--", label=f"suggested {suggestion:.2e}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="smoothed training loss", title="LR range test")
    ax.legend()
    return plots.save(fig, path)


@cli.entry_point
def main(argv) -> int:
    from pneumonia_tf.fit_setup import compile_model, optimizer_from_config

    parser = cli.make_parser("python -m pneumonia_tf.lr_find", __doc__)
    parser.add_argument("--model", default="model1")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--min-lr", type=float, default=1e-7)
    parser.add_argument("--max-lr", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    config = resolve(dict(model=args.model, data=args.data, image_size=args.image_size, batch_size=args.batch_size,
                          seed=args.seed, optimizer=args.optimizer, learning_rate=args.min_lr,
                          weights=None if args.weights == "none" else args.weights))
    keras.utils.set_random_seed(args.seed)
    train_ds = datasets_for(config).train
    model = compile_model(build_model(config), optimizer_from_config(config))
    finder = LRRangeTest(args.min_lr, args.max_lr, args.steps)
    model.fit(train_ds.repeat(), steps_per_epoch=args.steps, epochs=1, callbacks=[finder], shuffle=False)
    suggestion = suggest(finder.rates, finder.losses)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "lr_find.csv", pd.DataFrame({"learning_rate": finder.rates,
                                                         "smoothed_loss": finder.losses}).to_csv(index=False))
    plot(finder.rates, finder.losses, suggestion, args.out / "lr_find.png")
    write_json(args.out / "lr_find.json", {"suggested_learning_rate": suggestion, "config": config})
    print(f"suggested learning rate: {suggestion:.2e}  (plot: {args.out / 'lr_find.png'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
