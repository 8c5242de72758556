"""Memory of the photo page's process over a series of phone-size uploads (RSS, in MB).

    python benchmarks/app_memory.py [--uploads 10] [--size 4000x3000] [--json out.json]

Runs the real photo page (``emostyle/app/main.py``) in Streamlit's ``AppTest`` inside this
process - the page's own caches, session state and media files, as in ``emostyle app`` - and
uploads ``--uploads`` different JPEGs one after the other: generated photos of ``--size`` px
(noise, shapes and the example astronaut, so every one has a face to read and paint). After each
upload it reads this process's RSS from ``/proc/self/status`` (and the peak of that upload, via
``/proc/self/clear_refs``); then the upload is removed and the page rerun, as when the user
clears it. ``idle`` is the start page before any upload; ``libraries`` is what importing the
libraries the first upload brings in (Altair and pandas for the charts, ONNX Runtime) adds to
it, once per process. Prints a table and writes ``benchmarks/results/app_memory.json``
(``--json`` for another file); ``--undo arena`` or ``--undo trim`` measures the page without
one of its memory fixes. With ``PYTHONPATH`` on an older checkout's ``src`` it measures
that code with the same photos (``benchmarks/results/app_memory_before.json``).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "astronaut.jpg"
RESULT = ROOT / "benchmarks" / "results" / "app_memory.json"


def status_mb(field: str) -> float:
    """A ``Vm*`` line of ``/proc/self/status`` in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> bool:
    """Restart VmHWM from the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def trim_heap() -> None:
    """glibc's ``malloc_trim(0)``, here directly, so the script measures code without it too."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass


def settled_rss() -> float:
    gc.collect()
    return status_mb("VmRSS")


def phone_photo(width: int, height: int, seed: int) -> bytes:
    """A JPEG like a phone's: texture, shapes and a face, different for every ``seed``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width * 200, y / height * 200, (x + y) / (width + height) * 255], -1)
    image = np.clip(base + rng.normal(0, 12, (height, width, 1)), 0, 255).astype(np.uint8)
    for _ in range(30):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(height // 40, height // 8))
        if rng.random() < 0.5:
            cv2.circle(image, (cx, cy), r, color, -1)
        else:
            cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), color, -1)
    face = cv2.cvtColor(cv2.imread(str(EXAMPLE)), cv2.COLOR_BGR2RGB)
    side = min(width, height) // 2
    face = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    fx, fy = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
    image[fy:fy + side, fx:fx + side] = face
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def undo(fix: str) -> None:
    """Take one of the memory fixes out, before the page is first run (``--undo``)."""
    from emostyle.app import engine

    if fix == "arena":
        from emostyle.stylizer import Stylizer

        engine.load_stylizer = lambda model="styles": Stylizer(model)
    else:  # the page imports release_freed_memory when it first runs, after this
        import emostyle.memory

        emostyle.memory.release_freed_memory = lambda: False


def measure(uploads: int, width: int, height: int) -> dict:
    from streamlit.testing.v1 import AppTest

    from emostyle.app import server

    photos = [phone_photo(width, height, seed) for seed in range(uploads)]
    # Making them leaves freed heap behind; without this, idle would vary by ~40 MB a run.
    trim_heap()
    at = AppTest.from_file(str(server.MAIN_SCRIPT), default_timeout=900)
    at.run()
    assert not at.exception, at.exception
    idle = settled_rss()
    import altair  # noqa: F401 - what the first upload imports anyway, measured on its own
    import pandas  # noqa: F401

    import emostyle.stylizer  # noqa: F401 - and ONNX Runtime with it
    libraries = settled_rss() - idle
    peaks_ok = reset_peak()
    rows = []
    for i, data in enumerate(photos):
        reset_peak()
        t0 = time.perf_counter()
        at.file_uploader(key="upload").set_value((f"phone_{i}.jpg", data, "image/jpeg"))
        at.run()
        seconds = time.perf_counter() - t0
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        painted = any("Painted" in b.label for b in at.get("download_button"))
        rows.append({"upload": i + 1, "jpeg_mb": round(len(data) / 1e6, 2),
                     "rss_mb": round(settled_rss(), 1),
                     "peak_mb": round(status_mb("VmHWM"), 1) if peaks_ok else None,
                     "seconds": round(seconds, 1), "painted": painted})
        print(f"upload {i + 1:2d}: {rows[-1]['jpeg_mb']:.1f} MB JPEG, RSS "
              f"{rows[-1]['rss_mb']:7.1f} MB, peak {rows[-1]['peak_mb']} MB, "
              f"{seconds:.1f} s", flush=True)
    shown = settled_rss()
    at.file_uploader(key="upload").set_value(None)
    at.run()
    assert not at.exception, at.exception
    cleared = settled_rss()
    return {
        "what": f"photo page in AppTest, {uploads} uploads of {width}x{height} JPEGs",
        "command": shlex.join(["python", "benchmarks/app_memory.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "idle_rss_mb": round(idle, 1),
        "libraries_mb": round(libraries, 1),
        "peak_rss_mb": round(max([r["peak_mb"] or 0 for r in rows] + [status_mb("VmHWM")]),
                             1),
        "after_uploads_rss_mb": round(shown, 1),
        "after_uploads_over_idle_mb": round(shown - idle, 1),
        "after_clear_rss_mb": round(cleared, 1),
        "after_clear_over_idle_mb": round(cleared - idle, 1),
        "after_clear_over_idle_and_libraries_mb": round(cleared - idle - libraries, 1),
        "uploads": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=10)
    ap.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of each photo")
    ap.add_argument("--json", type=Path, default=RESULT)
    ap.add_argument("--note", default="", help="what code was measured, kept in the JSON")
    ap.add_argument("--undo", choices=["arena", "trim"],
                    help="measure without one fix: the stylizer keeps ONNX Runtime's arena, or "
                         "the page does not malloc_trim")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.undo:
        undo(args.undo)
    result = measure(args.uploads, width, height)
    if args.note:
        result["note"] = args.note
    if args.undo:
        result["undone"] = args.undo
    r = result
    print(f"idle {r['idle_rss_mb']} MB, libraries +{r['libraries_mb']}, peak {r['peak_rss_mb']}"
          f" MB, after the uploads {r['after_uploads_rss_mb']} MB "
          f"(+{r['after_uploads_over_idle_mb']}), upload cleared {r['after_clear_rss_mb']} MB "
          f"(+{r['after_clear_over_idle_mb']}; "
          f"+{r['after_clear_over_idle_and_libraries_mb']} beside the libraries)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
