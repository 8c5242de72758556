"""What a second shared analyser costs in resident memory (MB), as the app runs two of them.

    python benchmarks/analyzer_memory.py [--model default] [--repeats 3] [--json out.json]

The web app keeps one :class:`emostyle.app.engine.SharedAnalyzer` for the photo page and one for
the mirror, so that an upload never queues a camera frame; this measures the price of that
choice. Each repeat is a fresh Python process that builds the mirror's analyser (one ONNX
thread) and reads a 640x480 frame with a face, so the libraries and the first analyser are
paid for; then it builds the photo page's analyser and lets it read the same frame
(``second_analyzer_mb``: RSS after minus before; ONNX Runtime allocates most of a session's
memory on its first run) and then a 4096x3072 phone-size photo (``after_big_photo_mb``: the
buffers of the 960 px detection copy and the crops). Medians over the repeats; every figure
is RSS from ``/proc/self/status`` after ``gc.collect()``, so it does not depend on the
machine's load.
Writes ``benchmarks/results/analyzer_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_memory import ROOT, phone_photo, settled_rss, trim_heap  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "analyzer_memory.json"


def _photo(width: int, height: int, seed: int) -> np.ndarray:
    data = np.frombuffer(phone_photo(width, height, seed), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def child(model: str) -> dict:
    """One measurement in this (fresh) process."""
    from emostyle.app.engine import SharedAnalyzer

    frame, big = _photo(640, 480, 0), _photo(4096, 3072, 1)
    trim_heap()
    mirror = SharedAnalyzer(model, threads=1)
    faces = len(mirror.analyze(frame).faces)
    before = settled_rss()
    page = SharedAnalyzer(model)
    page.analyze(frame)
    built = settled_rss()
    big_faces = len(page.analyze(big).faces)
    after = settled_rss()
    return {"rss_with_one_analyzer_mb": round(before, 1),
            "second_analyzer_mb": round(built - before, 1),
            "after_big_photo_mb": round(after - built, 1),
            "faces": [faces, big_faces]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default", help="bundled model name or .onnx file")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=RESULT)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.model)))
        return
    runs = []
    for i in range(args.repeats):
        out = subprocess.run([sys.executable, __file__, "--child", "--model", args.model],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"run {i + 1}: {runs[-1]}")
    keys = ("rss_with_one_analyzer_mb", "second_analyzer_mb", "after_big_photo_mb")
    result = {"model": args.model, "repeats": args.repeats, "runs": runs,
              "median": {k: statistics.median(r[k] for r in runs) for k in keys},
              "machine": platform.processor() or platform.machine(),
              "command": f"python benchmarks/analyzer_memory.py --model {args.model} "
                         f"--repeats {args.repeats}"}
    tmp = args.json.with_suffix(".json.part")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(args.json)
    print(f"median: {result['median']}; wrote {args.json}")


if __name__ == "__main__":
    main()
