"""Class activation maps: exact, meaningful (randomisation and synthetic-region checks)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from emostyle.classifier import EmotionClassifier
from emostyle.cli import app
from emostyle.emotions import EMOTIONS
from emostyle.explain import Explainer, normalise_map, overlay_on_picture
from emostyle.pipeline import Analyzer
from emostyle.training.datasets import FaceSet, Splits, one_hot

from .conftest import EXAMPLE

torch = pytest.importorskip("torch")


def region_faces(n: int, seed: int) -> FaceSet:
    """The label is written only in the top-left 16x16 cell: a bright bar whose row (1..13)
    encodes the class. Bars elsewhere are distractors carrying no label information."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    images = rng.integers(0, 80, (n, 48, 48)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 1 + 2 * c, 2:14] = 240
        for _ in range(3):
            r, col = rng.integers(0, 46), rng.integers(16, 36)
            images[i, r, col:col + 12] = 240
    return FaceSet(images, labels.astype(np.int64), one_hot(labels))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a.ravel())), np.argsort(np.argsort(b.ravel()))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module")
def trained_and_random(tmp_path_factory):
    from emostyle.training.export import export_onnx, write_card
    from emostyle.training.fit import TrainConfig, train
    from emostyle.training.model_card import classifier_card

    out = tmp_path_factory.mktemp("region")
    splits = Splits(region_faces(900, 0), region_faces(150, 1), region_faces(150, 2))
    cfg = TrainConfig(arch="vgg_small", epochs=6, batch_size=32, lr=0.05, augment="none",
                      threads=2, mean=0.2, std=0.25)
    best = train(cfg, splits, out)
    assert best["public_acc"] > 0.8, best
    from emostyle.training.export import load_run
    model, cfg = load_run(out)
    paths = {}
    for name, net in (("trained", model), ("random", type(model)().eval())):
        path = out / f"{name}.onnx"
        parity = export_onnx(net, cfg, path)
        write_card(path, classifier_card(name, cfg, path, parity))
        paths[name] = EmotionClassifier(path)
    paths["torch"] = (model, cfg)
    return paths, splits.private


def test_cam_mean_is_exactly_the_logits(trained_and_random):
    clf = trained_and_random[0]["trained"]
    x = trained_and_random[1].images[:16]
    logits, cams = clf.logits_and_cams(x)
    np.testing.assert_allclose(cams.mean((2, 3)), logits, atol=1e-4)


def test_map_peak_falls_in_the_region_that_decides_the_label(trained_and_random):
    clf = trained_and_random[0]["trained"]
    test = trained_and_random[1]
    logits, cams = clf.logits_and_cams(test.images)
    pred = logits.argmax(1)
    maps = cams[np.arange(len(pred)), pred]  # (N, 3, 3) at 48 px input
    peak_cell = maps.reshape(len(maps), -1).argmax(1)
    in_region = (peak_cell == 0).mean()  # cell 0 = top-left 16x16, where the label is
    print(f"\nsynthetic region: accuracy {(pred == test.labels).mean():.3f}, map peak in the "
          f"label's cell for {in_region:.1%} of {len(pred)} faces")
    assert (pred == test.labels).mean() > 0.8
    assert in_region > 0.8, in_region


def test_model_randomisation_check(trained_and_random):
    models, test = trained_and_random
    x = test.images[:60]
    rng = np.random.default_rng(0)
    noisy = np.clip(x.astype(int) + rng.integers(-6, 7, x.shape), 0, 255).astype(np.uint8)
    lt, ct = models["trained"].logits_and_cams(x)
    _, cn = models["trained"].logits_and_cams(noisy)
    _, cr = models["random"].logits_and_cams(x)
    k = lt.argmax(1)
    idx = np.arange(len(k))
    self_agreement = np.mean([spearman(a, b) for a, b in zip(ct[idx, k], cn[idx, k],
                                                               strict=True)])
    vs_random = np.mean([spearman(a, b) for a, b in zip(ct[idx, k], cr[idx, k], strict=True)])
    print(f"\nrandomisation: rank correlation trained vs noisy input {self_agreement:.3f}, "
          f"trained vs re-initialised weights {vs_random:.3f}")
    # State the figures in the failure message; the gap is what the check is about.
    assert self_agreement > 0.8, (self_agreement, vs_random)
    assert vs_random < self_agreement - 0.4, (self_agreement, vs_random)


