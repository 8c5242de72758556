"""Reading and writing pictures safely.

Every image enters emostyle through :func:`read_image` and leaves through :func:`write_image`, so the
awkward cases - EXIF rotation, alpha, grayscale, 16-bit, CMYK, huge, empty, truncated, not an
image at all - are handled once. Pixels inside emostyle are RGB uint8 (H, W, 3), the order Pillow
decodes to, which avoids a full-size channel swap of large photos.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from emostyle.errors import ImageReadError, InputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})

# 12000 x 9000 photos are real (phone panoramas, medium format); beyond ~250 MP we refuse
# rather than risk memory, and say so instead of Pillow's "decompression bomb" message.
MAX_PIXELS = 250_000_000
Image.MAX_IMAGE_PIXELS = None  # we apply our own limit with a clearer message


def read_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` into an upright RGB uint8 array (H, W, 3).

    Raises :class:`InputError` for a missing path and :class:`ImageReadError` (naming the file
    and the problem) for anything that is not a decodable picture.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an image file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageReadError(
                    f"{path}: image is {w}x{h} ({w * h / 1e6:.0f} MP), larger than the "
                    f"{MAX_PIXELS / 1e6:.0f} MP limit")
            img.load()
            return to_rgb_array(ImageOps.exif_transpose(img))
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image (unrecognised file format)") from None
    except OSError as exc:
        reason = "truncated or corrupt image" if "truncat" in str(exc) else str(exc)
        raise ImageReadError(f"{path}: {reason}") from None
    except (ValueError, SyntaxError) as exc:  # Pillow raises these for some malformed headers
        raise ImageReadError(f"{path}: corrupt image ({exc})") from None


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> RGB uint8; alpha is composited over white, 16-bit scaled to 8-bit."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grayscale: Pillow keeps full precision; scale rather than clip to 8 bits.
        arr = np.asarray(img).astype(np.float32)
        top = 65535.0 if arr.max() > 255 else 255.0
        gray = np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        gray = ((arr - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return pil_to_array(img)


def pil_to_array(img: Image.Image, rows: int = 512) -> np.ndarray:
    """A writable (H, W, 3) copy of an RGB image, filled strip by strip.

    ``np.asarray(img)`` is read-only and ``np.array(img)`` briefly holds two full copies beside
    Pillow's own; strips keep the peak at Pillow's image plus one array.
    """
    w, h = img.size
    arr = np.empty((h, w, 3), dtype=np.uint8)
    for y in range(0, h, rows):
        strip = img.crop((0, y, w, min(h, y + rows)))
        arr[y:y + strip.height] = np.asarray(strip)
    return arr


def write_image(image: np.ndarray, path: str | Path, quality: int = 92) -> Path:
    """Write an RGB uint8 array atomically (temp file + rename): never a half-written file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"{path}: unsupported output format {suffix or '(none)'}; "
                         f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path.parent}: cannot create output folder ({exc.strerror})") from None
    fmt = Image.registered_extensions()[suffix]
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            params = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
            Image.fromarray(image).save(fh, format=fmt, **params)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Turn files, folders and glob patterns into image paths.

    Returns ``(images, problems)``: a folder contributes its image files (recursively, sorted);
    paths that do not exist, folders with no images and globs that match nothing go to
    ``problems`` with a reason, so a batch can go on and report them at the end.
    """
    found: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(iter_image_files(p))
            if not files:
                problems.append((p, "folder holds no images "
                                    f"({', '.join(sorted(IMAGE_SUFFIXES))})"))
            found.extend(files)
        elif p.exists():
            found.append(p)
        elif any(ch in str(item) for ch in "*?["):
            matches = sorted(Path().glob(str(item))) if not p.is_absolute() else sorted(
                Path(p.anchor).glob(str(p.relative_to(p.anchor))))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                problems.append((p, "pattern matches no files"))
            found.extend(matches)
        else:
            problems.append((p, "no such file or directory"))
    return found, problems


def iter_image_files(folder: Path) -> Iterator[Path]:
    """Image files under ``folder`` by suffix (hidden files and folders skipped)."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(root) / name
