"""Regenerate src/emostyle/assets/emoji/*.png from the Noto Color Emoji font.

    apt-get install fonts-noto-color-emoji && python scripts/render_emoji.py
"""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from emostyle.emotions import EMOJI, EMOTIONS
from emostyle.uncertainty import UNCERTAIN_MARK

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
OUT = Path(__file__).resolve().parents[1] / "src" / "emostyle" / "assets" / "emoji"

font = ImageFont.truetype(FONT, 109)  # CBDT bitmap fonts only render at their native size
for name, char in [*((e, EMOJI[e]) for e in EMOTIONS), ("uncertain", UNCERTAIN_MARK)]:
    canvas = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), char, font=font, embedded_color=True)
    glyph = canvas.crop(canvas.getbbox()).resize((96, 96), Image.LANCZOS)
    glyph.save(OUT / f"{name}.png", optimize=True)
    print(OUT / f"{name}.png")
