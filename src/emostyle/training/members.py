"""Ensemble members and the ``accurate`` ensemble card built from them (issue 14).

Training compute on this project accumulates run by run: every budgeted run ends as one member
(an fp16 ONNX file + card under ``models/members/``), and ``accurate`` is the members that help,
averaged. Two steps, each a function here and a subcommand of ``emostyle ensemble``:

- :func:`add_member` exports a run and stores it in int8 (:mod:`emostyle.training.quantize`:
  about 2.4x faster, a quarter of the bytes) when that costs at most 0.2 points of PrivateTest
  accuracy, else with fp16 weights (half the bytes; compute stays float32) on the same terms,
  else in float32; evaluates it with flip TTA and writes its card.
- :func:`build_ensemble` picks members greedily on **PublicTest** (a member joins only when the
  average with it scores higher), once per test-time view set (``flip``, ``flip+rotate``:
  :mod:`emostyle.tta`) keeping the costlier set only when it scores half a point higher
  there, fits the ensemble's
  temperature on PublicTest, reads PrivateTest once for the chosen set, and writes
  ``emotion_accurate.json``: a card that names its member files, which
  :class:`emostyle.classifier.EmotionClassifier` loads like any model.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from emostyle.classifier import EmotionClassifier, mean_log_proba, softmax
from emostyle.emotions import EMOTIONS
from emostyle.errors import EmostyleError
from emostyle.model_files import BUNDLED_DIR, load_card
from emostyle.training.datasets import load_dataset
from emostyle.training.evaluate import evaluate_logits, load_votes
from emostyle.training.onnx_eval import onnx_logits

MEMBERS_DIR = BUNDLED_DIR / "members"
ENSEMBLE_CARD = BUNDLED_DIR / "emotion_accurate.json"
MAX_PRECISION_DROP = 0.002  # the bound: int8 or fp16 ship only when they cost <= 0.2 pt
# What a member is stored as, cheapest first; float32 when neither holds. int8 runs the network
# in 2.43 ms per face where float32 (and fp16 weights, which compute in float32) take 5.84 ms
# (the vgg48 of run 6: benchmarks/results/analyze_default.json, analyze_m6_vgg48_distil.json).
STORAGE_PREFERENCE = ("int8", "fp16")
ENSEMBLE_TTA_MODES = ("flip", "flip+rotate")  # what `ensemble build` tries, cheapest first
# A costlier view set must earn its passes: flip+rotate runs each member 3x as often (accurate's
# face at batch 1: 38.6 ms against 11.1 ms with flip), so it ships only when it gains at least
# half a point of PublicTest (18 faces of 3,589) over the next cheaper set.
TTA_MIN_GAIN = 0.005


def weights_to_fp16(src: str | Path, dst: str | Path, min_elements: int = 16) -> None:
    """Store the float32 weights of ``src`` as float16 with a Cast back to float32 in front.

    The arithmetic stays float32 (ONNX Runtime's CPU kernels are fastest there); only the
    bytes on disk halve. Tiny tensors (biases, BN shifts folded in) are left as they are.
    """
    model = onnx.load(str(src))
    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < min_elements:
            continue
        half_name = f"{init.name}__fp16"
        graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(arr.astype(np.float16), half_name))
        casts.append(helper.make_node("Cast", [half_name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__to_fp32"))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def weights_to_fp32(src: str | Path, dst: str | Path) -> None:
    """Undo :func:`weights_to_fp16`: each fp16 weight behind a Cast becomes a float32 weight
    again (the same values), so the graph can be quantised; a float32 graph is copied as is.

    An already quantised graph is refused: quantising it again would not be this model.
    """
    model = onnx.load(str(src))
    graph = model.graph
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graph.node):
        raise EmostyleError(f"{src}: already quantised (int8); add the float32 or fp16 model it "
                            "was made from")
    halves = {i.name: i for i in graph.initializer if i.name.endswith("__fp16")}
    kept = []
    for node in graph.node:
        if node.op_type == "Cast" and node.input[0] in halves:
            half = halves[node.input[0]]
            graph.initializer.remove(half)
            graph.initializer.append(numpy_helper.from_array(
                numpy_helper.to_array(half).astype(np.float32), node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


@dataclass(frozen=True)
class MemberScores:
    name: str
    public_logits: np.ndarray  # TTA logits divided by the member's own temperature


def _scaled_public_logits(path: Path, splits, tta: str) -> np.ndarray:  # noqa: ANN001
    clf = EmotionClassifier(path)
    clf.tta = tta
    return onnx_logits(clf, splits.public.images) / clf.temperature


def select_members(scores: list[MemberScores], labels: np.ndarray) -> list[tuple[str, float]]:
    """Greedy forward selection on PublicTest accuracy: start from the best member, add the
    member that raises the average's accuracy most, stop when none does.

    Returns the chosen names with the ensemble's PublicTest accuracy after each was added.
    """
    if not scores:
        raise EmostyleError("no ensemble members to choose from")

    def acc(chosen: list[MemberScores]) -> float:
        return float((mean_log_proba([m.public_logits for m in chosen]).argmax(1) == labels
                      ).mean())

    left = sorted(scores, key=lambda m: -acc([m]))
    chosen = [left.pop(0)]
    path = [(chosen[0].name, acc(chosen))]
    while left:
        best = max(left, key=lambda m: acc(chosen + [m]))
        gain = acc(chosen + [best])
        if gain <= path[-1][1]:
            break
        chosen.append(best)
        left.remove(best)
        path.append((best.name, gain))
    return path


def choose_tta(public_accuracy: dict[str, float]) -> str:
    """The view set to ship, given each set's best ensemble PublicTest accuracy: the cheapest,
    unless a costlier one scores :data:`TTA_MIN_GAIN` higher than the one chosen so far."""
    tta = ENSEMBLE_TTA_MODES[0]
    for mode in ENSEMBLE_TTA_MODES[1:]:
        if public_accuracy[mode] >= public_accuracy[tta] + TTA_MIN_GAIN:
            tta = mode
    return tta


def build_ensemble(data: str | Path, members_dir: Path = MEMBERS_DIR,
                   out: Path = ENSEMBLE_CARD) -> dict:
    """Choose members on PublicTest, calibrate, evaluate PrivateTest once, write the card."""
    splits = load_dataset(data, "fer2013")
    files = sorted(members_dir.glob("*.onnx"))
    if not files:
        raise EmostyleError(f"{members_dir}: no member .onnx files")
    # Each TTA mode chooses its own members; a costlier mode replaces the cheaper one only when
    # its ensemble scores TTA_MIN_GAIN higher on PublicTest.
    trials = {}
    for mode in ENSEMBLE_TTA_MODES:
        scores = [MemberScores(f.stem, _scaled_public_logits(f, splits, mode)) for f in files]
        trials[mode] = (scores, select_members(scores, splits.public.labels))
    tta = choose_tta({mode: path[-1][1] for mode, (_, path) in trials.items()})
    scores, path = trials[tta]
    chosen = [name for name, _ in path]
    first = load_card(members_dir / f"{chosen[0]}.onnx")
    rel = members_dir.relative_to(out.parent) if members_dir.is_relative_to(out.parent) \
        else members_dir
    card = {
        "name": "emotion_accurate",
        "kind": "ensemble",
        "architecture": "ensemble",
        "summary": f"{len(chosen)} networks averaged (calibrated probabilities, {tta} TTA)",
        "task": first["task"],
        "labels": list(EMOTIONS),
        "input": first["input"],
        "members": [{"file": f"{rel.as_posix()}/{n}.onnx", "public_accuracy_with_tta":
                     float((np.argmax(next(s.public_logits for s in scores if s.name == n), 1)
                            == splits.public.labels).mean()),
                     "ensemble_public_accuracy_after_adding": a} for n, a in path],
        "not_chosen": sorted({s.name for s in scores} - set(chosen)),
        "temperature": 1.0,
        "tta": tta,
        "tta_flip": True,  # for readers older than the "tta" field
        "tta_public_accuracy": {m: trials[m][1][-1][1] for m in ENSEMBLE_TTA_MODES},
        "date": dt.date.today().isoformat(),
        "command": f"emostyle ensemble build --data {data}",
    }
    _write_json(out, card)
    clf = EmotionClassifier(out)
    public = onnx_logits(clf, splits.public.images)
    private = onnx_logits(clf, splits.private.images)
    votes = load_votes(data, 2) if Path(data).suffix == ".npz" else None
    report = evaluate_logits(public, splits.public, private, splits.private, votes)
    from emostyle.training.model_card import summarise

    metrics = summarise(report)
    metrics["public_accuracy"] = float((public.argmax(1) == splits.public.labels).mean())
    card["temperature"] = report["calibration"]["temperature"]
    card["metrics"] = metrics
    card["bytes"] = int(sum((out.parent / m["file"]).stat().st_size for m in card["members"]))
    _write_json(out, card)
    return card


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def add_member(run_dir: str | Path, name: str, data: str | Path, summary: str = "",
               members_dir: Path = MEMBERS_DIR) -> dict:
    """Export ``run_dir`` as member ``name``: ONNX (fp16 weights when they hold), card, metrics.

    The card carries the member's own temperature (fitted on PublicTest with flip TTA) and its
    PrivateTest figures with and without TTA, like the default model's card.
    """
    import tempfile

    from emostyle.training.export import export_onnx, load_run, write_card
    from emostyle.training.model_card import classifier_card

    run_dir = Path(run_dir)
    members_dir.mkdir(parents=True, exist_ok=True)
    target = members_dir / f"{name}.onnx"
    if target.exists():
        raise EmostyleError(f"{target}: a member with this name exists; choose another --name")
    if run_dir.suffix == ".onnx":
        return _add_exported_member(run_dir, name, data, target)
    model, cfg = load_run(run_dir)
    history = run_dir / "history.json"
    best = max(json.loads(history.read_text()), key=lambda r: r["public_acc"]) \
        if history.is_file() else None
    command = (run_dir / "command.txt").read_text().strip() \
        if (run_dir / "command.txt").is_file() else ""
    with tempfile.TemporaryDirectory(dir=members_dir) as tmp:
        fp32 = Path(tmp) / f"{name}.onnx"
        parity = export_onnx(model, cfg, fp32)
        write_card(fp32, classifier_card(name, cfg, fp32, parity, summary, best,
                                         command=command, tta_flip=True))
        chosen, plain, flip, weights = _choose_precision(_stored_copies(fp32, data), data)
        chosen.replace(target)
        card = classifier_card(name, cfg, target, parity, summary, best, plain, flip,
                               tta_flip=True, command=command)
        card["weights"] = weights
        if history.is_file():
            card["training"]["finished"] = training_finished(history)
        write_card(target, card)
    return card


def training_finished(history: Path) -> str:
    """The UTC date a run's last epoch was written: the card's own ``date`` is the day the
    member was stored, which is later when a run is stored again (in int8, say)."""
    return dt.datetime.fromtimestamp(history.stat().st_mtime, dt.timezone.utc).date().isoformat()


@dataclass(frozen=True)
class StoredCopy:
    path: Path
    note: dict  # what the card records about how the copy was made (int8: its calibration)


def _stored_copies(fp32: Path, data: str | Path) -> dict[str, StoredCopy]:
    """``fp32`` (its card beside it) and, in folders beside it, its copy for each of
    :data:`STORAGE_PREFERENCE`, each with the same card. The int8 copy's ranges come from
    ``data``'s Training faces."""
    from emostyle.training.quantize import calibration_faces, quantize_classifier

    copies = {"fp32": StoredCopy(fp32, {})}
    for kind in STORAGE_PREFERENCE:
        path = fp32.parent / kind / fp32.name
        path.parent.mkdir()
        note: dict = {}
        if kind == "fp16":
            weights_to_fp16(fp32, path)
        else:
            faces = calibration_faces(load_dataset(data, "fer2013").train.images)
            note = quantize_classifier(fp32, path, faces)
        path.with_suffix(".json").write_text(fp32.with_suffix(".json").read_text(),
                                             encoding="utf-8")
        copies[kind] = StoredCopy(path, note)
    return copies


def _choose_precision(copies: dict[str, StoredCopy], data: str | Path
                      ) -> tuple[Path, dict, dict, dict]:
    """Evaluate each copy with flip TTA and keep the first of :data:`STORAGE_PREFERENCE` that
    costs at most ``MAX_PRECISION_DROP`` against float32, else float32: (chosen file, its
    plain report, its TTA report, the card's record)."""
    from emostyle.training.onnx_eval import evaluate_onnx

    flips = {kind: evaluate_onnx(c.path, data, tta=True) for kind, c in copies.items()}
    # (1e-9: accuracies are fractions of the split, and 0.700 - 0.698 is 0.0020000000000000018)
    kind = next((k for k in STORAGE_PREFERENCE
                 if flips["fp32"]["accuracy"] - flips[k]["accuracy"] <= MAX_PRECISION_DROP + 1e-9),
                "fp32")
    record: dict = {"stored_as": kind}
    for k, report in flips.items():
        record[f"private_accuracy_tta_{k}"] = report["accuracy"]
        record[f"public_accuracy_tta_{k}"] = report["public_accuracy"]
    record["rule"] = (f"the first of {', '.join(STORAGE_PREFERENCE)} that costs <= "
                      f"{MAX_PRECISION_DROP * 100:.1f} points, else fp32")
    record.update(copies[kind].note)
    chosen = copies[kind].path
    return chosen, evaluate_onnx(chosen, data, tta=False), flips[kind], record


def _add_exported_member(source: Path, name: str, data: str | Path, target: Path) -> dict:
    """An already exported model (its card beside it) as a member: the earlier default, say.

    Its card keeps its training record; the metrics are measured again here, with flip TTA,
    for the weights actually stored.
    """
    import tempfile

    from emostyle.training.model_card import summarise

    base = load_card(source)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = Path(tmp) / f"{name}.onnx"
        weights_to_fp32(source, fp32)
        _write_json(fp32.with_suffix(".json"), dict(base, name=name, tta_flip=True))
        chosen, plain, flip, weights = _choose_precision(_stored_copies(fp32, data), data)
        card = dict(base, name=name, tta_flip=True, date=dt.date.today().isoformat())
        card["metrics"] = summarise(flip)
        card["metrics"]["private_accuracy_no_tta"] = plain["accuracy"]
        card["metrics"]["private_accuracy_tta_flip"] = flip["accuracy"]
        card["temperature"] = flip["calibration"]["temperature"]
        card["file"] = {"name": target.name, "bytes": chosen.stat().st_size}
        card["weights"] = {**weights, "from": source.name}
        chosen.replace(target)
        _write_json(target.with_suffix(".json"), card)
    return card


def teacher_targets(model: str | Path, data: str | Path, out: Path) -> np.ndarray:
    """The calibrated probabilities (flip TTA) of ``model`` on every Training row, saved once
    as ``out`` (.npy, float32, (N, 7), dataset order) for `emostyle train --teacher`."""
    splits = load_dataset(data, "fer2013")
    clf = EmotionClassifier(model)
    clf.use_tta(True)
    probs = softmax(onnx_logits(clf, splits.train.images) / clf.temperature).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part.npy")
    np.save(tmp, probs)
    tmp.replace(out)
    return probs


def member_line(name: str, card: dict) -> str:
    """One line on a member :func:`add_member` wrote: its accuracies and how it is stored."""
    m, w = card["metrics"], card["weights"]
    return (f"{name}: PublicTest {m['public_accuracy']:.4f}  PrivateTest "
            f"{m['private_accuracy']:.4f} (flip TTA)  macro-F1 "
            f"{m['private_macro_f1']:.4f}  FER+ "
            f"{m.get('ferplus_majority_accuracy', float('nan')):.4f}  stored as "
            f"{w['stored_as']} ({card['file']['bytes'] / 1e6:.1f} MB)")


def ensemble_lines(card: dict) -> list[str]:
    """What :func:`build_ensemble` chose and how the ensemble scores."""
    m = card["metrics"]
    return [f"accurate: {len(card['members'])} member(s) "
            f"({', '.join(Path(x['file']).stem for x in card['members'])}); "
            f"not chosen: {', '.join(card['not_chosen']) or 'none'}; TTA {card['tta']} "
            f"(PublicTest: " + ", ".join(f"{m} {a:.4f}" for m, a in
                                         card["tta_public_accuracy"].items()) + ")",
            f"PublicTest {m['public_accuracy']:.4f}  PrivateTest "
            f"{m['private_accuracy']:.4f}  macro-F1 {m['private_macro_f1']:.4f}  ECE "
            f"{m['ece_before']:.4f} -> {m['ece_after']:.4f} (T={card['temperature']:.3f})"]


def teacher_agreement(probs: np.ndarray, data: str | Path) -> float:
    """How often the teacher's most likely class is the Training label."""
    return float((probs.argmax(1) == load_dataset(data, "fer2013").train.labels).mean())
