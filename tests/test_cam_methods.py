"""The CAM family on one base: each method's defining formula on a hand-built model whose right map is
worked out by hand, every method on every model family for both targets and both mixed-precision
policies, ROAD's imputation, the scorecard's checks and the shortcut audit."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from pneumonia_tf.cam import METHODS, base, maps
from pneumonia_tf.cam.checks import auprc, cascading_randomization, ssim
from pneumonia_tf.cam.methods import ScoreCAM, method
from pneumonia_tf.cam.road import baseline_maps, impute, road_curves
from pneumonia_tf.cam.shortcut import blank, border_mass, occlusion_audit, regions
from pneumonia_tf.models import build
from pneumonia_tf.models.registry import imagenet_models

GRADIENT_METHODS = [m for m in METHODS if m != "cam"]


def linear_model(seed: int = 0, activation: str | None = None) -> keras.Model:
    """8x8x1 -> one linear 3x3 conv with 3 filters ("last_conv") -> flatten -> logit -> sigmoid: the
    gradient of the logit with respect to the activations is the logit kernel, reshaped (8, 8, 3).
    (With activation "relu" that still holds: the activations are the conv layer's output.)"""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(3, 3, padding="same", activation=activation, name="last_conv")(inputs)
    logit = keras.layers.Dense(1, name="logit")(keras.layers.Flatten()(conv))
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="probability")(logit))


def finish(raw: np.ndarray) -> np.ndarray:
    raw = np.maximum(raw, 0)
    peak = raw.max(axis=(1, 2), keepdims=True)
    return np.divide(raw, peak, out=np.zeros_like(raw), where=peak > 0)


def by_hand(model: keras.Model, x: np.ndarray, name: str, sign: float) -> np.ndarray:
    """Each method's map from its formula, in numpy."""
    A = keras.Model(model.inputs, model.get_layer("last_conv").output).predict(x, verbose=0).astype(np.float64)
    G = sign * model.get_layer("logit").kernel.numpy().reshape(1, 8, 8, 3).astype(np.float64)
    G = np.broadcast_to(G, A.shape)
    if name == "gradcam":
        return finish((G.mean(axis=(1, 2), keepdims=True) * A).sum(-1))
    if name == "gradcam_plus_plus":
        alpha = np.where(G != 0, G ** 2 / (2 * G ** 2 + A.sum(axis=(1, 2), keepdims=True) * G ** 3 + 1e-7), 0)
        return finish(((alpha * np.maximum(G, 0)).sum(axis=(1, 2), keepdims=True) * A).sum(-1))
    if name == "hirescam":
        return finish((G * A).sum(-1))
    if name == "layercam":
        return finish((np.maximum(G, 0) * A).sum(-1))
    assert name == "scorecam"  # channel k: the target probability of x times A_k scaled to [0, 1]
    low, high = A.min(axis=(1, 2), keepdims=True), A.max(axis=(1, 2), keepdims=True)
    masks = np.divide(A - low, high - low, out=np.zeros_like(A), where=high > low)  # a constant channel: no mask
    scores = np.stack([model.predict(x * masks[..., k:k + 1], verbose=0)[:, 0] for k in range(3)], -1)
    scores = scores if sign > 0 else 1 - scores  # sigmoid(-logit) = 1 - sigmoid(logit), no softmax
    return finish((scores[:, None, None, :] * A).sum(-1))


@pytest.mark.parametrize("target, sign", [("PNEUMONIA", 1.0), ("NORMAL", -1.0)])
@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_each_method_is_its_defining_formula(name, target, sign):
    model = linear_model()
    x = np.random.default_rng(1).uniform(-1, 1, (4, 8, 8, 1)).astype("float32")
    expected = by_hand(model, x, name, sign)
    assert expected.max() > 0  # the test has something to compare
    np.testing.assert_allclose(maps(model, x, name, target=target), expected, atol=2e-5)


def test_the_methods_differ_where_their_formulas_do():
    """With spatially varying gradients, Grad-CAM's averaged weights, HiResCAM's element-wise product
    and LayerCAM's positive part give different maps."""
    model, x = linear_model(), np.random.default_rng(2).uniform(-1, 1, (3, 8, 8, 1)).astype("float32")
    found = {name: maps(model, x, name, target="PNEUMONIA") for name in GRADIENT_METHODS}
    for a in found:
        for b in found:
            assert a == b or not np.allclose(found[a], found[b], atol=1e-3), (a, b)


