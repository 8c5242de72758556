"""The style contact sheet in docs/: each emotion's style on three photos.

    python scripts/contact_sheet.py [--model styles] [--out docs/figures/style_contact_sheet.jpg]

The photos are scikit-image's bundled public-domain / CC0 pictures (astronaut, coffee, chelsea),
so the sheet may be shipped; `pip install scikit-image` provides them.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from emostyle.emotions import EMOTIONS
from emostyle.images import write_image
from emostyle.stylizer import Stylizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="styles")
    ap.add_argument("--out", default="docs/figures/style_contact_sheet.jpg")
    ap.add_argument("--side", type=int, default=256)
    args = ap.parse_args()
    import skimage.data as data

    photos = [data.astronaut(), data.coffee(), data.chelsea()]
    side = args.side
    tiles = [cv2.resize(p, (side, side * p.shape[0] // p.shape[1]), interpolation=cv2.INTER_AREA)
             for p in photos]
    stylizer = Stylizer(args.model)
    head = 28
    rows = []
    for tile in tiles:
        cells = [tile] + [stylizer.stylize(tile, style=e) for e in EMOTIONS]
        h = max(c.shape[0] for c in cells)
        rows.append(np.concatenate([np.pad(c, ((0, h - c.shape[0]), (0, 0), (0, 0)),
                                           constant_values=255) for c in cells], axis=1))
    sheet = np.concatenate(rows, axis=0)
    canvas = Image.new("RGB", (sheet.shape[1], sheet.shape[0] + head), "white")
    canvas.paste(Image.fromarray(sheet), (0, head))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=18)
    for i, name in enumerate(("photo",) + EMOTIONS):
        draw.text((i * side + 8, 4), name, fill="black", font=font)
    write_image(np.asarray(canvas), args.out, quality=88)
    print(args.out)


if __name__ == "__main__":
    main()
