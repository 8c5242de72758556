"""Two ways to write H.264: OpenCV's MPEG-4 Part 2 then an ffmpeg transcode, or raw frames
piped to ffmpeg (what :class:`emostyle.video.VideoWriter` does). Wall time, CPU time, size.

    python benchmarks/bench_video_writer.py [--frames 100] [--size 1280x720] [--repeats 3]

Frames: examples/astronaut.jpg scaled to the size, shifted 4 px a frame. Both ways use the
writer's own x264 settings (emostyle.video.H264). Prints one line per repeat and writes
benchmarks/results/video_writer.json. The best of the repeats counts (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from emostyle.images import read_image
from emostyle.video import COLOUR, COLOUR_FILTER, H264, QUIET, VideoWriter, ffmpeg_exe

ROOT = Path(__file__).resolve().parents[1]


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def transcode(frames: list[np.ndarray], fps: float, out: Path) -> None:
    """OpenCV writes mp4v, ffmpeg re-encodes it: two encodes, the second after the last frame."""
    h, w = frames[0].shape[:2]
    tmp = out.with_name("mp4v_" + out.name)
    cv = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        cv.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    cv.release()
    subprocess.run([ffmpeg_exe(), *QUIET, "-i", str(tmp), "-vf", COLOUR_FILTER, *H264,
                    "-pix_fmt", "yuv420p", *COLOUR, "-movflags", "+faststart", str(out)],
                   check=True, capture_output=True)
    tmp.unlink()


def pipe(frames: list[np.ndarray], fps: float, out: Path) -> None:
    h, w = frames[0].shape[:2]
    writer = VideoWriter(out, fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.finish()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    base = cv2.resize(read_image(ROOT / "examples" / "astronaut.jpg"), (w, h))
    frames = [np.roll(base, 4 * i, axis=1) for i in range(args.frames)]
    results: dict[str, list[dict]] = {"transcode": [], "pipe": []}
    with tempfile.TemporaryDirectory() as d:
        for rep in range(args.repeats):
            for name, fn in (("transcode", transcode), ("pipe", pipe)):
                out = Path(d) / f"{name}{rep}.mp4"
                t0, c0 = time.perf_counter(), time.process_time() + child_cpu()
                fn(frames, 25.0, out)
                wall = time.perf_counter() - t0
                cpu = time.process_time() + child_cpu() - c0
                results[name].append({"wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                                      "kb": out.stat().st_size // 1024})
                print(f"{name:9s} {args.size} x {args.frames}: wall {wall:.2f} s, "
                      f"cpu {cpu:.2f} s, {out.stat().st_size // 1024} KB", flush=True)
    best = {k: min(v, key=lambda r: r["wall_s"]) for k, v in results.items()}
    doc = {"frames": args.frames, "size": args.size, "x264": H264, "best": best,
           "runs": results}
    dest = ROOT / "benchmarks" / "results" / "video_writer.json"
    dest.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print("best:", json.dumps(best))


if __name__ == "__main__":
    main()
