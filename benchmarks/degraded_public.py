"""How emotion models hold up on the kind of face crops real photos give (issue 14).

FER2013's faces are 48 px, centred and fairly clean; faces in group and street photos are often
16-40 px, soft, badly exposed or JPEG-blocky. This benchmark degrades the same PublicTest faces
(never PrivateTest: the report is used to choose thresholds) and reports, per model:

- accuracy and macro-F1 per degradation (down-up resize to 16/24/32 px, JPEG quality 30,
  gamma 0.6/1.6), and the share of faces each model calls "sad" (the real-photo complaint);
- an accuracy-vs-face-size curve (12-48 px), each size's mean confidence;
- accuracy against a confidence floor on a mixture of all degradations (coverage, accuracy
  of the faces kept): what `emostyle.uncertainty` chose its thresholds from.

A degraded face goes through the same path as a small face in a photo: the crop is made at the
small size (area resize, as the crop step does) and brought back to the model's input with
linear interpolation (the crop step's warpAffine). Flip TTA and the temperature are the model
card's own.

    python benchmarks/degraded_public.py default ~/runs/m1/model.onnx \
        --data ../shared/data/fer2013.npz --out benchmarks/results/degraded_public.json

A model's row depends only on that model and the faces, so ``--update`` reruns the models named
and keeps the other rows of ``--out``: the file is then what a full rerun of its ``command``
would write, in a fraction of the time when one model of several has changed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from emostyle.classifier import EmotionClassifier
from emostyle.emotions import EMOTIONS

SIZES = (12, 16, 20, 24, 32, 40, 48)
FLOORS = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def down_up(faces: np.ndarray, side: int) -> np.ndarray:
    """Each 48x48 face shrunk to ``side`` px (area) and brought back up (linear)."""
    h, w = faces.shape[1:3]
    if side >= h:
        return faces
    return np.stack([cv2.resize(cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA),
                                (w, h), interpolation=cv2.INTER_LINEAR) for f in faces])


def jpeg(faces: np.ndarray, quality: int) -> np.ndarray:
    out = []
    for f in faces:
        ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        out.append(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE))
    return np.stack(out)


def gamma(faces: np.ndarray, g: float) -> np.ndarray:
    lut = np.clip(((np.arange(256) / 255.0) ** g) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return lut[faces]


CONDITIONS = {
    "clean": lambda x: x,
    "down16": lambda x: down_up(x, 16),
    "down24": lambda x: down_up(x, 24),
    "down32": lambda x: down_up(x, 32),
    "jpeg30": lambda x: jpeg(x, 30),
    "gamma0.6": lambda x: gamma(x, 0.6),
    "gamma1.6": lambda x: gamma(x, 1.6),
}


def macro_f1(pred: np.ndarray, labels: np.ndarray) -> float:
    f1s = []
    for c in range(len(EMOTIONS)):
        tp = float(((pred == c) & (labels == c)).sum())
        p, r = (pred == c).sum(), (labels == c).sum()
        if r == 0:
            continue
        prec, rec = (tp / p if p else 0.0), tp / r
        f1s.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    return float(np.mean(f1s))


def probabilities(clf: EmotionClassifier, faces: np.ndarray, batch: int = 512) -> np.ndarray:
    size = clf.pre.size
    out = []
    for i in range(0, len(faces), batch):
        x = faces[i:i + batch]
        if x.shape[1] != size:
            x = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in x])
        if clf.pre.channels == 3:
            x = np.repeat(x[..., None], 3, axis=3)
        out.append(clf.predict_proba(x))
    return np.concatenate(out)


def report_model(model: str, faces: np.ndarray, labels: np.ndarray) -> dict:
    clf = EmotionClassifier(model)
    sad = EMOTIONS.index("sad")
    t0 = time.perf_counter()
    conditions = {}
    mixture_probs, mixture_labels = [], []
    for name, fn in CONDITIONS.items():
        p = probabilities(clf, fn(faces))
        pred = p.argmax(1)
        conditions[name] = {"accuracy": float((pred == labels).mean()),
                            "macro_f1": macro_f1(pred, labels),
                            "share_sad": float((pred == sad).mean()),
                            "mean_confidence": float(p.max(1).mean())}
        if name != "clean":
            mixture_probs.append(p)
            mixture_labels.append(labels)
    curve = []
    for side in SIZES:
        p = probabilities(clf, down_up(faces, side))
        pred = p.argmax(1)
        curve.append({"side": side, "accuracy": float((pred == labels).mean()),
                      "mean_confidence": float(p.max(1).mean()),
                      "share_sad": float((pred == sad).mean())})
    p = np.concatenate(mixture_probs)
    y = np.concatenate(mixture_labels)
    conf, right = p.max(1), p.argmax(1) == y
    floors = [{"floor": f, "coverage": float((conf >= f).mean()),
               "accuracy_kept": float(right[conf >= f].mean()) if (conf >= f).any() else None,
               "accuracy_dropped": float(right[conf < f].mean()) if (conf < f).any() else None}
              for f in FLOORS]
    deg = [v["accuracy"] for k, v in conditions.items() if k != "clean"]
    return {"argument": model, "model": str(clf.model_path), "name": clf.name,
            "tta_flip": clf.tta_flip, "temperature": clf.temperature, "conditions": conditions,
            "mean_degraded_accuracy": float(np.mean(deg)),
            "size_curve": curve, "confidence_floors_on_degraded_mixture": floors,
            "seconds": round(time.perf_counter() - t0, 1)}


def merge_results(kept: list[dict], fresh: dict[str, dict]) -> list[dict]:
    """``kept`` in its order with each row of the same name replaced by ``fresh``'s, then the
    rest of ``fresh``: an update never reorders or drops a row the README cites."""
    merged = [fresh.get(r["name"], r) for r in kept]
    names = {r["name"] for r in kept}
    return merged + [r for n, r in fresh.items() if n not in names]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="bundled model names or .onnx files")
    ap.add_argument("--data", default="../shared/data/fer2013.npz")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/degraded_public.json"))
    ap.add_argument("--update", action="store_true",
                    help="rerun only these models; keep the other rows of --out")
    args = ap.parse_args()
    kept: list[dict] = []
    if args.update:
        if not args.out.is_file():
            ap.error(f"--update: {args.out} does not exist")
        kept = json.loads(args.out.read_text())["results"]
    with np.load(args.data) as d:
        keep = d["usage"] == 1  # PublicTest
        faces, labels = d["images"][keep], d["labels"][keep].astype(np.int64)
    fresh = {}
    for m in args.models:
        r = report_model(m, faces, labels)
        fresh[r["name"]] = r
        row = "  ".join(f"{k} {v['accuracy']:.3f}" for k, v in r["conditions"].items())
        print(f"{r['name']}: {row}  mean degraded {r['mean_degraded_accuracy']:.3f}")
    results = merge_results(kept, fresh)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = {"split": "PublicTest", "faces": int(len(labels)), "results": results,
           "command": "python benchmarks/degraded_public.py "
                      + " ".join(r["argument"] for r in results)}
    tmp = args.out.with_suffix(".json.part")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
