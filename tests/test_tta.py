"""Test-time views (emostyle.tta): what a card's ``tta`` makes the classifier average."""

import json
import shutil

import cv2
import numpy as np
import pytest

from emostyle.classifier import EmotionClassifier
from emostyle.errors import EmostyleError
from emostyle.model_files import ModelCard, resolve_model
from emostyle.tta import TTA_VIEWS, card_tta, combine, expand


@pytest.fixture(scope="module")
def faces():
    """Two faces that are far from mirror-symmetric: gradients plus noise."""
    rng = np.random.default_rng(3)
    ramp = np.tile(np.linspace(0, 255, 48, dtype=np.float32), (48, 1))
    noise = rng.normal(0, 25, (2, 48, 48)).astype(np.float32)
    return np.clip(np.stack([ramp, ramp.T]) + noise, 0, 255).astype(np.uint8)


def test_cards_name_their_views_and_older_cards_mean_flip():
    assert card_tta({"tta": "flip+rotate"}) == "flip+rotate"
    assert card_tta({"tta_flip": True}) == "flip"
    assert card_tta({}) == "none"
    assert ModelCard.from_dict({"tta": "flip+rotate"}).tta_flip is True
    with pytest.raises(EmostyleError, match="unknown TTA mode"):
        card_tta({"tta": "shift"})


def test_views_are_the_mirror_and_the_rotations_of_the_crop(faces):
    x = faces.astype(np.float32)[:, None]
    views = expand(x, "flip+rotate").reshape(6, 2, 1, 48, 48)
    np.testing.assert_array_equal(views[0], x)
    np.testing.assert_array_equal(views[1], x[..., ::-1])
    turn = cv2.getRotationMatrix2D((23.5, 23.5), 8.0, 1.0)
    by_hand = cv2.warpAffine(faces[0].astype(np.float32), turn, (48, 48),
                             borderMode=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(views[3, 0, 0], by_hand, atol=1e-4)
    # the other direction, and the mirrored crop turned both ways, are distinct views
    assert len({v.tobytes() for v in views.reshape(12, -1)}) == 12
    z = np.arange(6 * 2 * 7, dtype=np.float32).reshape(12, 7)
    np.testing.assert_allclose(combine(z, 2, "flip+rotate"), z.reshape(6, 2, 7).mean(0))


@pytest.mark.parametrize("mode", ["flip", "flip+rotate"])
def test_a_mirror_symmetric_view_set_reads_a_face_and_its_mirror_alike(faces, mode):
    """Each view set is closed under mirroring, so the mirrored face gets the same answer;
    a set that lost its mirror (or turned one way only) would not."""
    clf = EmotionClassifier("default")
    clf.tta = mode
    np.testing.assert_allclose(clf.logits(faces), clf.logits(faces[:, :, ::-1].copy()),
                               atol=1e-4)
    clf.tta = "none"
    assert np.abs(clf.logits(faces) - clf.logits(faces[:, :, ::-1].copy())).max() > 1e-2


def test_the_card_chooses_the_views_and_evaluation_uses_them(faces, tmp_path):
    src = resolve_model("default")
    model = tmp_path / "rotating.onnx"
    shutil.copyfile(src, model)
    card = json.loads(src.with_suffix(".json").read_text())
    card["tta"] = "flip+rotate"
    model.with_suffix(".json").write_text(json.dumps(card))
    clf = EmotionClassifier(model)
    assert clf.tta == "flip+rotate" and len(TTA_VIEWS[clf.tta]) == 6
    flip = EmotionClassifier("default")
    assert flip.tta == "flip"
    assert np.abs(clf.logits(faces) - flip.logits(faces)).max() > 1e-3
    clf.use_tta(False)
    assert clf.tta == "none"
    clf.use_tta(True)  # `evaluate --tta` measures what the card ships
    assert clf.tta == "flip+rotate"
