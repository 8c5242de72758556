"""Whole-photo analysis speed against the `fer` package's default pipeline, in one alternating run.

    python benchmarks/bench_vs_fer.py --fer-python /work/venv-fer/bin/python \
        [--model default] [--threads 2] [--rounds 5] [--repeats 10] [--warmup 3] \
        [--pause 0.5] [--pause-rounds 3] [--pause-repeats 5] [--limit 300] [--out FILE]
    python benchmarks/bench_vs_fer.py --self-check     # the emostyle worker alone, one call

Two worker processes load their models once and then time the requests the parent sends them:
emostyle's (this interpreter, ``Analyzer(model, threads=...).analyze(rgb)`` as in
bench_analyze.py) and fer's (``--fer-python``, ``FER(mtcnn=False).detect_emotions(bgr)``: fer's
default pipeline, OpenCV's Haar cascade and its TFLite emotion model; fer reads pictures as
OpenCV does, BGR). The pictures, bench_analyze.py's ``scene()`` (640x480 with one face,
1920x1080 with one and with eight), are written once as PNG to a temporary folder and each worker
decodes them once, so both see the same pixels; only the analysis call is timed. After a warm-up,
each round runs, for each picture, a block of ``--repeats`` calls of one tool and then of the
other, emostyle first in even rounds and fer first in odd ones. Reported per picture: medians and
p90 of both, fer/emostyle, faces found, the CPU time per call (worker process, all threads), and
the first call of each block (which follows the other tool's block: a pause) against the rest.

The pause study then times emostyle alone, in one fresh worker per setting: ``--pause-repeats``
calls back to back against as many each after ``time.sleep(--pause)``, with ONNX Runtime on 2
threads or 1, OpenCV's threads as they are or ``cv2.setNumThreads(1)``, and ONNX Runtime's idle
workers not spinning (``use="command"``). If ONNX Runtime's spinning workers and OpenCV's
detector threads contend for 2 cores, back-to-back calls are the slower ones and the difference
goes away with one thread on either side or without spinning. ``detect_ms`` is YuNet's share.
(They did, on 2026-12-07, and since then ``Analyzer`` opens its emotion model without spinning:
the study's settings other than ``ort2_nospin`` put a spinning one in its place. Later that day
YuNet moved to ONNX Runtime too, its workers never spinning, so OpenCV's threads now do only
the resizes and crops; ``vs_fer_default_before.json`` keeps the run from before both changes.)

The run stops starting new rounds near ``--limit`` seconds (half of it for the comparison when the
pause study runs). Results: benchmarks/results/vs_fer_<model>.json (``--out`` elsewhere), with the
CPU model, cores, load average, versions on both sides (onnxruntime, opencv, fer, tensorflow) and
the command. Run it on an otherwise idle machine.

fer is a peer, never a dependency of ours: install it in a side venv. fer 25.10.3 requires
facenet-pytorch (MTCNN, unused by the default pipeline), which pins torch<2.3 and pulls the CUDA
wheels, and ``tensorflow``; the recipe below takes tensorflow-cpu and leaves facenet-pytorch out:

    python3 -m venv /work/venv-fer
    /work/venv-fer/bin/pip install tensorflow-cpu==2.21.0
    /work/venv-fer/bin/pip install --no-deps fer==25.10.3
    /work/venv-fer/bin/pip install matplotlib opencv-contrib-python pandas "tqdm>=4.62.1" \
        "moviepy>=1.0.3,<2.0" "ffmpeg-python>=0.2.0" Pillow

(``pip check`` then names tensorflow and facenet-pytorch as missing: expected. Installing
torch 2.14.1 first does not help, facenet-pytorch 2.6.0 wants torch<2.3 all the same.)
"""

from __future__ import annotations

# Only the standard library up here: fer's worker runs this file with the side venv's python,
# which has neither emostyle nor onnxruntime.
import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import select
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("emostyle", "fer")
# name -> (width, height, faces), as bench_analyze.py's whole-picture cases
PICTURES = {"640x480_1face": (640, 480, 1), "1920x1080_1face": (1920, 1080, 1),
            "1920x1080_8face": (1920, 1080, 8)}
