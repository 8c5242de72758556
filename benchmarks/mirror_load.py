"""Several live mirrors at once on localhost: per-client frames per second and reply latency.

Starts ``emostyle app`` on a free localhost port, then for 1, 2, 4 and 8 clients (``--clients``)
opens that many WebSockets to ``/mirror/ws``; each sends a 640x480 JPEG of the example, waits
for the reply and sends the next, like the page. Each step runs ``--seconds`` (default 6,
the first second not counted); the whole run is bounded by ``--limit`` seconds.

``--uploads`` adds a step where photo uploads share the machine with ``--uploads K`` mirrors
(2 without a number): the mirrors stream throughout while the run alternates ``--seconds``
without uploads, uploads back to back for at least ``--seconds``, and ``--seconds`` without
again, and compares the mirrors in the three stretches. The uploads are real ones, in the
app's own process: ``benchmarks/photo_upload.py`` uploads to the photo page over Streamlit's
protocol as a browser does, so each runs the whole page (decode, analysis, painting, the
download files) on phone-size JPEGs (``--upload-size``, default 4000x3000, made by
``app_memory.phone_photo``; two of them, alternated, so no upload is the page's cached
previous one). A first upload, not counted, loads the page's models. A client sends its next
frame as soon as a reply comes, so its longest gap between replies is about its longest
latency. ``--clients`` with no number skips the 1/2/4/8 sweep.

    python benchmarks/mirror_load.py [--seconds 6] [--clients 1 2 4 8] [--uploads [K]]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = "import emostyle.cli_app; from emostyle.cli import main; main()"
FRAME_INTERVAL_MS = 100  # the mirror page asks for 10 frames per second


class LimitReached(Exception):
    """The next piece of work would run past ``--limit``."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "app", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"PYTHONPATH": str(ROOT / "src")})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("emostyle app did not start within 90 s")


@dataclass(frozen=True)
class Reply:
    sent: float  # time.monotonic() when the frame went out
    received: float
    server_ms: float  # the frame's own work in the app
    wait_ms: float  # and its wait for the mirror's analyser


@dataclass
class Stream:
    """What one simulated mirror received: a reply per analysed frame, and any notice."""

    replies: list[Reply]
    notices: list[str]


def stream(url: str, frame: bytes, stop: threading.Event, out: Stream) -> None:
    """Send ``frame``, wait for the reply, send again, until ``stop`` is set."""
    from websockets.sync.client import connect

    with connect(url, open_timeout=30, max_size=None) as ws:
        while not stop.is_set():
            sent = time.monotonic()
            ws.send(frame)
            reply = json.loads(ws.recv(timeout=60))
            while "notice" in reply:
                out.notices.append(reply["notice"])
                reply = json.loads(ws.recv(timeout=60))
            if "ms" in reply:
                out.replies.append(Reply(sent, time.monotonic(), reply["ms"], reply["wait_ms"]))


def streaming(url: str, frame: bytes, clients: int) -> tuple[list[Stream], threading.Event,
                                                              list[threading.Thread]]:
    streams = [Stream([], []) for _ in range(clients)]
    stop = threading.Event()
    threads = [threading.Thread(target=stream, args=(url, frame, stop, s)) for s in streams]
    for t in threads:
        t.start()
    return streams, stop, threads


def window(s: Stream, start: float, end: float) -> dict:
    """One client's frames sent in ``[start, end)``: rate, latency and longest gap, in ms."""
    inside = [r for r in s.replies if start <= r.sent < end]
    if not inside:
        return {"fps": 0.0}
    ms = sorted(1000 * (r.received - r.sent) for r in inside)
    gaps = [1000 * (b.received - a.received)
            for a, b in itertools.pairwise(s.replies) if start <= b.sent < end]
    server = [r.server_ms for r in inside]
    return {"fps": len(inside) / (end - start), "latency_ms": statistics.median(ms),
            "p90_ms": ms[int(0.9 * (len(ms) - 1))], "p95_ms": ms[int(0.95 * (len(ms) - 1))],
            "max_ms": ms[-1], "longest_gap_ms": max(gaps, default=ms[-1]),
            "server_ms": statistics.median(server), "server_max_ms": max(server),
            "wait_ms": statistics.median(r.wait_ms for r in inside),
            "wait_max_ms": max(r.wait_ms for r in inside)}


def clients_step(url: str, frame: bytes, n: int, seconds: float) -> dict:
    """``n`` mirrors for ``seconds``, the first one not counted."""
    streams, stop, threads = streaming(url, frame, n)
    start = time.monotonic()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    results = [window(s, start + 1.0, start + seconds) for s in streams]
    fps = [r["fps"] for r in results]
    row = {"clients": n, "fps_per_client_min": min(fps), "fps_per_client_max": max(fps),
           "fps_total": sum(fps),
           "latency_ms": statistics.median(r["latency_ms"] for r in results),
           "latency_p90_ms": max(r["p90_ms"] for r in results),
           "server_ms": statistics.median(r["server_ms"] for r in results),
           "wait_ms": statistics.median(r["wait_ms"] for r in results),
           "told_busy": sum(bool(s.notices) for s in streams)}
    print(f"{n} client(s): {row['fps_per_client_min']:.1f}-"
          f"{row['fps_per_client_max']:.1f} fps each ({row['fps_total']:.1f} total), "
          f"latency {row['latency_ms']:.0f} ms (p90 {row['latency_p90_ms']:.0f}), "
          f"server {row['server_ms']:.0f} ms + queued {row['wait_ms']:.0f} ms, "
          f"{row['told_busy']} told busy", flush=True)
    return row


