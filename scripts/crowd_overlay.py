"""The crowd figure in docs/: 20 faces annotated, labels laid out so that none hides another.

    python scripts/crowd_overlay.py [--out docs/figures/crowd_overlay.jpg]
    python scripts/crowd_overlay.py --photo ../shared/data/content/SOME_CROWD.jpg --out /tmp/x.jpg

By default the crowd is made from the public-domain NASA astronaut (examples/astronaut.jpg): 20
copies of his head and shoulders in four rows, smaller towards the back as in a photo of a
crowd (faces from about 20 to 90 px), some mirrored. So the figure may be shipped, unlike the
crowd photos of the shared content folder (COCO, from Flickr under their authors' licences),
which ``--photo`` annotates for a look but which are not committed. Faces are found and read by
the real pipeline (YuNet, the default emotion model); the script checks that no two labels
overlap and that all lie inside the picture, and prints how many faces got a full label and
how many the compact mark.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from emostyle.detection import DEFAULT_MIN_SCORE
from emostyle.images import read_image, write_image
from emostyle.overlay import draw_faces
from emostyle.pipeline import Analyzer

ROOT = Path(__file__).resolve().parents[1]
# (faces in the row, scale of the 220 x 210 px head-and-shoulders crop), back row first
ROWS = ((6, 0.24), (6, 0.34), (5, 0.55), (3, 0.8))


def synthetic_crowd() -> np.ndarray:
    """20 astronauts on a grey ground, back rows smaller and partly hidden by the front."""
    person = read_image(ROOT / "examples" / "astronaut.jpg")[30:250, 120:330]
    width = 960
    canvas = np.full((640, width, 3), (118, 124, 130), np.uint8)
    top, k = 12, 0
    for count, scale in ROWS:
        img = cv2.resize(person, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        step = (width - w) // max(1, count - 1) if count > 1 else 0
        for i in range(count):
            x = (width - w) // 2 if count == 1 else i * step
            canvas[top:top + h, x:x + w] = img[:, ::-1] if k % 2 else img
            k += 1
        top += int(0.62 * h)  # the next row stands in front, hiding these shoulders
    return canvas[:min(canvas.shape[0], top + h - int(0.62 * h))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", type=Path, help="annotate this picture instead of the crowd")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures" / "crowd_overlay.jpg")
    ap.add_argument("--model", default="default")
    ap.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE,
                    help="face detection score to keep (lower it for a crowd's small faces)")
    args = ap.parse_args()
    picture = read_image(args.photo) if args.photo else synthetic_crowd()
    # 1600 px for detection keeps the back rows' faces of a large photo findable.
    side = max(960, min(1600, max(picture.shape[:2])))
    analysis = Analyzer(args.model, min_score=args.min_score, detect_max_side=side).analyze(picture)
    out = picture.copy()
    labels = draw_faces(out, analysis.faces)
    h, w = out.shape[:2]
    rects = [lb.rect for lb in labels]
    inside = all(x >= 0 and y >= 0 and x + rw <= w and y + rh <= h for x, y, rw, rh in rects)
    clash = sum(min(a[0] + a[2], b[0] + b[2]) > max(a[0], b[0])
                and min(a[1] + a[3], b[1] + b[3]) > max(a[1], b[1])
                for i, a in enumerate(rects) for b in rects[i + 1:])
    write_image(out, args.out, quality=88, overwrite=True)
    full = sum(not lb.compact for lb in labels)
    print(f"{args.out}: {len(labels)} faces, {full} labels, {len(labels) - full} compact marks, "
          f"{sum(f.uncertain for f in analysis.faces)} uncertain; overlapping label pairs: "
          f"{clash}; all inside: {inside}")
    return 0 if inside and not clash else 1


if __name__ == "__main__":
    sys.exit(main())
