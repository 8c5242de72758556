"""The README's explained face: where the default model looked on the example.

    python scripts/explain_figure.py [--model default] [--out docs/figures/explained_astronaut.png]

Left, a window of the picture (--window X Y SIDE, picture pixels) with the class activation map
warped onto it, as ``emostyle analyze --explain`` writes it in ``<stem>_explain.jpg``; right, the
aligned crop the classifier read with the same map (``<stem>_face1_explain.png``); both scaled
to --side px.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from emostyle.explain import explain, overlay_on_picture
from emostyle.images import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]


WINDOW = (130, 20, 200)  # x, y, side of the part of the picture shown on the left


def figure(photo: str | Path, model: str = "default", window: tuple[int, int, int] = WINDOW,
           side: int = 300):  # noqa: ANN201
    """(RGB figure, the face's FaceExplanation) for the first face of ``photo``."""
    image = read_image(photo)
    ex = explain(image, model=model)[0]
    x, y, w = window
    left = overlay_on_picture(image, [ex])[y:y + w, x:x + w]
    left = cv2.resize(left, (side, side), interpolation=cv2.INTER_CUBIC)
    return np.concatenate([left, ex.overlay(side)], axis=1), ex


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--photo", default=str(ROOT / "examples" / "astronaut.jpg"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures" / "explained_astronaut.png"))
    ap.add_argument("--window", type=int, nargs=3, default=WINDOW,
                    metavar=("X", "Y", "SIDE"), help="the part of the picture shown on the left")
    ap.add_argument("--side", type=int, default=300)
    args = ap.parse_args()
    picture, ex = figure(args.photo, args.model, tuple(args.window), args.side)
    write_image(picture, args.out)
    print(f"{args.out}: {ex.emotion} {ex.probability:.0%}")

if __name__ == "__main__":
    main()