PAUSE_PICTURES = ("640x480_1face", "1920x1080_1face")
# setting -> (ONNX Runtime threads, OpenCV threads or None for OpenCV's own, the emotion
# model's session use: "service" spins, ONNX Runtime's default and what `Analyzer` used before
# 2026-12-07; "command" does not, what `Analyzer` uses now; "auto", the comparison's, is
# whatever `Analyzer` chooses)
PAUSE_SETTINGS = {"ort2": (2, None, "service"), "ort2_cv1": (2, 1, "service"),
                  "ort1": (1, None, "service"), "ort1_cv1": (1, 1, "service"),
                  "ort2_nospin": (2, None, "command")}
START_TIMEOUT_S = 300.0


class BenchError(Exception):
    """A problem the run cannot go on from; main() prints it as one line."""


# --- the plan and the statistics (pure: tested without either worker) -----------------------

def schedule(rounds: int, pictures: Sequence[str]) -> list[tuple[int, str, tuple[str, str]]]:
    """Run order: per round, per picture, both tools; emostyle first in even rounds, fer in odd."""
    return [(r, pic, TOOLS if r % 2 == 0 else TOOLS[::-1])
            for r in range(rounds) for pic in pictures]


def p90(values: Sequence[float]) -> float:
    """bench_analyze.py's p90: the sorted value at int(0.9 n) - 1 (the only one for n = 1)."""
    ordered = sorted(values)
    return ordered[max(0, int(0.9 * len(ordered)) - 1)]


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _stats(times: Sequence[float]) -> dict:
    return {"median_ms": statistics.median(times), "p90_ms": p90(times), "n": len(times)}


def _faces(blocks: Sequence[dict]) -> int | list[int]:
    found = sorted({b["faces"] for b in blocks})
    return found[0] if len(found) == 1 else found


def summarize(blocks: Sequence[dict], pictures: Sequence[str]) -> dict:
    """Per picture and tool: median, p90, first call of a block against the rest, medians when
    the tool ran first or second in its pair, CPU per call, faces; and fer/emostyle.

    ``blocks``: dicts with picture, tool, position (0: ran first in its pair), times_ms and
    faces; cpu_ms and detect_ms (lists like times_ms) are used when present.
    """
    out: dict = {}
    for pic in pictures:
        entry: dict = {}
        for tool in TOOLS:
            mine = [b for b in blocks if b["picture"] == pic and b["tool"] == tool]
            if not mine:
                continue
            s = _stats([t for b in mine for t in b["times_ms"]])
            s["first_in_block_median_ms"] = _median([b["times_ms"][0] for b in mine])
            s["rest_median_ms"] = _median([t for b in mine for t in b["times_ms"][1:]])
            for pos, when in ((0, "first"), (1, "second")):
                s[f"median_ms_when_{when}"] = _median(
                    [t for b in mine if b["position"] == pos for t in b["times_ms"]])
            for key in ("cpu_ms", "detect_ms"):
                if all(b.get(key) for b in mine):
                    s[f"{key}_median"] = _median([t for b in mine for t in b[key]])
            s["faces_found"] = _faces(mine)
            s["blocks"] = len(mine)
            entry[tool] = s
        if len(entry) == 2:
            entry["ratio_fer_over_emostyle"] = (entry["fer"]["median_ms"]
                                                / entry["emostyle"]["median_ms"])
        out[pic] = entry
    return out


def summarize_pause(records: Sequence[dict]) -> dict:
    """Per setting and picture: back-to-back calls against calls after a pause, and their ratio.

    ``records``: dicts with setting, picture, mode ("back_to_back" or "paused"), times_ms,
    faces; cpu_ms and detect_ms used when present.
    """
    out: dict = {}
    for rec in records:
        out.setdefault(rec["setting"], {}).setdefault(rec["picture"], {}).setdefault(
            rec["mode"], []).append(rec)
    for pics in out.values():
        for pic, modes in pics.items():
            entry: dict = {}
            for mode, recs in modes.items():
                s = _stats([t for r in recs for t in r["times_ms"]])
                for key in ("cpu_ms", "detect_ms"):
                    if all(r.get(key) for r in recs):
                        s[f"{key}_median"] = _median([t for r in recs for t in r[key]])
                s["faces_found"] = _faces(recs)
                entry[mode] = s
            if {"back_to_back", "paused"} <= entry.keys():
                entry["paused_over_back_to_back"] = (entry["paused"]["median_ms"]
                                                     / entry["back_to_back"]["median_ms"])
            pics[pic] = entry
    return out


