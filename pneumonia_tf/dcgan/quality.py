"""How good are generated images? Seed 004 judged by eye; these are numbers.

All measures work in the feature space of one of this project's classifiers (the layer before its
logit). This is NOT FID: no Inception weights can be downloaded here, so the Frechet distance is
labelled with the feature space it was computed in.
"""
from __future__ import annotations

import keras
import numpy as np
from scipy import linalg
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import pairwise_distances, roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pneumonia_tf.keras_compat import model_input

COLLAPSE_RATIO = 0.5  # generated diversity below half of the real one: mode-collapse warning


def feature_extractor(model: keras.Model, normalize, image_size: int, channels: int):
    """images (N, S, S, C) in [0, 255] -> (N, D) features from the layer before the model's logit."""
    features = keras.Model(model_input(model), model.get_layer("logit").input)

    def extract(images: np.ndarray) -> np.ndarray:
        x = keras.ops.image.resize(images.astype("float32"), (image_size, image_size))
        if x.shape[-1] != channels:
            x = keras.ops.repeat(keras.ops.mean(x, axis=-1, keepdims=True), channels, axis=-1)
        out = [features.predict(normalize(x[i:i + 128]), verbose=0) for i in range(0, len(images), 128)]
        return np.concatenate(out).astype(np.float64)
    return extract


def diversity(features: np.ndarray, limit: int = 500, seed: int = 0) -> float:
    """Mean pairwise Euclidean distance (on up to `limit` samples)."""
    pick = np.random.default_rng(seed).permutation(len(features))[:limit]
    d = pairwise_distances(features[pick])
    return float(d[np.triu_indices(len(pick), 1)].mean())


def two_sample_accuracy(real: np.ndarray, generated: np.ndarray, seed: int = 0) -> float:
    """5-fold cross-validated accuracy of a logistic regression telling real from generated (0.5 is best)."""
    n = min(len(real), len(generated))
    x = np.concatenate([real[:n], generated[:n]])
    y = np.r_[np.ones(n), np.zeros(n)]
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    return float(cross_val_score(classifier, x, y, cv=5).mean())


def frechet_distance(real: np.ndarray, generated: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)); eps * I is added to both covariances so
    that fewer samples than feature dimensions still give a square root."""
    mu_r, mu_g = real.mean(axis=0), generated.mean(axis=0)
    ridge = eps * np.eye(real.shape[1])
    s_r, s_g = np.cov(real, rowvar=False) + ridge, np.cov(generated, rowvar=False) + ridge
    root = linalg.sqrtm(s_r @ s_g)
    return float(np.sum((mu_r - mu_g) ** 2) + np.trace(s_r + s_g - 2 * np.real(root)))


def train_synthetic_test_real(gen_features, gen_labels, real_features, real_labels, seed: int = 0) -> float:
    """ROC AUC on real images of a logistic regression trained on generated images only (TSTR)."""
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    classifier.fit(gen_features, gen_labels)
    return float(roc_auc_score(real_labels, classifier.predict_proba(real_features)[:, 1]))


def report(real: np.ndarray, generated: np.ndarray, feature_space: str) -> dict:
    """Quality of generated features against real features (both (N, D))."""
    real_div, gen_div = diversity(real), diversity(generated)
    ratio = gen_div / real_div if real_div else float("nan")
    return {"feature_space": feature_space, "diversity_real": real_div, "diversity_generated": gen_div,
            "diversity_ratio": ratio, "mode_collapse_warning": bool(ratio < COLLAPSE_RATIO),
            "two_sample_accuracy": two_sample_accuracy(real, generated),
            "frechet_distance": frechet_distance(real, generated)}