def test_scorecam_skips_only_what_adds_nothing_channels_zero_on_an_image(monkeypatch):
    """After a ReLU, a channel that is zero on an image adds nothing to its map, and Score-CAM does not
    run its masked image; the map is still the formula over every channel."""
    model = linear_model(activation="relu")
    conv = model.get_layer("last_conv")
    kernel, bias = conv.get_weights()
    kernel[..., 1], bias[1] = 0.0, 0.0  # channel 1 is zero on every image
    bias[2] = -1.0  # channel 2 is zero on some images only
    conv.set_weights([kernel, bias])
    x = np.random.default_rng(3).uniform(-1, 1, (6, 8, 8, 1)).astype("float32")
    x *= np.array([0.01, 0.01, 0.01, 4.0, 4.0, 4.0], "float32")[:, None, None, None]  # faint images: channel 2 off
    A = keras.Model(model.inputs, conv.output).predict(x, verbose=0)
    assert (A[..., 1] == 0).all() and 0 < (A[..., 2] == 0).all(axis=(1, 2)).sum() < 6
    scored, traced = [], ScoreCAM._traced

    def counting(self, model, layer, target):  # the masked images Score-CAM runs
        run, channel_scores = traced(self, model, layer, target)
        return run, lambda x, a, sign, image, channel: (scored.append(int(image.shape[0])),
                                                        channel_scores(x, a, sign, image, channel))[1]
    monkeypatch.setattr(ScoreCAM, "_traced", counting)
    for target, sign in (("PNEUMONIA", 1.0), ("NORMAL", -1.0)):
        scored.clear()
        np.testing.assert_allclose(maps(model, x, "scorecam", target=target), by_hand(model, x, "scorecam", sign),
                                   atol=2e-5)
        assert sum(scored) == (A != 0).any(axis=(1, 2)).sum() < A.shape[0] * A.shape[-1]


def test_scorecam_batched_equals_one_forward_per_channel_per_image():
    model = build("model1", (32, 32, 3))
    x = np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 3)).astype("float32")
    batched = ScoreCAM(mask_batch=256)(model, x, target="PNEUMONIA")
    loop = np.concatenate([ScoreCAM(mask_batch=1)(model, x[i:i + 1], target="PNEUMONIA") for i in range(3)])
    np.testing.assert_allclose(batched, loop, atol=1e-5)


# With Score-CAM's 512-2048 channels the ResNets and ImageNet families take 0.5-8 minutes each (measured:
# resnet18_1ch 26-30 s, vgg16 85-95 s, resnet50v2 157-165 s, densenet201 414-488 s): they run with the
# slow tests, the last two after every other slow test when CI's time is short.
FAMILIES = ["model3", *[pytest.param(name, marks=pytest.mark.slow) for name in ("resnet18_1ch", "vgg16")],
            *[pytest.param(name, marks=[pytest.mark.slow, pytest.mark.costly]) for name in ("resnet50v2", "densenet201")]]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("family", FAMILIES)
def test_every_method_on_every_family_both_targets_under_mixed_precision(family, policy):
    """Every method runs on the Table-1 CNNs, the flat transfer models and the 1-channel ResNet18, for
    both targets, on a model built under a mixed policy (maps the same with the policy still set or not,
    as seed 003 explains while it trains mixed); its maps follow the float32 model's (same
    weights): correlation at least 0.98 (measured at 64 px on these untrained nets: 0.993 or more), for
    the raw maps (before the ReLU and the normalisation) always, and for the finished maps where the
    float32 one is not all zero (an untrained net's evidence for a class can be negative everywhere:
    seen for DenseNet201's NORMAL Grad-CAM on one CPU, not on another)."""
    channels = 1 if family == "resnet18_1ch" else 3
    options = {"weights": None} if family in imagenet_models() else {}
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, channels)).astype("float32")
    keras.utils.set_random_seed(0)
    reference = build(family, (64, 64, channels), **options)
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        mixed = build(family, (64, 64, channels), **options)
        mixed.set_weights(reference.get_weights())
        while_set = maps(mixed, x, "gradcam", target="PNEUMONIA")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    np.testing.assert_allclose(maps(mixed, x, "gradcam", target="PNEUMONIA"), while_set, atol=1e-6)  # policy unset
    names = GRADIENT_METHODS + (["cam"] if family == "resnet18_1ch" else [])
    for name in names:
        for target in ("PNEUMONIA", "NORMAL"):
            raw_got, raw_expected = (method(name).raw_maps(model, x, None, target, 32) for model in (mixed, reference))
            assert np.std(raw_expected) > 0, (name, target)  # the maps vary: the comparison means something
            assert np.corrcoef(np.ravel(raw_got), np.ravel(raw_expected))[0, 1] >= 0.98, (name, target)
            got, expected = (base.finish(raw, x.shape[1:3]) for raw in (raw_got, raw_expected))  # as maps() does
            assert got.shape == (2, 64, 64) and np.isfinite(got).all() and 0 <= got.min() and got.max() <= 1
            if expected.std() > 0:
                assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] >= 0.98, (name, target)


