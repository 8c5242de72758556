"""Ensemble members, the greedy PublicTest selection and the ensemble card (issue 14)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from emostyle.classifier import EmotionClassifier, softmax  # noqa: E402
from emostyle.errors import ModelNotFoundError  # noqa: E402
from emostyle.training.fit import TrainConfig, train  # noqa: E402
from emostyle.training.members import (  # noqa: E402
    MemberScores,
    add_member,
    build_ensemble,
    select_members,
    weights_to_fp16,
    weights_to_fp32,
)

from .test_training import synthetic_faces  # noqa: E402


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    """A FER2013-shaped npz of the synthetic bar faces (Training, PublicTest, PrivateTest)."""
    parts = [synthetic_faces(400, 0), synthetic_faces(140, 1), synthetic_faces(140, 2)]
    path = tmp_path_factory.mktemp("data") / "synthetic.npz"
    np.savez(path, images=np.concatenate([p.images for p in parts]),
             labels=np.concatenate([p.labels for p in parts]),
             usage=np.concatenate([np.full(len(p.labels), i, np.uint8)
                                   for i, p in enumerate(parts)]))
    return path


@pytest.fixture(scope="module")
def members_dir(tmp_path_factory, npz):
    from emostyle.training.datasets import load_dataset

    splits = load_dataset(npz, "fer2013")
    root = tmp_path_factory.mktemp("models")
    for seed in (0, 1):
        run = root / f"run{seed}"
        train(TrainConfig(arch="vgg_small", arch_kwargs={"width": 8}, epochs=2, batch_size=32,
                          lr=0.05, augment="light", seed=seed, threads=2), splits, run)
        add_member(run, f"m{seed}", npz, members_dir=root / "members")
    return root / "members"


@pytest.mark.parametrize("name", ["m0", "m1"])
def test_member_card_records_its_storage_choice_and_its_own_temperature(members_dir, name):
    """int8 when it costs <= 0.2 points, else fp16 on the same terms, else float32; the file
    is what the card says it is."""
    import onnx

    card = json.loads((members_dir / f"{name}.json").read_text())
    w = card["weights"]
    drop = {k: w["private_accuracy_tta_fp32"] - w[f"private_accuracy_tta_{k}"]
            for k in ("int8", "fp16")}
    want = "int8" if drop["int8"] <= 0.002 else "fp16" if drop["fp16"] <= 0.002 else "fp32"
    assert w["stored_as"] == want
    assert card["metrics"]["private_accuracy"] == w[f"private_accuracy_tta_{want}"]
    ops = {n.op_type for n in onnx.load(str(members_dir / f"{name}.onnx")).graph.node}
    assert ("DequantizeLinear" in ops) == (want == "int8")
    assert ("Cast" in ops) == (want == "fp16")
    if want == "int8":
        assert w["calibration_faces"] == 400  # the whole synthetic Training split
    assert card["tta_flip"] is True
    assert card["temperature"] == pytest.approx(card["metrics"]["temperature"])
    assert card["file"]["bytes"] == (members_dir / f"{name}.onnx").stat().st_size


def test_member_card_says_when_training_finished_not_when_it_was_stored(members_dir, npz):
    """A run stored again later (in int8, say) keeps the date its last epoch was written."""
    import datetime as dt
    import os

    run = members_dir.parent / "run1"
    history = run / "history.json"
    os.utime(history, (history.stat().st_atime, dt.datetime(2026, 1, 2, 23, 30,
                                                             tzinfo=dt.timezone.utc).timestamp()))
    card = add_member(run, "m1_again", npz, members_dir=members_dir.parent / "again")
    assert card["training"]["finished"] == "2026-01-02"
    assert card["date"] == dt.date.today().isoformat()


def test_member_refuses_to_overwrite_an_existing_member(members_dir, npz):
    with pytest.raises(Exception, match="exists"):
        add_member(members_dir.parent / "run0", "m0", npz, members_dir=members_dir)


def test_fp16_weights_halve_the_file_and_keep_the_outputs(members_dir, tmp_path):
    import onnxruntime as ort

    from emostyle.training.export import export_onnx, load_run

    model, cfg = load_run(members_dir.parent / "run0")
    fp32, fp16 = tmp_path / "a.onnx", tmp_path / "b.onnx"
    export_onnx(model, cfg, fp32)
    weights_to_fp16(fp32, fp16)
    assert fp16.stat().st_size < 0.6 * fp32.stat().st_size
    x = np.random.default_rng(0).normal(size=(4, 1, 48, 48)).astype(np.float32)
    a = ort.InferenceSession(str(fp32)).run(["logits"], {"input": x})[0]
    b = ort.InferenceSession(str(fp16)).run(["logits"], {"input": x})[0]
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()
    assert np.abs(a - b).max() > 0  # the weights really changed precision


@pytest.mark.parametrize(("int8", "fp16", "want"), [(0.698, 0.700, "int8"),
                                                   (0.697, 0.699, "fp16"),
                                                   (0.697, 0.697, "fp32"),
                                                   (0.705, 0.690, "int8")])
def test_storage_is_the_cheapest_copy_within_two_tenths_of_a_point(monkeypatch, tmp_path,
                                                                     int8, fp16, want):
    """The rule itself, on made-up accuracies (float32 at 0.700): int8 first, then fp16,
    each only when it costs <= 0.2 points."""
    from emostyle.training import members, onnx_eval

    acc = {"fp32": 0.700, "int8": int8, "fp16": fp16}
    monkeypatch.setattr(onnx_eval, "evaluate_onnx", lambda path, data, tta: {
        "accuracy": acc[path.stem] if tta else 0.5, "public_accuracy": acc[path.stem] - 0.01})
    copies = {k: members.StoredCopy(tmp_path / f"{k}.onnx", {"made": k}) for k in acc}
    chosen, plain, flip, record = members._choose_precision(copies, "data.npz")
    assert chosen == tmp_path / f"{want}.onnx" and record["stored_as"] == want
    assert flip["accuracy"] == acc[want] and plain["accuracy"] == 0.5
    assert record["made"] == want  # the chosen copy's own note
    assert record["private_accuracy_tta_fp16"] == fp16
    assert record["public_accuracy_tta_int8"] == pytest.approx(int8 - 0.01)


def test_fp32_weights_undo_fp16_and_refuse_a_quantised_graph(members_dir, tmp_path):
    import onnx
    import onnxruntime as ort

    from emostyle.errors import EmostyleError
    from emostyle.training.export import export_onnx, load_run
    from emostyle.training.quantize import quantize_classifier

    model, cfg = load_run(members_dir.parent / "run1")
    fp32, fp16, back = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.onnx"
    export_onnx(model, cfg, fp32)
    weights_to_fp16(fp32, fp16)
    weights_to_fp32(fp16, back)
    graph = onnx.load(str(back)).graph
    assert "Cast" not in {n.op_type for n in graph.node}
    assert {i.data_type for i in graph.initializer} == {onnx.TensorProto.FLOAT}
    x = np.random.default_rng(1).normal(size=(4, 1, 48, 48)).astype(np.float32)
    b = ort.InferenceSession(str(fp16)).run(["logits"], {"input": x})[0]
    c = ort.InferenceSession(str(back)).run(["logits"], {"input": x})[0]
    assert np.allclose(b, c, atol=1e-5)  # the fp16 values, now stored as float32
    (tmp_path / "a.json").write_text((members_dir / "m1.json").read_text())
    quantize_classifier(fp32, tmp_path / "q.onnx",
                        np.random.default_rng(2).integers(0, 255, (32, 48, 48), np.uint8))
    with pytest.raises(EmostyleError, match="already quantised"):
        weights_to_fp32(tmp_path / "q.onnx", tmp_path / "d.onnx")
    assert not (tmp_path / "d.onnx").exists()


def test_ensemble_card_averages_calibrated_member_probabilities(members_dir, npz, tmp_path):
    out = members_dir.parent / "emotion_accurate.json"
    card = build_ensemble(npz, members_dir=members_dir, out=out)
    assert card["kind"] == "ensemble" and card["members"]
    assert 0.0 <= card["metrics"]["private_accuracy"] <= 1.0
    ens = EmotionClassifier(out)
    assert ens.members == len(card["members"])
    faces = synthetic_faces(16, 5).images
    expected = []
    for m in card["members"]:
        clf = EmotionClassifier(out.parent / m["file"])
        clf.tta = card["tta"]
        expected.append(softmax(clf.logits(faces) / clf.temperature))
    mean = np.mean(expected, axis=0)
    want = softmax(np.log(np.maximum(mean, 1e-12)) / card["temperature"])
    assert np.allclose(ens.predict_proba(faces), want, atol=1e-5)


def test_ensemble_card_with_a_missing_member_fails_clearly(members_dir, tmp_path):
    card = {"kind": "ensemble", "labels": json.loads((members_dir / "m0.json").read_text()
                                                     )["labels"],
            "input": json.loads((members_dir / "m0.json").read_text())["input"],
            "members": [{"file": "gone.onnx"}]}
    path = tmp_path / "ens.json"
    path.write_text(json.dumps(card))
    with pytest.raises(ModelNotFoundError, match="gone.onnx"):
        EmotionClassifier(path)


def test_greedy_selection_adds_a_member_only_when_public_accuracy_rises():
    labels = np.array([0, 1, 2, 0, 1, 2])

    def member(name, wrong):
        """Confident where right (margin 5), hesitant where wrong (margin 1)."""
        z = np.zeros((6, 3))
        for i, y in enumerate(labels):
            if i in wrong:
                z[i, (y + 1) % 3] = 1.0
            else:
                z[i, y] = 5.0
        return MemberScores(name, z)

    a, b, d = member("a", {0, 1}), member("b", {2, 3}), member("d", {4, 5})
    bad = member("bad", set(range(6)))
    path = select_members([bad, a, b, d], labels)
    assert [round(acc, 4) for _, acc in path] == [round(4 / 6, 4), 1.0]  # stops: no gain left
    assert "bad" not in [n for n, _ in path]


def test_teacher_targets_are_the_models_calibrated_tta_probabilities(members_dir, npz, tmp_path):
    from emostyle.training.members import teacher_targets

    model = members_dir / "m0.onnx"
    probs = teacher_targets(model, npz, tmp_path / "t.npy")
    assert probs.shape == (400, 7)
    assert np.allclose(np.load(tmp_path / "t.npy"), probs)
    clf = EmotionClassifier(model)
    clf.tta = "flip"
    faces = synthetic_faces(400, 0).images[:5]
    assert np.allclose(probs[:5], clf.predict_proba(faces), atol=1e-5)


def test_ensemble_targets_command_writes_once_and_refuses_to_overwrite(members_dir, npz,
                                                                       tmp_path):
    from typer.testing import CliRunner

    from emostyle.cli import app

    target = tmp_path / "teacher.npy"
    args = ["ensemble", "targets", str(members_dir / "m0.onnx"), "--out", str(target),
            "--data", str(npz)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    first = target.read_bytes()
    assert np.load(target).shape == (400, 7)
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0 and "exists" in res.output
    assert target.read_bytes() == first


def test_a_costlier_view_set_ships_only_for_half_a_point_of_publictest():
    from emostyle.training.members import choose_tta

    assert choose_tta({"flip": 0.7141, "flip+rotate": 0.7161}) == "flip"  # 2026-12-07's build
    assert choose_tta({"flip": 0.7000, "flip+rotate": 0.7060}) == "flip+rotate"
    assert choose_tta({"flip": 0.7100, "flip+rotate": 0.7000}) == "flip"
