import json
import shutil

import numpy as np
import pytest

from emostyle.classifier import EmotionClassifier
from emostyle.errors import ModelNotFoundError
from emostyle.faces import FaceDetector
from emostyle.model_files import resolve_model


@pytest.fixture(scope="module")
def clf():
    return EmotionClassifier("default")


@pytest.fixture(scope="module")
def crops(clf, astronaut, face_model):
    faces = FaceDetector(face_model).detect(astronaut)
    one = clf.crops(astronaut, faces)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (3, clf.pre.size, clf.pre.size), dtype=np.uint8)
    return np.concatenate([one, noise, one[:, :, ::-1]])


def test_card_drives_preprocessing(clf):
    assert clf.pre.size == clf.card["input"]["size"]
    assert clf.pre.channels == clf.card["input"]["channels"]
    assert clf.temperature == pytest.approx(clf.card["temperature"])
    assert 0.5 < clf.temperature < 5


def test_probabilities_sum_to_one_and_batch_equals_single(clf, crops):
    batch = clf.predict_proba(crops)
    assert batch.shape == (len(crops), 7)
    np.testing.assert_allclose(batch.sum(1), 1.0, atol=1e-5)
    singles = np.concatenate([clf.predict_proba(c[None]) for c in crops])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def reference_logits(clf, crops):
    """The bundled graph run directly (a session of our own, the card's mean/std, the mirror
    taken by hand): what ``EmotionClassifier.logits`` must give, computed without it."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(clf.model_path), providers=["CPUExecutionProvider"])
    mean = np.float32(clf.card["input"]["mean"][0])
    std = np.float32(clf.card["input"]["std"][0])
    x = ((crops.astype(np.float32) / 255 - mean) / std)[:, None]
    name = sess.get_inputs()[0].name
    plain = sess.run(["logits"], {name: x})[0]
    mirrored = sess.run(["logits"], {name: np.ascontiguousarray(x[..., ::-1])})[0]
    return plain, mirrored


def test_flip_tta_averages_with_the_truly_mirrored_face(clf, crops):
    assert clf.card["tta_flip"] is True  # the shipped model is evaluated and shipped with TTA
    plain, mirrored = reference_logits(clf, crops)
    # The face and its mirror really disagree, so an un-mirrored "mirror" cannot pass.
    assert np.abs(plain - mirrored).max() > 0.05
    np.testing.assert_allclose(clf.logits(crops), (plain + mirrored) / 2, atol=1e-4)


def test_the_smiling_astronaut_gets_the_cards_calibrated_probability(clf, crops):
    """The exact probability the card's temperature gives (the README's 98%-class figure)."""
    plain, mirrored = reference_logits(clf, crops[:1])
    z = (plain + mirrored)[0] / 2 / clf.card["temperature"]
    expected = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    probs = clf.predict_proba(crops[:1])[0]
    assert int(np.argmax(probs)) == 3
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    # Doubling or dropping the temperature moves the happy probability by far more than 1e-5.
    for t in (2 * clf.card["temperature"], clf.card["temperature"] / 2):
        other = np.exp((plain + mirrored)[0] / 2 / t)
        assert abs(other[3] / other.sum() - probs[3]) > 1e-3


def test_temperature_softens_but_keeps_the_ranking(clf, crops):
    calibrated = clf.predict_proba(crops)
    raw = np.exp(clf.logits(crops))
    raw /= raw.sum(1, keepdims=True)
    assert (calibrated.argmax(1) == raw.argmax(1)).all()
    if clf.temperature > 1:
        assert calibrated.max(1).mean() < raw.max(1).mean()


def test_a_changed_card_changes_the_input(tmp_path, crops):
    src = resolve_model("default")
    dst = tmp_path / "m.onnx"
    shutil.copy(src, dst)
    card = json.loads(src.with_suffix(".json").read_text())
    card["input"]["mean"] = [0.0]
    card["input"]["std"] = [1.0]
    dst.with_suffix(".json").write_text(json.dumps(card))
    base = EmotionClassifier(src).logits(crops)
    other = EmotionClassifier(dst).logits(crops)
    assert np.abs(base - other).max() > 0.1


def test_model_without_card_or_with_wrong_labels_is_refused(tmp_path):
    src = resolve_model("default")
    dst = tmp_path / "m.onnx"
    shutil.copy(src, dst)
    with pytest.raises(ModelNotFoundError, match="card"):
        EmotionClassifier(dst)
    card = json.loads(src.with_suffix(".json").read_text())
    card["labels"] = list(reversed(card["labels"]))
    dst.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelNotFoundError, match="FER2013 order"):
        EmotionClassifier(dst)


def test_unknown_model_name(tmp_path):
    with pytest.raises(ModelNotFoundError, match="bundled names"):
        EmotionClassifier(tmp_path / "missing.onnx")


def test_no_faces_gives_an_empty_batch(clf):
    assert clf.predict_proba(np.zeros((0, clf.pre.size, clf.pre.size), np.uint8)).shape == (0, 7)


def test_the_model_card_is_read_once_and_typed():
    import json

    from emostyle.emotions import EMOTIONS
    from emostyle.model_files import ModelCard, read_card

    path = resolve_model("default")
    card = read_card(path)
    raw = json.loads(path.with_suffix(".json").read_text())
    assert isinstance(card, ModelCard) and card.labels == EMOTIONS
    assert card.temperature == raw["temperature"] and card.input["size"] == raw["input"]["size"]
    clf = EmotionClassifier(path)
    assert clf.labels == card.labels and clf.temperature == card.temperature
    assert clf.name == card.name == raw["name"] and clf.card == raw
    assert ModelCard.from_dict({}, "x").name == "x"  # a card without a name: the file stem
