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


def test_the_smiling_astronaut_is_happy(clf, crops):
    probs = clf.predict_proba(crops[:1])[0]
    assert int(np.argmax(probs)) == 3
    assert probs[3] > 0.6


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
