"""How many YuNet detections are not faces, by score threshold and minimum box side (issue 14).

    # 1. detect at a low threshold; every detection's crop goes to a working folder
    python benchmarks/detector_false_positives.py detect --content ../shared/data/content \\
        --work /tmp/det_fp
    # 2. numbered contact sheets of those crops, to label by eye
    python benchmarks/detector_false_positives.py sheets --work /tmp/det_fp
    #    ... write tests/fixtures/detections/labels.csv (label: face / not_face)
    # 3. the trade-off over the labelled set, and the recommended default
    python benchmarks/detector_false_positives.py measure \\
        --labels tests/fixtures/detections/labels.csv \\
        --out benchmarks/results/detector_false_positives.json

Pictures: the project's own (``examples/``, any picture under ``tests/`` except this
benchmark's own crops), the astronaut shrunk so its face spans about 6-45 px
(``examples/astronaut.jpg@0.1`` = resized by 0.1, for small true faces), and the natural photos
of a content folder (COCO, OSIE, denoising benchmarks), read from where they lie and never
copied into the repo.

Labelling (by eye, on the contact sheets): ``face`` is a real human face, any pose, however
blurred, that the box covers. ``not_face`` is everything else, including backs of heads,
helmets, drawn or sculpted faces, and duplicates (a box with IoU >= 0.2 to a higher-scoring box
on the same face). Every detection in a labelled photo is labelled, so no score range is
under-sampled. The committed set covers every COCO and denoising-benchmark photo, not OSIE.

Licences: the content photos are not ours (COCO and OSIE come from Flickr under their authors'
licences; the denoising sets have their own terms), so neither they nor crops cut from them
are committed. ``labels.csv`` names each
detection by photo file name and box, which is enough to re-run it where the shared folder
exists. Only crops of pictures the project owns (the public-domain NASA astronaut and pictures
made from it) are committed as images, beside the CSV, as ``crops/astronaut[_SCALE]_X_Y.jpg``.

Recall here is relative: the share of the labelled faces (those YuNet finds at ``--low``) that a
rule keeps; faces YuNet misses altogether are not counted.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emostyle.faces import FaceDetector
from emostyle.images import iter_image_files, read_image

ROOT = Path(__file__).resolve().parents[1]
CONTENT_PREFIX = "content/"
FIXTURE = ROOT / "tests" / "fixtures" / "detections"  # labels.csv and the crops we may commit
SHRUNK_SCALES = (0.05, 0.07, 0.09, 0.12, 0.16, 0.25, 0.4)  # astronaut face ~6 to ~45 px
THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.5 ... 0.95
MIN_SIDES = (0, 16, 20, 24, 32)
CROP_MARGIN = 1.5  # context around the box: a labeller needs the head and shoulders to judge
READABLE_SIDE = 24  # the product marks smaller faces "uncertain" (too small to read)
# The rule for the recommended default: the lowest threshold (then the smallest minimum side)
# where at most MAX_FALSE_SHARE of what is kept is not a face, while at least
# MIN_READABLE_RECALL of the readable faces (side >= READABLE_SIDE) are kept. Recall over all
# faces is reported too, but tiny crowd faces dominate it and the product would not read them.
MAX_FALSE_SHARE = 0.10
MIN_READABLE_RECALL = 0.75
FIELDS = ("source", "x", "y", "w", "h", "score", "side", "label")


@dataclass(frozen=True)
class Detection:
    """One detection: the picture it came from, its box in that picture's pixels, its score."""

    source: str
    box: tuple[int, int, int, int]
    score: float
    label: str = ""

    @property
    def side(self) -> int:
        return max(self.box[2], self.box[3])


def load_source(source: str, content: Path | None) -> np.ndarray:
    """The RGB picture a ``source`` name refers to (see the module docstring for the names)."""
    name, _, scale = source.partition("@")
    if name.startswith(CONTENT_PREFIX):
        if content is None:
            raise FileNotFoundError(f"{source}: no content folder given")
        image = read_image(content / name[len(CONTENT_PREFIX):])
    else:
        image = read_image(ROOT / name)
    if scale:
        s = float(scale)
        h, w = image.shape[:2]
        image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return image