# --- the workers ------------------------------------------------------------------------------

def _serve(folder: Path, read: Callable, analyze: Callable, ready: dict) -> None:
    """Answer timing requests on stdin, one JSON line each way, until EOF or {"quit": true}.

    A request: picture (file stem in ``folder``), repeats, warmup (untimed calls first), pause
    (seconds slept before each timed call). The answer: times_ms and cpu_ms per call, faces
    found, and detect_ms when ``analyze`` reports it. Libraries that print would garble the
    answers, so the protocol keeps the real stdout and everything else goes to stderr.
    """
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def answer(msg: dict) -> None:
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    answer(ready)
    pictures: dict = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            break
        try:
            name = req["picture"]
            if name not in pictures:
                pictures[name] = read(folder / f"{name}.png")
            image = pictures[name]
            for _ in range(req.get("warmup", 0)):
                analyze(image)
            times, cpus, detects, faces = [], [], [], 0
            for _ in range(req["repeats"]):
                if req.get("pause"):
                    time.sleep(req["pause"])
                c0, t0 = time.process_time(), time.perf_counter()
                faces, detect_ms = analyze(image)
                times.append((time.perf_counter() - t0) * 1000)
                cpus.append((time.process_time() - c0) * 1000)
                if detect_ms is not None:
                    detects.append(detect_ms)
            answer({"times_ms": times, "cpu_ms": cpus, "detect_ms": detects, "faces": faces})
        except Exception as exc:  # tell the parent, which stops the run with this line
            answer({"error": f"{type(exc).__name__}: {exc}"})
            break


class _TimedDetector:
    """Wraps the Analyzer's face finder to note how long each ``detect`` took."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.last_ms = 0.0

    def detect(self, image):
        t0 = time.perf_counter()
        found = self.inner.detect(image)
        self.last_ms = (time.perf_counter() - t0) * 1000
        return found

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def emostyle_worker(folder: Path, model: str, threads: int, cv_threads: int | None,
                    use: str) -> None:
    t0 = time.perf_counter()
    import cv2
    import numpy
    import onnxruntime

    import emostyle
    from emostyle.classifier import EmotionClassifier
    from emostyle.images import read_image
    from emostyle.pipeline import Analyzer

    if cv_threads is not None:
        cv2.setNumThreads(cv_threads)
    analyzer = Analyzer(model, threads=threads or None)
    if use != "auto":  # the pause study chooses how the emotion model's workers wait
        analyzer.classifier = EmotionClassifier(model, threads=threads or None, use=use)
    timed = _TimedDetector(analyzer.detector)
    analyzer.detector = timed

    def analyze(rgb):
        return len(analyzer.analyze(rgb).faces), timed.last_ms

    ready = {"tool": "emostyle", "load_s": time.perf_counter() - t0, "model": model,
             "card_name": analyzer.classifier.name, "ort_threads": threads or None,
             "cv_threads": cv2.getNumThreads(), "use": use, "package": emostyle.__file__,
             "versions": {"onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__,
                          "numpy": numpy.__version__, "python": platform.python_version()}}
    _serve(folder, read_image, analyze, ready)


def fer_worker(folder: Path) -> None:
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import cv2
            import numpy
            try:
                from fer import FER
            except ImportError:  # fer 25.10.3's __init__ no longer exports FER
                from fer.fer import FER
            import fer
            import tensorflow
            detector = FER(mtcnn=False)
    except ImportError as exc:
        print(json.dumps({"error": f"cannot import fer with {sys.executable} ({exc}); install "
                          "it in a side venv (see benchmarks/bench_vs_fer.py)"}), flush=True)
        sys.exit(1)

    def versions() -> dict:
        from importlib.metadata import PackageNotFoundError, version

        found = {"fer": fer.__version__, "tensorflow": tensorflow.__version__,
                 "opencv": cv2.__version__, "numpy": numpy.__version__,
                 "python": platform.python_version()}
        for dist in ("tensorflow", "tensorflow-cpu", "opencv-contrib-python",
                     "opencv-python", "opencv-python-headless", "facenet-pytorch"):
            with contextlib.suppress(PackageNotFoundError):
                found[f"dist:{dist}"] = version(dist)
        return found

    def analyze(bgr):
        return len(detector.detect_emotions(bgr)), None

    # one line per warning: TensorFlow's are long
    seen = sorted({" ".join(str(w.message).split())[:200] for w in caught})
    ready = {"tool": "fer", "load_s": time.perf_counter() - t0,
             "pipeline": "FER(mtcnn=False).detect_emotions(bgr): Haar cascade + TFLite",
             "cv_threads": cv2.getNumThreads(), "versions": versions(), "warnings": seen}
    _serve(folder, cv2.imread, analyze, ready)


class Worker:
    """A worker process and its request/answer pipe (answers waited for with a timeout)."""

    def __init__(self, label: str, argv: list[str], env: dict, log: Path) -> None:
        self.label, self.log = label, log
        with open(log, "w") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, text=True, env=env)
        self.ready = self._answer(START_TIMEOUT_S)

    def _last_log_line(self) -> str:
        lines = [ln.strip() for ln in self.log.read_text(errors="replace").splitlines()
                 if ln.strip()]
        return lines[-1] if lines else "nothing on stderr"

    def _answer(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise BenchError(f"{self.label} worker gave no answer in {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            rc = self.proc.wait(timeout=10)
            raise BenchError(f"{self.label} worker exited ({rc}): {self._last_log_line()}")
        msg = json.loads(line)
        if "error" in msg:
            self.close()
            raise BenchError(f"{self.label} worker: {msg['error']}")
        return msg

    def ask(self, picture: str, repeats: int, warmup: int = 0, pause: float = 0.0,
            timeout: float = START_TIMEOUT_S) -> dict:
        req = {"picture": picture, "repeats": repeats, "warmup": warmup, "pause": pause}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._answer(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _script_argv(python: str, folder: Path, tool: str, *extra: str) -> list[str]:
    return [python, str(Path(__file__).resolve()), "--worker", tool, "--folder", str(folder),
            *extra]


def start_emostyle(stack: contextlib.ExitStack, folder: Path, model: str, threads: int,
                   cv_threads: int | None = None, use: str = "auto",
                   label: str = "emostyle") -> Worker:
    """emostyle's worker on this interpreter, importing emostyle from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    extra = ["--model", model, "--threads", str(threads), "--use", use]
    if cv_threads is not None:
        extra += ["--cv-threads", str(cv_threads)]
    worker = Worker(label, _script_argv(sys.executable, folder, "emostyle", *extra), env,
                    folder / f"{label}.log")
    stack.callback(worker.close)
    return worker