def test_noisy_linear_imputation_fills_a_smooth_image_exactly_and_keeps_the_rest():
    y, x = np.mgrid[0:16, 0:16]
    image = np.stack([0.02 * y + 0.03 * x, 0.5 - 0.01 * x], -1).astype(np.float64)
    removed = np.zeros((16, 16), bool)
    removed[4:9, 5:12] = True
    removed[0, 0] = True  # a corner too: its neighbours all lie on one side
    filled = impute(image, removed, np.random.default_rng(0), noise=0.0)
    inside = removed.copy()
    inside[0, 0] = False
    np.testing.assert_allclose(filled[inside], image[inside], atol=1e-9)  # linear: the neighbour mean is exact
    neighbours = image[:2, :2].reshape(-1, 2)[1:]
    assert (neighbours.min(0) <= filled[0, 0]).all() and (filled[0, 0] <= neighbours.max(0)).all()
    np.testing.assert_array_equal(filled[~removed], image[~removed])
    noisy = impute(image, removed, np.random.default_rng(0))
    noise = noisy[removed] - filled[removed]  # Gaussian, 1% of the image's standard deviation
    assert noise.std() == pytest.approx(0.01 * image.std(), rel=0.3) and abs(noise.mean()) < 0.01 * image.std()


def spot_model() -> keras.Model:
    """Scores the brightness of a 6x6 spot at rows/cols 4-9 of a 16x16 image (a hand-set conv)."""
    inputs = keras.Input((16, 16, 1))
    weights = np.zeros((16, 16, 1, 1), np.float32)
    weights[4:10, 4:10] = 1 / 36
    conv = keras.layers.Conv2D(1, 16, padding="valid", use_bias=False, name="last_conv",
                               kernel_initializer=keras.initializers.Constant(weights))(inputs)
    logit = keras.layers.Dense(1, name="logit", kernel_initializer=keras.initializers.Constant(12.0),
                               bias_initializer=keras.initializers.Constant(-6.0))(keras.layers.Flatten()(conv))
    return keras.Model(inputs, keras.layers.Activation("sigmoid")(logit))


def test_road_ranks_the_true_map_above_a_random_one():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.2, (6, 16, 16, 1)).astype("float32")
    x[:, 4:10, 4:10] = 1.0
    true_map = np.zeros((6, 16, 16))
    true_map[:, 4:10, 4:10] = 1.0
    true_map += rng.uniform(0, 0.01, true_map.shape)
    model, target = spot_model(), np.ones(6, int)
    right = road_curves(model, x, true_map, target)
    wrong = road_curves(model, x, baseline_maps(true_map.shape)["random"], target)
    assert len(right["morf"]) == len(right["fractions"]) == 9
    assert right["morf_area"] < wrong["morf_area"] and right["lerf_area"] > wrong["lerf_area"]


def test_localization_and_similarity_scores_on_known_arrays():
    masks = np.zeros((2, 8, 8), bool)
    masks[:, 2:4, 2:4] = True
    perfect = masks.astype(float)
    assert auprc(perfect, masks) == pytest.approx([1.0, 1.0])
    assert ssim(perfect, perfect) == pytest.approx([1.0, 1.0], abs=1e-6)
    assert ssim(perfect, 1 - perfect).max() < 0.2


