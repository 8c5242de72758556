"""Reading and writing pictures safely.

Every image enters emostyle through :func:`read_image` and leaves through :func:`write_image`, so
the awkward cases - EXIF rotation, alpha, grayscale, 16-bit, CMYK, huge, empty, truncated, not an
image at all - are handled once. Pixels inside emostyle are RGB uint8 (H, W, 3), the order Pillow
decodes to, which avoids a full-size channel swap of large photos.
"""

from __future__ import annotations

import glob
import io
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from emostyle.errors import ImageReadError, InputError
from emostyle.outputs import commit, random_hex

# Suffix -> Pillow format name. Spelled out rather than asked of Pillow: its
# registered_extensions() imports every image plugin (~50 ms for a 1 ms JPEG encode).
WRITE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP",
                 ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF"}
IMAGE_SUFFIXES = frozenset(WRITE_FORMATS)

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
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
            pixels = to_rgb_array(img)
            # Free Pillow's copy (4 bytes a pixel) before turning ours: a 12000x9000 photo
            # would otherwise hold three full-size copies at once.
            img.close()
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image (unrecognised file format)") from None
    except OSError as exc:
        reason = "truncated or corrupt image" if "truncat" in str(exc).lower() else str(exc)
        raise ImageReadError(f"{path}: {reason}") from None
    except (ValueError, SyntaxError) as exc:  # Pillow raises these for some malformed headers
        raise ImageReadError(f"{path}: corrupt image ({exc})") from None
    return upright(pixels, orientation)


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an (H, W, C) array as EXIF ``orientation`` says (what ``exif_transpose`` does).

    Done on our array rather than on the Pillow image, whose copy would cost 4 bytes a pixel.
    """
    turned = {  # how the file stores the picture -> what turns it back
        2: lambda a: a[:, ::-1],                 # mirrored left-right
        3: lambda a: a[::-1, ::-1],              # upside down
        4: lambda a: a[::-1],                    # mirrored top-bottom
        5: lambda a: a.transpose(1, 0, 2),       # mirrored along the main diagonal
        6: lambda a: np.rot90(a, -1),            # turned anticlockwise: turn it clockwise
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the other diagonal
        8: lambda a: np.rot90(a, 1),             # turned clockwise: turn it anticlockwise
    }.get(orientation)
    return pixels if turned is None else np.ascontiguousarray(turned(pixels))


def to_rgb_array(img: Image.Image, rows: int = 512) -> np.ndarray:
    """Any Pillow mode -> RGB uint8; alpha is composited over white, 16-bit scaled to 8-bit.

    The conversion runs strip by strip into one preallocated array, so the peak is Pillow's
    decoded image plus the result: a whole-image ``convert`` or ``np.array`` would add one or
    two more full-size copies.
    """
    mode = img.mode
    if mode.startswith("I;16"):
        # 16-bit grayscale: Pillow keeps full precision; scale rather than clip to 8 bits.
        strip_to_rgb = _gray_scaler(0.0, 65535.0)
    elif mode == "I":  # 32-bit integer: 16-bit data when any value needs more than 8 bits
        _, hi = img.getextrema()
        strip_to_rgb = _gray_scaler(0.0, 65535.0 if hi > 255 else 255.0)
    elif mode == "F":
        lo, hi = img.getextrema()
        strip_to_rgb = _gray_scaler(float(lo), float(hi))
    elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            mode == "P" and "transparency" in img.info):
        strip_to_rgb = _over_white
    elif mode == "RGB":
        strip_to_rgb = np.asarray
    else:
        def strip_to_rgb(strip: Image.Image) -> np.ndarray:
            return np.asarray(strip.convert("RGB"))
    w, h = img.size
    arr = np.empty((h, w, 3), dtype=np.uint8)
    for y in range(0, h, rows):
        strip = img.crop((0, y, w, min(h, y + rows)))
        arr[y:y + strip.height] = strip_to_rgb(strip)
    return arr


def _gray_scaler(lo: float, hi: float) -> Callable[[Image.Image], np.ndarray]:
    """A strip converter mapping gray values ``lo..hi`` linearly to 0..255, shape (h, w, 1)."""
    scale = 255.0 / (hi - lo or 1.0)

    def to_gray(strip: Image.Image) -> np.ndarray:
        arr = np.asarray(strip, dtype=np.float32)
        return np.clip((arr - lo) * scale + 0.5, 0, 255).astype(np.uint8)[:, :, None]

    return to_gray


def _over_white(strip: Image.Image) -> np.ndarray:
    """An image with transparency composited over white, as RGB uint8."""
    rgba = np.asarray(strip.convert("RGBA"), dtype=np.uint16)
    alpha = rgba[:, :, 3:]
    return ((rgba[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def write_image(image: np.ndarray, path: str | Path, quality: int = 92,
                overwrite: bool = True) -> Path:
    """Write an RGB uint8 array atomically (temp file + rename): never a half-written file.

    Raises :class:`InputError` naming the file when it cannot be written (unsupported suffix,
    a folder in the way, no permission, disk full); nothing is left behind then. With
    ``overwrite=False`` an existing file at ``path`` is never replaced (an error instead).
    """
    path = Path(path)
    fmt = _write_format(path)
    return _write_atomic(path, lambda fh: _save(image, fh, fmt, quality, named=True), overwrite)


def encode_image(image: np.ndarray, suffix: str, quality: int = 92) -> bytes:
    """The bytes :func:`write_image` would write for a file ending in ``suffix``.

    For work done elsewhere (a Ray worker) and written here with :func:`write_encoded`: the
    file is the same, byte for byte.
    """
    buffer = io.BytesIO()
    _save(image, buffer, _write_format(Path(f"picture{suffix}")), quality, named=False)
    return buffer.getvalue()


def write_encoded(data: bytes, path: str | Path, overwrite: bool = True) -> Path:
    """Write a picture :func:`encode_image` made, atomically, as :func:`write_image` does."""
    path = Path(path)
    _write_format(path)
    return _write_atomic(path, lambda fh: fh.write(data), overwrite)


def _write_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"{path}: unsupported output format {suffix or '(none)'}; "
                         f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    return WRITE_FORMATS[suffix]


def _save(image: np.ndarray, fh: BinaryIO, fmt: str, quality: int, named: bool) -> None:
    """``named``: ``fh`` is a file whose suffix tells Pillow the format. Told a format instead,
    Pillow first imports its five common plugins (20 ms for a 2 ms JPEG); a buffer has no name."""
    params = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(image).save(fh, **({} if named else {"format": fmt}), **params)


def _write_atomic(path: Path, save: Callable[[BinaryIO], object], overwrite: bool) -> Path:
    """Create ``path`` through a temporary file beside it that ``save`` fills, then rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path.parent}: cannot create output folder ({exc.strerror})") from None
    if path.is_dir():
        raise InputError(f"{path}: is a directory, cannot write the picture there")
    # A hidden temp file beside the target, so the rename is atomic. Its name ends in the
    # target's suffix, which tells Pillow the format (see _save). Opened exclusively ("x") with
    # the mode a plain open() gives (0o666, umask applied), not mkstemp's private 0600.
    tmp = path.parent / f".{path.stem}.{random_hex(6)}.tmp{path.suffix.lower()}"
    try:
        fh = open(tmp, "xb")  # closed (with) before the rename
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with fh:
            save(fh)
        commit(tmp, path, overwrite)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
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
            # glob.glob, not Path.glob: like a shell it skips hidden files, as folders do here
            matches = [Path(m) for m in sorted(glob.glob(str(item), recursive=True))
                       if Path(m).is_file()]
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