def check_fer_python(fer_python: str | None) -> str:
    if not fer_python:
        raise BenchError("give --fer-python, the python of a side venv with fer installed "
                         "(recipe in benchmarks/bench_vs_fer.py)")
    path = Path(fer_python)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BenchError(f"--fer-python {fer_python}: no such python; make the side venv "
                         "(recipe in benchmarks/bench_vs_fer.py)")
    return str(path)


def start_fer(stack: contextlib.ExitStack, folder: Path, fer_python: str) -> Worker:
    """fer's worker on the side venv's python; our PYTHONPATH is not passed on."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    worker = Worker("fer", _script_argv(fer_python, folder, "fer"), env, folder / "fer.log")
    stack.callback(worker.close)
    return worker


# --- the run ----------------------------------------------------------------------------------

def write_pictures(folder: Path, names: Sequence[str]) -> None:
    """bench_analyze.py's scenes, as lossless PNG both workers decode."""
    import cv2

    spec = importlib.util.spec_from_file_location("bench_analyze",
                                                  ROOT / "benchmarks" / "bench_analyze.py")
    bench_analyze = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_analyze)
    from emostyle.images import read_image

    head = read_image(ROOT / "examples" / "astronaut.jpg")[20:260, 110:340]
    for name in names:
        w, h, n = PICTURES[name]
        rgb = bench_analyze.scene(w, h, n, head)
        if not cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise BenchError(f"cannot write {folder / name}.png")


def machine() -> dict:
    cpu, flags = platform.processor() or platform.machine(), set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    isa = next((f for f in ("avx512f", "avx2") if f in flags), None)
    return {"cpu": cpu, "isa": isa, "cores": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "loadavg_start": list(os.getloadavg())}


