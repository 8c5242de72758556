"""How FER2013 frames a face relative to a YuNet box (sets the classifier's crop margin).

    python benchmarks/fer_crop_margin.py --data ../shared/data/fer2013.npz --face-model YUNET.onnx
    # -> benchmarks/results/fer_crop_margin.json (--out elsewhere)

Each 48x48 training face is padded by half its size (edge replicate, so YuNet sees the face
whole) and upscaled 3x; the ratio of the face's original extent to YuNet's longer box side, and
the box centre's offset, tell how to crop a photo so it matches the training data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from emostyle.faces import FaceDetector


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--face-model", default=None)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" /
                    "fer_crop_margin.json")
    args = ap.parse_args()
    d = np.load(args.data)
    faces = d["images"][d["usage"] == 0][: args.n]
    det = FaceDetector(args.face_model, min_score=0.5)
    ratio, dx, dy = [], [], []
    for face in faces:
        padded = cv2.copyMakeBorder(face, 24, 24, 24, 24, cv2.BORDER_REPLICATE)
        big = cv2.resize(padded, (288, 288), interpolation=cv2.INTER_CUBIC)
        found = det.detect(np.repeat(big[:, :, None], 3, axis=2))
        if not found:
            continue
        x, y, w, h = found[0].box
        ratio.append(144 / max(w, h))  # the original 48 px face is 144 px after 3x
        dx.append((x + w / 2 - 144) / 144)
        dy.append((y + h / 2 - 144) / 144)
    print(f"faces found: {len(ratio)}/{len(faces)}")
    print(f"FER2013 side / YuNet longer side: median {np.median(ratio):.3f} "
          f"(IQR {np.percentile(ratio, 25):.3f}-{np.percentile(ratio, 75):.3f})")
    print(f"box centre offset (fraction of side): x {np.median(dx):+.3f}, y {np.median(dy):+.3f}")
    print(f"=> crop_margin = {np.median(ratio) - 1:.2f}")
    result = {
        "command": "python benchmarks/fer_crop_margin.py --data ../shared/data/fer2013.npz"
                   + (f" --n {args.n}" if args.n != 3000 else ""),
        "faces": len(faces), "found": len(ratio),
        "side_ratio": {"median": round(float(np.median(ratio)), 4),
                       "p25": round(float(np.percentile(ratio, 25)), 4),
                       "p75": round(float(np.percentile(ratio, 75)), 4)},
        "centre_offset": {"x": round(float(np.median(dx)), 4), "y": round(float(np.median(dy)), 4)},
        "crop_margin": round(float(np.median(ratio)) - 1, 2),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
