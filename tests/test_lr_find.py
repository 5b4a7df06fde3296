"""LR range test: the schedule, divergence stop, and the suggestion."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from pneumonia_tf.lr_find import LRRangeTest, suggest


def test_suggestion_is_the_steepest_descent_before_the_minimum():
    rates = np.logspace(-6, 0, 121)
    x = np.log10(rates)
    losses = 0.7 - 0.5 / (1 + np.exp(-(x + 3) * 3)) + np.where(x > -1, (x + 1) ** 2 * 5, 0)  # falls at 1e-3
    assert suggest(rates, losses) == pytest.approx(1e-3, rel=0.15)
    flat = np.full(121, 0.69) + np.random.default_rng(0).normal(0, 1e-4, 121)
    assert suggest(rates, flat) == pytest.approx(rates[np.argmin(flat)] / 10)


def test_range_test_raises_the_rate_exponentially_and_stops_on_divergence():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1e-6), "mse")
    x = np.random.default_rng(0).normal(size=(512, 4)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5, 3.0], "float32")
    finder = LRRangeTest(min_lr=1e-4, max_lr=100.0, steps=60)
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[finder], verbose=0)
    ratios = np.diff(np.log(finder.rates))
    np.testing.assert_allclose(ratios, np.log(1e6) / 60, rtol=1e-4)
    assert len(finder.rates) < 60  # diverged before the end (SGD on mse explodes at large rates)
    assert 1e-3 < suggest(finder.rates, finder.losses) < 1.0