def _block(answer: dict, **keys) -> dict:
    """One block's answer as kept in the result file (times to the microsecond)."""
    return {**keys, **{k: [round(t, 3) for t in answer[k]]
                       for k in ("times_ms", "cpu_ms", "detect_ms")}, "faces": answer["faces"]}


def compare(emo: Worker, fer: Worker, args: argparse.Namespace, deadline: float) -> dict:
    workers = {"emostyle": emo, "fer": fer}
    # warm-up: --warmup calls per picture (at least one, which also tells the faces found)
    warm = {tool: {pic: w.ask(pic, 1, warmup=max(0, args.warmup - 1))["faces"]
                   for pic in PICTURES} for tool, w in workers.items()}
    blocks, rounds_done, round_s = [], 0, 0.0
    plan = schedule(args.rounds, list(PICTURES))
    for r in range(args.rounds):
        if r and time.monotonic() + round_s > deadline:
            break
        t0 = time.monotonic()
        for rnd, pic, order in plan:
            if rnd != r:
                continue
            for position, tool in enumerate(order):
                answer = workers[tool].ask(pic, args.repeats)
                blocks.append(_block(answer, round=r, picture=pic, tool=tool,
                                     position=position))
        rounds_done, round_s = r + 1, time.monotonic() - t0
    return {"warmup_faces": warm, "rounds_done": rounds_done,
            "stopped_early": rounds_done < args.rounds,
            "pictures": summarize(blocks, list(PICTURES)), "blocks": blocks}


def pause_study(stack: contextlib.ExitStack, folder: Path, args: argparse.Namespace,
                deadline: float) -> dict:
    workers = {name: start_emostyle(stack, folder, args.model, threads, cv, use,
                                    label=f"emostyle_{name}")
               for name, (threads, cv, use) in PAUSE_SETTINGS.items()}
    for w in workers.values():
        for pic in PAUSE_PICTURES:
            w.ask(pic, 1, warmup=max(0, args.warmup - 1))
    records, rounds_done, round_s = [], 0, 0.0
    names = list(workers)
    for r in range(args.pause_rounds):
        if r and time.monotonic() + round_s > deadline:
            break
        t0 = time.monotonic()
        for name in names[r % len(names):] + names[:r % len(names)]:
            modes = ("back_to_back", "paused") if r % 2 == 0 else ("paused", "back_to_back")
            for pic in PAUSE_PICTURES:
                for mode in modes:
                    # back to back: one untimed call first, so the timed ones follow a call
                    answer = workers[name].ask(
                        pic, args.pause_repeats, warmup=int(mode == "back_to_back"),
                        pause=args.pause if mode == "paused" else 0.0)
                    records.append(_block(answer, round=r, setting=name, picture=pic,
                                          mode=mode))
        rounds_done, round_s = r + 1, time.monotonic() - t0
    settings = {name: {k: w.ready[k] for k in ("ort_threads", "cv_threads", "use")}
                for name, w in workers.items()}
    return {"settings": settings,
            "pause_s": args.pause, "rounds_done": rounds_done,
            "results": summarize_pause(records), "records": records}


def _fmt(v: float | None) -> str:
    return "    -" if v is None else f"{v:7.1f}"


def report(results: dict) -> None:
    print(f"{'picture':16s} {'emostyle ms (p90)':>19s} {'fer ms (p90)':>19s} {'fer/emo':>8s}"
          f"  faces e/f   emostyle first/rest in block  cpu ms e/f")
    for pic, entry in results["comparison"]["pictures"].items():
        e, f = entry["emostyle"], entry["fer"]
        print(f"{pic:16s} {e['median_ms']:9.1f} ({e['p90_ms']:7.1f}) {f['median_ms']:9.1f}"
              f" ({f['p90_ms']:7.1f}) {entry['ratio_fer_over_emostyle']:7.2f}x"
              f"  {e['faces_found']!s:>4}/{f['faces_found']!s:<4}"
              f"  {_fmt(e['first_in_block_median_ms'])} / {_fmt(e['rest_median_ms'])}"
              f"              {_fmt(e.get('cpu_ms_median'))} / {_fmt(f.get('cpu_ms_median'))}")
    study = results.get("pause_study")
    if not study:
        return
    print(f"\nemostyle alone, back to back against after a {study['pause_s']} s pause "
          f"({study['rounds_done']} rounds):")
    print(f"{'setting':12s} {'picture':16s} {'b2b ms':>8s} {'paused':>8s} {'ratio':>6s}"
          f"  {'detect b2b/paused':>18s}  {'cpu b2b/paused':>16s}")
    for name, pics in study["results"].items():
        for pic, entry in pics.items():
            b, p = entry["back_to_back"], entry["paused"]
            print(f"{name:12s} {pic:16s} {b['median_ms']:8.1f} {p['median_ms']:8.1f}"
                  f" {entry['paused_over_back_to_back']:6.2f}"
                  f"  {_fmt(b.get('detect_ms_median'))} /{_fmt(p.get('detect_ms_median'))}"
                  f"  {_fmt(b.get('cpu_ms_median'))} /{_fmt(p.get('cpu_ms_median'))}")