def project_sources() -> list[str]:
    own = [p for folder in ("examples", "tests") for p in iter_image_files(ROOT / folder)
           if FIXTURE not in p.parents]
    names = [str(p.relative_to(ROOT)) for p in own]
    return names + [f"examples/astronaut.jpg@{s}" for s in SHRUNK_SCALES]


def detect(detector: FaceDetector, source: str, content: Path | None) -> list[Detection]:
    found = detector.detect(load_source(source, content))
    return [Detection(source, tuple(round(v) for v in f.box), round(f.score, 4)) for f in found]


def iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def trade_off(dets: list[Detection], threshold: float, min_side: int) -> dict:
    """Faces and non-faces a rule keeps, with precision and (relative) recall."""
    kept = [d for d in dets if d.score >= threshold and d.side >= min_side]
    faces = [d for d in dets if d.label == "face"]
    readable = [d for d in faces if d.side >= READABLE_SIDE]
    kept_faces = [d for d in kept if d.label == "face"]
    kept_readable = [d for d in kept_faces if d.side >= READABLE_SIDE]
    false_kept = len(kept) - len(kept_faces)
    pictures = len({d.source for d in dets})
    return {"threshold": threshold, "min_side": min_side, "faces_kept": len(kept_faces),
            "false_kept": false_kept,
            "precision": round(len(kept_faces) / len(kept), 4) if kept else 1.0,
            "recall": round(len(kept_faces) / len(faces), 4) if faces else 1.0,
            "readable_recall": round(len(kept_readable) / len(readable), 4) if readable else 1.0,
            "false_per_100_pictures_with_detections": round(100 * false_kept / pictures, 1)}


def recommend(rows: list[dict]) -> dict | None:
    """The lowest threshold, then smallest minimum side, that meets the rule above."""
    for row in sorted(rows, key=lambda r: (r["threshold"], r["min_side"])):
        readable_ok = row["readable_recall"] >= MIN_READABLE_RECALL
        if 1 - row["precision"] <= MAX_FALSE_SHARE and readable_ok:
            return row
    return None


def read_labels(path: Path) -> list[Detection]:
    with open(path, newline="") as fh:
        return [Detection(r["source"], tuple(int(r[k]) for k in "xywh"), float(r["score"]),
                          r["label"]) for r in csv.DictReader(fh)]


def crop(image: np.ndarray, box: tuple[int, ...], size: int = 128) -> np.ndarray:
    x, y, w, h = box
    side = max(w, h) * (1 + CROP_MARGIN)
    cx, cy = x + w / 2, y + h / 2
    m = np.float32([[size / side, 0, size / 2 - cx * size / side],
                    [0, size / side, size / 2 - cy * size / side]])
    out = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA if side > size
                         else cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    # Mark the box itself so the labeller judges the detection, not a face beside it.
    b = (round(size / 2 - w / 2 * size / side), round(size / 2 - h / 2 * size / side),
         round(size / 2 + w / 2 * size / side), round(size / 2 + h / 2 * size / side))
    cv2.rectangle(out, b[:2], b[2:], (0, 255, 0), 1)
    return out


