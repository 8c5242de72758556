"""Several live mirrors at once on localhost: per-client frames per second and reply latency.

Starts ``emostyle app`` on a free localhost port, then for 1, 2, 4 and 8 clients (``--clients``)
opens that many WebSockets to ``/mirror/ws``; each sends a 640x480 JPEG of the example, waits
for the reply and sends the next, like the page. Each step runs ``--seconds`` (default 6,
the first second not counted); the whole run is bounded by ``--limit`` seconds.

    python benchmarks/mirror_load.py [--seconds 6] [--clients 1 2 4 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = "import emostyle.cli_app; from emostyle.cli import main; main()"


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


def client(url: str, frame: bytes, warmup_until: float, stop_at: float, out: dict) -> None:
    from websockets.sync.client import connect

    latencies, server_ms, wait_ms, notices = [], [], [], []
    with connect(url, open_timeout=30, max_size=None) as ws:
        while (now := time.monotonic()) < stop_at:
            ws.send(frame)
            reply = json.loads(ws.recv(timeout=60))
            while "notice" in reply:
                notices.append(reply["notice"])
                reply = json.loads(ws.recv(timeout=60))
            if now >= warmup_until and "ms" in reply:
                latencies.append(time.monotonic() - now)
                server_ms.append(reply["ms"])
                wait_ms.append(reply["wait_ms"])
    span = stop_at - warmup_until
    out.update(fps=len(latencies) / span, latency_ms=1000 * statistics.median(latencies),
               p90_ms=1000 * sorted(latencies)[int(0.9 * (len(latencies) - 1))],
               server_ms=statistics.median(server_ms), wait_ms=statistics.median(wait_ms),
               notice=bool(notices))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--limit", type=float, default=180.0, help="stop the whole run after this")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    img = cv2.imread(str(ROOT / "examples" / "astronaut.jpg"))
    frame = cv2.imencode(".jpg", cv2.resize(img, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 80]
                         )[1].tobytes()
    port = free_port()
    started = time.monotonic()
    proc = start_app(port)
    url = f"ws://localhost:{port}/mirror/ws"
    rows = []
    try:
        for n in args.clients:
            if time.monotonic() - started + args.seconds > args.limit:
                print(f"stopping: --limit {args.limit:.0f} s reached")
                break
            now = time.monotonic()
            results = [{} for _ in range(n)]
            threads = [threading.Thread(target=client, args=(url, frame, now + 1.0,
                                                             now + args.seconds, r))
                       for r in results]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            fps = [r["fps"] for r in results]
            row = {"clients": n, "fps_per_client_min": min(fps), "fps_per_client_max": max(fps),
                   "fps_total": sum(fps),
                   "latency_ms": statistics.median(r["latency_ms"] for r in results),
                   "latency_p90_ms": max(r["p90_ms"] for r in results),
                   "server_ms": statistics.median(r["server_ms"] for r in results),
                   "wait_ms": statistics.median(r["wait_ms"] for r in results),
                   "told_busy": sum(r["notice"] for r in results)}
            rows.append(row)
            print(f"{n} client(s): {row['fps_per_client_min']:.1f}-"
                  f"{row['fps_per_client_max']:.1f} fps each ({row['fps_total']:.1f} total), "
                  f"latency {row['latency_ms']:.0f} ms (p90 {row['latency_p90_ms']:.0f}), "
                  f"server {row['server_ms']:.0f} ms + queued {row['wait_ms']:.0f} ms, "
                  f"{row['told_busy']} told busy", flush=True)
    finally:
        proc.terminate()
        proc.wait(15)
    if args.json:
        args.json.write_text(json.dumps({"seconds": args.seconds, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