def uploads_step(port: int, url: str, frame: bytes, clients: int, seconds: float,
                 size: tuple[int, int], deadline: float) -> dict:
    """``clients`` mirrors through three stretches: no uploads, uploads, no uploads.

    Raises :class:`LimitReached` (the step is dropped) when it cannot finish by ``deadline``.
    """
    from app_memory import phone_photo
    from photo_upload import PhotoPage

    photos = [phone_photo(*size, seed) for seed in range(2)]
    left = deadline - time.monotonic()
    if left < 3 * seconds + 5:
        raise LimitReached
    page = PhotoPage(port, timeout=left)
    streams, stop, threads = streaming(url, frame, clients)
    uploads = []
    try:
        warmup = page.upload("phone_0.jpg", photos[0])  # loads the page's models
        time.sleep(1.0)  # and the mirrors have had their first frames
        marks = [time.monotonic()]
        time.sleep(seconds)
        marks.append(time.monotonic())
        while not uploads or time.monotonic() < marks[1] + seconds:
            if time.monotonic() + max([warmup, *uploads]) + seconds > deadline:
                if not uploads:
                    raise LimitReached
                break
            i = len(uploads) + 1
            uploads.append(page.upload(f"phone_{i}.jpg", photos[i % 2]))
        marks.append(time.monotonic())
        time.sleep(seconds)
        marks.append(time.monotonic())
    except TimeoutError:
        raise LimitReached from None
    finally:
        stop.set()
        for t in threads:
            t.join()
        page.close()
    phases = []
    for name, start, end in zip(("before", "uploads", "after"), marks[:-1], marks[1:],
                                strict=True):
        each = [window(s, start, end) for s in streams]
        phases.append({"phase": name, "seconds": round(end - start, 2), "clients": each})
    result = {"clients": clients, "upload_size": "x".join(map(str, size)),
              "warmup_upload_s": round(warmup, 2), "upload_s": [round(u, 2) for u in uploads],
              "phases": phases}
    report_uploads(result)
    return result


def report_uploads(result: dict) -> None:
    print(f"{result['clients']} mirror(s) and {result['upload_size']} photo uploads (first, "
          f"not counted: {result['warmup_upload_s']:.1f} s; then "
          f"{', '.join(f'{u:.1f}' for u in result['upload_s'])} s):")
    worst = {}
    for phase in result["phases"]:
        each = phase["clients"]
        if not all("latency_ms" in c for c in each):
            print(f"  {phase['phase']:>7}: a mirror got no reply in {phase['seconds']:.1f} s")
            worst[phase["phase"]] = float("inf")
            continue
        worst[phase["phase"]] = max(c["longest_gap_ms"] for c in each)
        print(f"  {phase['phase']:>7} ({phase['seconds']:.1f} s): "
              f"{min(c['fps'] for c in each):.1f}-{max(c['fps'] for c in each):.1f} fps each, "
              f"latency {statistics.median(c['latency_ms'] for c in each):.0f} ms "
              f"(p95 {max(c['p95_ms'] for c in each):.0f}, "
              f"max {max(c['max_ms'] for c in each):.0f}), "
              f"longest gap {worst[phase['phase']]:.0f} ms, server "
              f"{statistics.median(c['server_ms'] for c in each):.0f} ms "
              f"(max {max(c['server_max_ms'] for c in each):.0f}) + queued at most "
              f"{max(c['wait_max_ms'] for c in each):.0f} ms", flush=True)
    without = max(worst["before"], worst["after"])
    print(f"  longest gap with uploads {worst['uploads']:.0f} ms, without {without:.0f} ms "
          f"(one frame interval is {FRAME_INTERVAL_MS} ms)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--clients", type=int, nargs="*", default=[1, 2, 4, 8],
                    help="mirror counts to sweep; with no number, no sweep")
    ap.add_argument("--uploads", type=int, nargs="?", const=2, metavar="K",
                    help="then K mirrors (2 without a number) beside photo uploads")
    ap.add_argument("--upload-size", default="4000x3000", help="WIDTHxHEIGHT of each photo")
    ap.add_argument("--limit", type=float, default=180.0, help="stop the whole run after this")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    size = tuple(int(v) for v in args.upload_size.lower().split("x"))
    img = cv2.imread(str(ROOT / "examples" / "astronaut.jpg"))
    frame = cv2.imencode(".jpg", cv2.resize(img, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 80]
                         )[1].tobytes()
    port = free_port()
    started = time.monotonic()
    deadline = started + args.limit
    proc = start_app(port)
    url = f"ws://localhost:{port}/mirror/ws"
    result = {"command": shlex.join(["python", "benchmarks/mirror_load.py", *sys.argv[1:]]),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "seconds": args.seconds, "rows": []}
    try:
        for n in args.clients:
            if time.monotonic() + args.seconds > deadline:
                print(f"stopping: --limit {args.limit:.0f} s reached")
                break
            result["rows"].append(clients_step(url, frame, n, args.seconds))
        if args.uploads:
            try:
                result["uploads"] = uploads_step(port, url, frame, args.uploads, args.seconds,
                                                 size, deadline)
            except LimitReached:
                print(f"no uploads step: it would not finish within --limit {args.limit:.0f} s")
    finally:
        proc.terminate()
        proc.wait(15)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