def cmd_detect(args: argparse.Namespace) -> None:
    cv2.setNumThreads(1)  # a benchmark that shares the machine
    detector = FaceDetector(args.face_model, min_score=args.low)
    sources = project_sources()
    if args.content:
        sources += [CONTENT_PREFIX + p.name for p in sorted(iter_image_files(args.content))]
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "crops").mkdir(exist_ok=True)
    with open(args.work / "detections.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(("id", *FIELDS[:-1], "crop"))
        n = 0
        for source in sources:
            image = load_source(source, args.content)
            for d in detect(detector, source, args.content):
                name = f"crops/{n:05d}.png"
                cv2.imwrite(str(args.work / name), cv2.cvtColor(crop(image, d.box),
                                                                cv2.COLOR_RGB2BGR))
                out.writerow((n, d.source, *d.box, d.score, d.side, name))
                n += 1
    print(f"{n} detections at score >= {args.low} in {len(sources)} pictures -> {args.work}")


def cmd_sheets(args: argparse.Namespace) -> None:
    with open(args.work / "detections.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if args.ids:
        wanted = {int(i) for i in args.ids.read_text().split()}
        rows = [r for r in rows if int(r["id"]) in wanted]
    cell, cols, per = 128, 8, 48
    (args.work / "sheets").mkdir(exist_ok=True)
    for start in range(0, len(rows), per):
        part = rows[start:start + per]
        sheet = np.full((math.ceil(len(part) / cols) * (cell + 18), cols * cell, 3), 255, np.uint8)
        for i, r in enumerate(part):
            y, x = (i // cols) * (cell + 18), (i % cols) * cell
            img = cv2.resize(cv2.imread(str(args.work / r["crop"])), (cell - 4, cell - 4))
            sheet[y + 2:y + cell - 2, x + 2:x + cell - 2] = img
            cv2.putText(sheet, f"{r['id']} s{float(r['score']):.2f} {r['side']}px",
                        (x + 2, y + cell + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 200), 1)
        cv2.imwrite(str(args.work / "sheets" / f"sheet_{start // per:03d}.png"), sheet)
    print(f"{math.ceil(len(rows) / per)} sheets -> {args.work / 'sheets'}")


def cmd_measure(args: argparse.Namespace) -> None:
    dets = read_labels(args.labels)
    rows = [trade_off(dets, t, s) for t in THRESHOLDS for s in MIN_SIDES]
    best = recommend(rows)
    by_origin: dict[str, dict[str, int]] = {}
    for d in dets:
        origin = d.source.split("/")[1].split("_")[0] if d.source.startswith(CONTENT_PREFIX) \
            else "project"
        counts = by_origin.setdefault(origin, {"face": 0, "not_face": 0})
        counts[d.label] += 1
    out = {
        "command": "python " + " ".join(["benchmarks/detector_false_positives.py", *sys.argv[1:]]),
        "detected_with": "python benchmarks/detector_false_positives.py detect --content "
                         "../shared/data/content --work /tmp/det_fp  (FaceDetector defaults, "
                         "score_threshold 0.3); every detection in the labelled pictures is "
                         "labelled, so no score range is under-sampled",
        "labels": str(args.labels),
        "detections": len(dets),
        "pictures": len({d.source for d in dets}),
        "labelled": by_origin,
        "rule": f"lowest threshold, then smallest min side, with at most "
                f"{MAX_FALSE_SHARE:.0%} of kept detections not faces while keeping at least "
                f"{MIN_READABLE_RECALL:.0%} of readable faces (side >= {READABLE_SIDE} px); "
                f"recall is relative to the faces YuNet finds at the detect threshold",
        "recommended": best,
        "current_default": trade_off(dets, 0.7, 0),
        "false_kept_at_recommended": [
            {"source": d.source, "box": d.box, "score": d.score, "side": d.side}
            for d in dets if best and d.label != "face" and d.score >= best["threshold"]
            and d.side >= best["min_side"]],
        "grid": rows,
    }
    tmp = args.out.with_suffix(".json.part")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(args.out)
    print(json.dumps({k: out[k] for k in ("labelled", "recommended", "current_default")}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("detect", help="detect at a low threshold, save crops and a CSV")
    p.add_argument("--content", type=Path, default=None, help="folder of natural photos")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--face-model", default=None)
    p.add_argument("--low", type=float, default=0.3)
    p.set_defaults(run=cmd_detect)
    p = sub.add_parser("sheets", help="numbered contact sheets of 48 crops")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--ids", type=Path, default=None, help="file of detection ids to include")
    p.set_defaults(run=cmd_sheets)
    p = sub.add_parser("measure", help="the trade-off over a labels CSV")
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--out", type=Path,
                   default=ROOT / "benchmarks/results/detector_false_positives.json")
    p.set_defaults(run=cmd_measure)
    args = ap.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