def self_check(args: argparse.Namespace) -> int:
    """The emostyle worker for real on the 640x480 one-face picture: one call, checked."""
    pic = "640x480_1face"
    with tempfile.TemporaryDirectory(prefix="bench_vs_fer_") as tmp, \
            contextlib.ExitStack() as stack:
        folder = Path(tmp)
        write_pictures(folder, [pic])
        worker = start_emostyle(stack, folder, args.model, args.threads)
        answer = worker.ask(pic, 1)
    ok = (answer["faces"] == PICTURES[pic][2] and len(answer["times_ms"]) == 1
          and all(math.isfinite(t) and t > 0 for t in answer["times_ms"]))
    print(json.dumps({"picture": pic, "ok": ok, **answer, "ready": worker.ready}))
    return 0 if ok else 1


def run(args: argparse.Namespace) -> dict:
    fer_python = check_fer_python(args.fer_python)
    start = time.monotonic()
    share = 0.5 if args.pause_rounds else 1.0
    results: dict = {"command": shlex.join(["python", *sys.argv]),
                     "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
                     "settings": {k: getattr(args, k) for k in (
                         "model", "threads", "rounds", "repeats", "warmup", "pause",
                         "pause_rounds", "pause_repeats", "limit")}}
    with tempfile.TemporaryDirectory(prefix="bench_vs_fer_") as tmp, \
            contextlib.ExitStack() as stack:
        folder = Path(tmp)
        write_pictures(folder, list(PICTURES))
        fer = start_fer(stack, folder, fer_python)  # first: the likelier one to fail
        emo = start_emostyle(stack, folder, args.model, args.threads)
        results["emostyle"], results["fer"] = emo.ready, fer.ready
        results["comparison"] = compare(emo, fer, args, start + share * args.limit)
        emo.close()
        fer.close()
        if args.pause_rounds and time.monotonic() < start + args.limit:
            results["pause_study"] = pause_study(stack, folder, args, start + args.limit)
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["elapsed_s"] = time.monotonic() - start
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fer-python", help="python of a side venv with fer installed")
    ap.add_argument("--model", default="default", help="emostyle model name or .onnx path")
    ap.add_argument("--threads", type=int, default=2,
                    help="ONNX Runtime threads for emostyle (0: its default)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=10, help="timed calls per block")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls per picture first")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds before a paused call")
    ap.add_argument("--pause-rounds", type=int, default=3, help="0: no pause study")
    ap.add_argument("--pause-repeats", type=int, default=5)
    ap.add_argument("--limit", type=float, default=300.0,
                    help="seconds after which no new round starts")
    ap.add_argument("--out", type=Path, help="result file (default benchmarks/results/...)")
    ap.add_argument("--self-check", action="store_true",
                    help="run the emostyle worker once on one picture and check its answer")
    ap.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cv-threads", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--use", default="auto", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker == "emostyle":
        emostyle_worker(args.folder, args.model, args.threads, args.cv_threads, args.use)
        return
    if args.worker == "fer":
        fer_worker(args.folder)
        return
    if min(args.rounds, args.repeats) < 1 or min(args.warmup, args.pause_rounds) < 0 \
            or args.pause_rounds and args.pause_repeats < 1:
        ap.error("--rounds, --repeats and --pause-repeats must be at least 1")
    try:
        if args.self_check:
            sys.exit(self_check(args))
        results = run(args)
    except BenchError as exc:
        sys.exit(f"bench_vs_fer: {exc}")
    report(results)
    out = args.out or ROOT / "benchmarks" / "results" / f"vs_fer_{Path(args.model).stem}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