def test_grad_cam_equals_the_exported_cam_for_gap_linear_heads(trained_and_random):
    from emostyle.training.fit import normalise, to_input
    from emostyle.training.gradcam import grad_cam

    models, test = trained_and_random
    model, cfg = models["torch"]
    x = test.images[:8]
    maps, logits = grad_cam(model, normalise(to_input(x, cfg), cfg))
    onnx_logits, cams = models["trained"].logits_and_cams(x)
    pred = onnx_logits.argmax(1)
    # Grad-CAM's weights are w_c / (h w): the same map as CAM without the class bias.
    bias = model.fc.bias.detach().numpy()
    expected = np.stack([normalise_map(c[k] - bias[k]) for c, k in zip(cams, pred, strict=True)])
    np.testing.assert_allclose(maps, expected, atol=1e-3)


def test_attention_rollout_on_a_transformer():
    from emostyle.training.architectures import create_model
    from emostyle.training.gradcam import attention_rollout, explain_batch

    model = create_model("hybrid_transformer")
    maps, logits = attention_rollout(model, torch.randn(3, 1, 48, 48))
    assert maps.shape[0] == 3 and maps.ndim == 3 and logits.shape == (3, 7)
    assert np.allclose(maps.reshape(3, -1).max(1), 1.0)
    up, _ = explain_batch(model, "hybrid_transformer", torch.randn(2, 1, 48, 48), 48)
    assert up.shape == (2, 48, 48)


def test_explain_the_astronaut(face_model, tmp_path):
    analyzer = Analyzer(face_model=face_model)
    if not analyzer.classifier.has_cam:
        pytest.skip("the bundled model was exported without the cam output")
    ex = Explainer(analyzer).explain(EXAMPLE)
    assert len(ex) == 1 and ex[0].emotion == "happy"
    heat = ex[0].heatmap
    assert heat.shape == (analyzer.classifier.pre.size,) * 2
    assert 0 <= heat.min() and heat.max() == pytest.approx(1, abs=0.02)
    more = Explainer(analyzer).explain(EXAMPLE, emotions=["sad", "happy"])
    assert [e.emotion for e in more] == ["sad", "happy"]
    res = CliRunner().invoke(app, ["analyze", str(EXAMPLE), "--explain", str(tmp_path)])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["astronaut_explain.jpg", "astronaut_face1_explain.png"]


def test_each_map_is_the_cam_of_the_class_asked_for(face_model):
    """The heat map of class c is channel c of the graph's cam output (run here by hand):
    not the predicted class's map, not another channel. The maps of different classes differ
    and their probabilities are the face's own."""
    import onnxruntime as ort

    analyzer = Analyzer(face_model=face_model)
    clf = analyzer.classifier
    if not clf.has_cam:
        pytest.skip("the bundled model was exported without the cam output")
    asked = ["sad", "happy", "angry", "neutral"]
    ex = Explainer(analyzer).explain(EXAMPLE, emotions=asked)
    sess = ort.InferenceSession(str(clf.model_path), providers=["CPUExecutionProvider"])
    x = ((ex[0].crop.astype(np.float32) / 255 - clf.card["input"]["mean"][0])
         / clf.card["input"]["std"][0])[None, None].astype(np.float32)
    cams = sess.run(["cam"], {sess.get_inputs()[0].name: x})[0][0]
    size = clf.pre.size
    for e in ex:
        k = EMOTIONS.index(e.emotion)
        want = np.clip(cv2.resize(normalise_map(cams[k]), (size, size),
                                  interpolation=cv2.INTER_CUBIC), 0, 1)
        np.testing.assert_allclose(e.heatmap, want, atol=1e-5, err_msg=e.emotion)
        assert e.probability == e.face.probabilities[k]
    maps = [e.heatmap for e in ex]
    assert min(np.abs(a - b).mean() for i, a in enumerate(maps) for b in maps[i + 1:]) > 0.02


def test_overlay_changes_only_the_face_area(astronaut, face_model):
    analyzer = Analyzer(face_model=face_model)
    if not analyzer.classifier.has_cam:
        pytest.skip("the bundled model was exported without the cam output")
    ex = Explainer(analyzer).explain(astronaut)
    out = overlay_on_picture(astronaut, ex)
    changed = np.abs(out.astype(int) - astronaut).sum(2) > 0
    ys, xs = np.nonzero(changed)
    x, y, w, h = ex[0].face.box
    assert xs.min() >= x - w * 0.3 and xs.max() <= x + w * 1.3
    assert ys.min() >= y - h * 0.3 and ys.max() <= y + h * 1.3


def test_normalise_map():
    m = normalise_map(np.array([[-1.0, 0.0], [1.0, 3.0]]))
    np.testing.assert_allclose(m, [[0, 0], [1 / 3, 1]])
    assert normalise_map(-np.ones((2, 2))).max() == 0
