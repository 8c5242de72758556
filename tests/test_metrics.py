import numpy as np
import pytest

from emostyle.training.metrics import (
    classification_metrics,
    confusion_matrix,
    fit_temperature,
    nll,
    per_class,
    reliability,
    softmax,
)


def test_confusion_and_per_class_on_a_known_case():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = confusion_matrix(y_true, y_pred, k=3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    pc = per_class(cm)
    np.testing.assert_allclose(pc["precision"], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(pc["recall"], [2 / 3, 0.5, 1.0])
    np.testing.assert_allclose(pc["f1"], [0.8, 0.5, 2 / 3])


def test_macro_f1_ignores_absent_classes_and_accuracy_counts_all():
    m = classification_metrics(np.array([3, 3, 6, 6]), np.array([3, 6, 6, 6]))
    assert m["accuracy"] == 0.75
    # happy: p=1, r=.5, f1=2/3; neutral: p=2/3, r=1, f1=.8; other classes absent.
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["per_class"]["disgust"]["support"] == 0


def test_temperature_recovers_a_known_miscalibration():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 7)) * 2
    labels = np.array([rng.choice(7, p=p) for p in softmax(true_logits)])
    overconfident = true_logits * 3  # the same ranking, three times too sharp
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    assert nll(overconfident, labels, t) < nll(overconfident, labels)


def test_ece_is_zero_when_confidence_matches_accuracy():
    probs = np.tile([0.7, 0.3], (1000, 1))
    labels = np.array([0] * 700 + [1] * 300)
    assert reliability(probs, labels)["ece"] == pytest.approx(0.0, abs=1e-9)
    wrong = np.array([0] * 400 + [1] * 600)
    assert reliability(probs, wrong)["ece"] == pytest.approx(0.3)
