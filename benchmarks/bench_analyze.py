"""Speed of the inference path: per-face classification and whole-picture analysis.

    python benchmarks/bench_analyze.py [--model default] [--repeats 200] [--threads 2]

Prints medians (and p90) and writes benchmarks/results/analyze_<model>.json. Pictures are
generated from examples/astronaut.jpg: 1 or 8 faces pasted onto 640x480 and 1920x1080 canvases.
Run it on an otherwise idle machine; the figures in the README come from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime

from emostyle.classifier import EmotionClassifier
from emostyle.images import read_image
from emostyle.pipeline import Analyzer

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeats: int, warmup: int = 5) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * len(times)) - 1],
            "repeats": repeats}


def scene(width: int, height: int, n_faces: int, face: np.ndarray) -> np.ndarray:
    """A canvas of the given size with ``n_faces`` copies of the astronaut's head."""
    canvas = np.full((height, width, 3), 120, np.uint8)
    cols = min(n_faces, 4)
    rows = (n_faces + cols - 1) // cols
    side = min(width // cols, height // rows) * 9 // 10
    tile = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    for i in range(n_faces):
        r, c = divmod(i, cols)
        y = r * (height // rows) + (height // rows - side) // 2
        x = c * (width // cols) + (width // cols - side) // 2
        canvas[y:y + side, x:x + side] = tile
    return canvas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    photo = read_image(ROOT / "examples" / "astronaut.jpg")
    head = photo[20:260, 110:340]
    analyzer = Analyzer(args.model, threads=args.threads)
    clf: EmotionClassifier = analyzer.classifier
    crop = clf.crops(photo, analyzer.detector.detect(photo))
    batch64 = np.repeat(crop, 64, axis=0)

    results: dict = {
        "model": args.model, "card_name": clf.name, "threads": args.threads,
        "tta_flip": clf.tta_flip, "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "onnxruntime": onnxruntime.__version__, "date": time.strftime("%Y-%m-%d"),
    }
    results["face_batch1"] = timed(lambda: clf.predict_proba(crop), args.repeats * 5)
    b64 = timed(lambda: clf.predict_proba(batch64), max(20, args.repeats // 5))
    b64["faces_per_s"] = 64 / (b64["median_ms"] / 1000)
    results["face_batch64"] = b64
    for (w, h) in ((640, 480), (1920, 1080)):
        for n in (1, 8):
            img = scene(w, h, n, head)
            found = len(analyzer.analyze(img).faces)
            r = timed(lambda img=img: analyzer.analyze(img), args.repeats)
            r["faces_found"] = found
            results[f"analyze_{w}x{h}_{n}face"] = r
    for key, val in results.items():
        if isinstance(val, dict):
            extra = f"  ({val['faces_per_s']:.0f} faces/s)" if "faces_per_s" in val else ""
            found = f"  [{val['faces_found']} found]" if "faces_found" in val else ""
            print(f"{key:28s} median {val['median_ms']:7.2f} ms  p90 {val['p90_ms']:7.2f} ms"
                  f"{extra}{found}")
    out = ROOT / "benchmarks" / "results" / f"analyze_{Path(args.model).stem}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