def test_cascading_randomization_moves_away_from_the_trained_maps_and_leaves_the_model():
    model = build("model1", (32, 32, 3))
    x = np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 3)).astype("float32")
    before = [w.copy() for w in model.get_weights()]
    steps = cascading_randomization(model, lambda m: maps(m, x, "gradcam", target="PNEUMONIA"), steps=3)
    assert [s["layers"] for s in steps] == sorted(s["layers"] for s in steps) and len(steps) == 3
    assert steps[0]["randomized_from"] == "logit"
    assert all(s["ssim"] < 0.99 for s in steps)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_border_mass_and_regions_hand_worked():
    parts = regions(20, 20)  # border band 2 px: 400 - 16 * 16 = 144 pixels; corners 4 * 4 = 16
    assert parts["border"].sum() == 144 and parts["corners"].sum() == 16 and parts["centre"].sum() == 14 * 14
    in_corner = np.zeros((1, 20, 20))
    in_corner[0, 0, 0] = 1.0
    result = border_mass(in_corner)
    assert result["border_mass"] == 1.0 and result["corner_mass"] == 1.0
    assert result["border_mass_uniform"] == pytest.approx(0.36) and result["corner_mass_uniform"] == pytest.approx(0.04)
    images = np.ones((2, 20, 20, 1))
    images[0, 0, 0] = 801.0
    assert blank(images, parts["border"])[1, 0, 0, 0] == pytest.approx(2.0)  # the mean of all the images


def region_reader(rows: slice, cols: slice) -> keras.Model:
    """A 'model' that reads only one region of a 20x20 image, through a fixed linear map."""
    inputs = keras.Input((20, 20, 1))
    weights = np.zeros((20, 20, 1, 1), np.float32)
    weights[rows, cols] = 1.0 / ((rows.stop - rows.start) * (cols.stop - cols.start))
    conv = keras.layers.Conv2D(1, 20, use_bias=False, kernel_initializer=keras.initializers.Constant(weights),
                               name="last_conv")(inputs)
    logit = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(8.0),
                               bias_initializer=keras.initializers.Constant(-4.0), name="logit")(
        keras.layers.Flatten()(conv))
    return keras.Model(inputs, keras.layers.Activation("sigmoid")(logit))


def test_the_occlusion_audit_flags_a_corner_marker_reader_and_not_a_lung_reader():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(40, int), np.zeros(40, int)]
    marked = rng.uniform(0, 0.3, (80, 20, 20, 1)).astype("float32")
    marked[labels == 1, :2, :2] = 1.0  # a bright marker in a corner of the PNEUMONIA images only
    audit = occlusion_audit(region_reader(slice(0, 2), slice(0, 2)), marked, labels)
    assert audit["roc_auc"] == 1.0 and audit["roc_auc_border_blanked"] < 0.8
    assert audit["verdict"].startswith("shortcut suspected") and "blanking the border" in audit["verdict"]
    lungs = rng.uniform(0, 0.3, (80, 20, 20, 1)).astype("float32")
    lungs[labels == 1, 8:12, 8:12] = 1.0  # the finding inside the lung fields
    audit = occlusion_audit(region_reader(slice(8, 12), slice(8, 12)), lungs, labels)
    assert audit["roc_auc"] == 1.0 and audit["roc_auc_centre_blanked"] < 0.75
    assert audit["verdict"] == "no shortcut found"


@pytest.mark.slow
def test_the_audit_flags_a_model_trained_on_the_marker_phantom_and_not_one_trained_on_the_clean_one(tmp_path):
    """The marker phantom's PNEUMONIA images carry a bright letter in a corner: a model trained on it
    reads the letter (blanking the border costs it its AUC), one trained on the clean phantom does not."""
    from pneumonia_tf.cam.explain import pick, run_inputs
    from pneumonia_tf.run_folder import open_run
    from pneumonia_tf.train import train
    verdicts = {}
    for data in ("synthetic-marker:60", "synthetic:60"):
        out = tmp_path / data.replace(":", "-")
        train(dict(model="model1", data=data, image_size=32, epochs=8, batch_size=16, resamples=20), out, verbose=0)
        run = open_run(out)
        rows = pick(run, "test", 40)
        audit = occlusion_audit(run.model(), run_inputs(run, rows["path"])[0], rows["label"].to_numpy())
        verdicts[data] = audit
    assert verdicts["synthetic-marker:60"]["verdict"].startswith("shortcut suspected"), verdicts
    assert verdicts["synthetic:60"]["verdict"] == "no shortcut found", verdicts


@pytest.mark.slow  # 15-45 s: Score-CAM's per-image loop runs one forward pass per channel
def test_bench_cam_prints_every_method_batched_against_its_loop(capsys):
    from pneumonia_tf.bench import main
    assert main(["cam", "--model", "model1", "--size", "16", "--images", "4", "--batch-size", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for name in GRADIENT_METHODS:
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert "per-image loop" in line and "batched" in line and line.count("maps/s") == 3, line

