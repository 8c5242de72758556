"""Video fps and folder throughput on 2 cores; memory over a 10,000-picture folder run.

    python benchmarks/bench_video_batch.py [--frames 150] [--pictures 10000]

Inputs are generated from examples/astronaut.jpg: a 640x480 video with one moving face, and a
folder of 640x480 JPEGs with one face each (hard links to one file, so 10,000 cost no disk).
Writes benchmarks/results/video_batch.json. Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from emostyle.images import read_image, write_image
from emostyle.pipeline import Analyzer
from emostyle.video import process_video

ROOT = Path(__file__).resolve().parents[1]


def scene(head: np.ndarray, x: int) -> np.ndarray:
    canvas = np.full((480, 640, 3), 110, np.uint8)
    canvas[120:360, x:x + 230] = head
    return canvas


def make_video(path: Path, head: np.ndarray, frames: int) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
    for i in range(frames):
        w.write(cv2.cvtColor(scene(head, 40 + (i * 3) % 360), cv2.COLOR_RGB2BGR))
    w.release()


def rss_over_run(folder: Path, out: Path) -> dict:
    """Run `emostyle analyze FOLDER -o OUT` and sample its RSS every 0.5 s."""
    cmd = [sys.executable, "-m", "emostyle", "analyze", str(folder), "-o", str(out)]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss = int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1])
            done = sum(1 for _ in open(out)) if out.exists() else 0
            samples.append((round(time.time() - t0, 1), done, rss // 1024))
        except (OSError, StopIteration):
            pass
        time.sleep(0.5)
    seconds = time.time() - t0
    lines = sum(1 for _ in open(out))
    late = [s for s in samples if s[1] >= lines * 0.1]
    return {"pictures": lines, "seconds": seconds, "images_per_s": lines / seconds,
            "rss_mib_at_10pct": late[0][2] if late else None,
            "rss_mib_max": max(s[2] for s in samples) if samples else None,
            "rss_mib_last": samples[-1][2] if samples else None,
            "samples_every_10": samples[::10]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--pictures", type=int, default=10000)
    args = ap.parse_args()
    photo = read_image(ROOT / "examples" / "astronaut.jpg")
    head = cv2.resize(photo[20:260, 110:340], (230, 240))
    results: dict = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = tmp / "clip.mp4"
        make_video(video, head, args.frames)
        analyzer = Analyzer()
        r = process_video(video, tmp / "out.mp4", analyzer)
        results["video_analyze_fps"] = r.fps
        from emostyle.stylizer import Stylizer

        r = process_video(video, tmp / "out_styled.mp4", analyzer, Stylizer())
        results["video_analyze_stylize_fps"] = r.fps
        results["video_flicker"] = r.flicker
        folder = tmp / "pics"
        folder.mkdir()
        first = write_image(scene(head, 200), folder / "p00000.jpg")
        for i in range(1, args.pictures):
            os.link(first, folder / f"p{i:05d}.jpg")
        results["folder"] = rss_over_run(folder, tmp / "out.jsonl")
    for k, v in results.items():
        print(k, json.dumps(v)[:300])
    out = ROOT / "benchmarks" / "results" / "video_batch.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
