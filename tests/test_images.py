"""Reading and writing pictures: every awkward file kind, on small pictures made in tmp_path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from emostyle.errors import ImageReadError, InputError
from emostyle.images import (
    encode_image,
    expand_inputs,
    read_image,
    to_rgb_array,
    write_encoded,
    write_image,
)

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
ORIENTATION = 0x0112  # EXIF tag


def close(pixel: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(rgb)) <= tol))


def red_on_top(width: int = 60, height: int = 40) -> Image.Image:
    """An upright picture whose content says which way is up: red top half, blue bottom half."""
    arr = np.zeros((height, width, 3), np.uint8)
    arr[: height // 2] = RED
    arr[height // 2:] = BLUE
    return Image.fromarray(arr)


def exif_with(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif


def random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def real_jpeg(path: Path) -> Path:
    Image.fromarray(random_rgb(96, 128)).save(path, quality=90)
    return path


# --- read_image: pictures that must come back as upright RGB uint8 -----------------------------

def test_plain_rgb_round_trips_exactly(tmp_path: Path) -> None:
    arr = random_rgb(37, 53)
    Image.fromarray(arr).save(tmp_path / "a.png")
    got = read_image(tmp_path / "a.png")
    assert got.dtype == np.uint8 and got.shape == (37, 53, 3)
    assert np.array_equal(got, arr)
    assert got.flags.writeable and got.flags.c_contiguous  # drawn on in place by cv2


def test_png_alpha_is_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[:, 0] = (200, 30, 40, 0)      # fully transparent: reads as white, whatever its colour
    rgba[:, 1] = (200, 30, 40, 255)    # opaque: keeps its colour
    rgba[:, 2] = (0, 0, 0, 128)        # half transparent black over white: mid grey
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    got = read_image(tmp_path / "alpha.png")
    assert got.shape == (2, 3, 3)
    assert (got[:, 0] == 255).all()
    assert (got[:, 1] == (200, 30, 40)).all()
    assert np.abs(got[:, 2].astype(int) - 127).max() <= 1


def test_gray_alpha_png_is_composited_over_white(tmp_path: Path) -> None:
    la = np.array([[[10, 0], [10, 255]]], np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    got = read_image(tmp_path / "la.png")
    assert got.tolist() == [[[255, 255, 255], [10, 10, 10]]]


def test_16bit_gray_png_is_scaled_to_8_bits(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32768, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I;16")  # really a 16-bit file
    got = read_image(tmp_path / "deep.png")
    assert got.dtype == np.uint8 and got.shape == (1, 4, 3)
    assert got[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (got == got[:, :, :1]).all()  # gray stays gray


def test_dark_16bit_png_is_not_brightened(tmp_path: Path) -> None:
    """A 16-bit picture whose values all happen to be <= 255 is nearly black, not white."""
    Image.fromarray(np.full((4, 4), 200, np.uint16)).save(tmp_path / "dark.png")
    assert read_image(tmp_path / "dark.png").max() <= 1


def test_cmyk_jpeg_comes_back_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (32, 24), (0, 255, 255, 0))  # pure red in CMYK
    cmyk.paste((255, 0, 0, 0), (16, 0, 32, 24))            # cyan on the right half
    cmyk.save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    got = read_image(tmp_path / "cmyk.jpg")
    assert got.shape == (24, 32, 3)
    assert close(got[12, 4], RED, tol=30)
    assert close(got[12, 28], (0, 255, 255), tol=30)


@pytest.mark.parametrize("orientation, stored_turn", [
    (6, Image.Transpose.ROTATE_90),   # stored turned 90 deg anticlockwise; shown turned back
    (8, Image.Transpose.ROTATE_270),  # stored turned 90 deg clockwise
])
def test_exif_rotated_jpeg_is_turned_upright(tmp_path: Path, orientation: int,
                                             stored_turn: Image.Transpose) -> None:
    path = tmp_path / f"rot{orientation}.jpg"
    red_on_top(60, 40).transpose(stored_turn).save(path, exif=exif_with(orientation), quality=95)
    with Image.open(path) as raw:  # the file itself holds the sideways picture
        assert raw.size == (40, 60) and raw.getexif()[ORIENTATION] == orientation
    got = read_image(path)
    assert got.shape == (40, 60, 3)
    assert close(got[5, 30], RED) and close(got[35, 30], BLUE)   # red half on top
    assert close(got[5, 2], RED) and close(got[5, 57], RED)      # across the whole width
    assert got.flags.c_contiguous and got.flags.writeable


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    arr = random_rgb(5, 7, seed=orientation)  # not square, no symmetry: every turn differs
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(arr).save(path, exif=exif_with(orientation))
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    got = read_image(path)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)
    assert got.flags.c_contiguous


def test_grayscale_becomes_three_equal_channels(tmp_path: Path) -> None:
    gray = np.arange(0, 240, 10, dtype=np.uint8).reshape(4, 6)
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    got = read_image(tmp_path / "gray.png")
    assert got.shape == (4, 6, 3)
    for c in range(3):
        assert np.array_equal(got[:, :, c], gray)


def test_palette_with_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (4, 2), 0)
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)  # index 0 red, 1 green
    pal.paste(1, (2, 0, 4, 2))                            # right half green
    pal.save(tmp_path / "pal.png", transparency=0)        # index 0 is transparent
    with Image.open(tmp_path / "pal.png") as check:
        assert check.mode == "P" and "transparency" in check.info
    got = read_image(tmp_path / "pal.png")
    assert (got[:, :2] == 255).all()                      # transparent red -> white
    assert (got[:, 2:] == GREEN).all()


def test_palette_gif_without_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (3, 3), 1)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.save(tmp_path / "pal.gif")
    assert (read_image(tmp_path / "pal.gif") == BLUE).all()


def test_one_pixel_image(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1), (10, 20, 30)).save(tmp_path / "dot.png")
    got = read_image(tmp_path / "dot.png")
    assert got.shape == (1, 1, 3) and got[0, 0].tolist() == [10, 20, 30]


# --- read_image: files that are not pictures -----------------------------------------------

def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(ImageReadError, match=r"empty\.jpg: empty file \(0 bytes\)"):
        read_image(path)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: eggs, milk\n")
    with pytest.raises(ImageReadError, match=r"notes\.jpg: not an image"):
        read_image(path)


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = real_jpeg(tmp_path / "whole.jpg").read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert read_image(tmp_path / "whole.jpg").shape == (96, 128, 3)  # the whole one is fine
    with pytest.raises(ImageReadError, match=r"half\.jpg: truncated or corrupt image"):
        read_image(path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.jpg: no such file or directory") as info:
        read_image(tmp_path / "nope.jpg")
    assert info.value.exit_code == 2


def test_directory_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "pics.jpg"
    folder.mkdir()
    with pytest.raises(InputError, match=r"pics\.jpg: is a directory"):
        read_image(folder)


def test_errors_carry_no_exception_chain(tmp_path: Path) -> None:
    """The CLI prints our errors as one line; Pillow's own exception is not attached."""
    path = tmp_path / "notes.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "\n" not in str(info.value)


# --- to_rgb_array on every Pillow mode -------------------------------------------------------

@pytest.mark.parametrize("mode", ["RGB", "L", "1", "P", "CMYK", "YCbCr", "RGBA", "LA", "HSV"])
def test_to_rgb_array_matches_pillow_convert(mode: str) -> None:
    src = Image.fromarray(random_rgb(11, 9)).convert(mode)
    expected = np.asarray(src.convert("RGB"))  # every pixel opaque: same as Pillow's convert
    for rows in (512, 4):  # whole picture in one strip, and strips that split it unevenly
        got = to_rgb_array(src, rows=rows)
        assert got.shape == (11, 9, 3) and got.dtype == np.uint8
        assert np.abs(got.astype(int) - expected).max() <= 1


def test_to_rgb_array_strips_stitch_exactly() -> None:
    arr = random_rgb(10, 7)
    assert np.array_equal(to_rgb_array(Image.fromarray(arr), rows=3), arr)


def test_to_rgb_array_float_and_int32_modes() -> None:
    f = Image.fromarray(np.array([[-1.0, 0.0, 3.0]], np.float32), "F")
    assert to_rgb_array(f)[0, :, 0].tolist() == [0, 64, 255]     # min..max -> 0..255
    i16 = Image.fromarray(np.array([[0, 1000, 65535]], np.int32), "I")
    assert to_rgb_array(i16)[0, :, 0].tolist() == [0, 4, 255]    # 16-bit data in mode I
    i8 = Image.fromarray(np.array([[0, 100, 255]], np.int32), "I")
    assert to_rgb_array(i8)[0, :, 0].tolist() == [0, 100, 255]   # 8-bit data in mode I


# --- write_image ------------------------------------------------------------------------------

def test_write_image_round_trip_and_leaves_nothing_else(tmp_path: Path) -> None:
    arr = random_rgb(20, 30)
    out = write_image(arr, tmp_path / "sub" / "out.png")
    assert out == tmp_path / "sub" / "out.png"
    assert np.array_equal(read_image(out), arr)
    jpg = write_image(arr, tmp_path / "sub" / "out.jpg")
    assert read_image(jpg).shape == (20, 30, 3)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["out.jpg", "out.png"]


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_encoded_elsewhere_and_written_here_is_the_same_file(tmp_path: Path, suffix: str
                                                             ) -> None:
    """A Ray worker encodes, the driver writes: the file is write_image's, byte for byte."""
    arr = random_rgb(40, 30)
    direct = write_image(arr, tmp_path / f"direct{suffix}")
    shipped = write_encoded(encode_image(arr, suffix), tmp_path / "sub" / f"shipped{suffix}")
    assert shipped.read_bytes() == direct.read_bytes()
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == [shipped.name]


def test_write_encoded_never_replaces_unasked(tmp_path: Path) -> None:
    target = tmp_path / "out.jpg"
    target.write_bytes(b"the user's")
    with pytest.raises(InputError, match="already exists"):
        write_encoded(encode_image(random_rgb(4, 4), ".jpg"), target, overwrite=False)
    assert target.read_bytes() == b"the user's"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]
    with pytest.raises(InputError, match=r"out\.txt: unsupported output format"):
        write_encoded(b"x", tmp_path / "out.txt")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_write_image_gives_the_usual_file_mode(tmp_path: Path) -> None:
    """Atomic writes must not make outputs private (mkstemp's 0600)."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    out = write_image(random_rgb(4, 4), tmp_path / "out.png")
    assert out.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_write_image_unsupported_suffix_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"out\.txt: unsupported output format \.txt"):
        write_image(random_rgb(4, 4), tmp_path / "out.txt")
    with pytest.raises(InputError, match=r"unsupported output format \(none\)"):
        write_image(random_rgb(4, 4), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_write_image_failure_keeps_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    old = random_rgb(6, 6)
    write_image(old, target)
    with pytest.raises(TypeError):  # Pillow cannot store a complex array
        write_image(np.zeros((6, 6, 3), np.complex64), target)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert np.array_equal(read_image(target), old)


def test_write_image_disk_error_mid_write_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_then_full_disk(self: Image.Image, fp, *args, **kwargs) -> None:  # noqa: ANN001
        fp.write(b"\x89PNG\r\n\x1a\n partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", half_then_full_disk)
    with pytest.raises(InputError, match=r"out\.png: cannot write \(No space left on device\)"):
        write_image(random_rgb(4, 4), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_write_image_onto_a_directory_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "out.jpg").mkdir()
    with pytest.raises(InputError, match=r"out\.jpg: is a directory"):
        write_image(random_rgb(4, 4), tmp_path / "out.jpg")
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]
    assert list((tmp_path / "out.jpg").iterdir()) == []


def test_write_image_output_folder_blocked_by_a_file(tmp_path: Path) -> None:
    (tmp_path / "annotated").write_text("a file, not a folder")
    with pytest.raises(InputError, match=r"annotated: cannot create output folder"):
        write_image(random_rgb(4, 4), tmp_path / "annotated" / "out.png")


# --- expand_inputs ----------------------------------------------------------------------------

@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """photos/ with images at two depths, hidden files and folders, and a non-image."""
    root = tmp_path / "photos"
    for rel in ("b.jpg", "a.PNG", "notes.txt", ".hidden.jpg", "sub/c.webp", "sub/deeper/d.tif",
                ".cache/e.jpg", "sub/.thumbs/f.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    return root


def test_expand_folder_recursive_sorted_hidden_skipped(tree: Path) -> None:
    files, problems = expand_inputs([tree])
    assert problems == []
    assert [p.relative_to(tree).as_posix() for p in files] == [
        "a.PNG", "b.jpg", "sub/c.webp", "sub/deeper/d.tif"]


def test_expand_files_are_kept_whatever_their_suffix(tree: Path) -> None:
    """A file named explicitly is the user's choice; read_image says if it is no picture."""
    files, problems = expand_inputs([tree / "b.jpg", str(tree / "notes.txt")])
    assert files == [tree / "b.jpg", tree / "notes.txt"] and problems == []


def test_expand_relative_glob(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    files, problems = expand_inputs(["*.jpg", "sub/*.webp", "**/*.tif", "**/f.png"])
    # like a shell glob: .hidden.jpg and sub/.thumbs/f.png are not matched
    assert [p.as_posix() for p in files] == ["b.jpg", "sub/c.webp", "sub/deeper/d.tif"]
    assert problems == [(Path("**/f.png"), "pattern matches no files")]


def test_expand_absolute_glob_skips_folders(tree: Path) -> None:
    files, problems = expand_inputs([str(tree / "s*"), str(tree / "*.PNG")])
    assert files == [tree / "a.PNG"]  # "sub" matched s* but is a folder
    assert problems == [(tree / "s*", "pattern matches no files")]


def test_expand_missing_paths_and_empty_folders_are_problems(tree: Path, tmp_path: Path
                                                             ) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    only_text = tmp_path / "docs"
    only_text.mkdir()
    (only_text / "readme.md").write_text("no pictures here")
    (only_text / ".secret.jpg").write_bytes(b"x")  # hidden: does not count
    files, problems = expand_inputs([tmp_path / "gone.jpg", empty, only_text, tree / "b.jpg",
                                     str(tmp_path / "*.gif")])
    assert files == [tree / "b.jpg"]
    assert [(p.name, why.split(" (")[0]) for p, why in problems] == [
        ("gone.jpg", "no such file or directory"),
        ("empty", "folder holds no images"),
        ("docs", "folder holds no images"),
        ("*.gif", "pattern matches no files"),
    ]
    assert ".jpg" in problems[1][1]  # the reason lists the suffixes looked for


def test_expand_nothing_given() -> None:
    assert expand_inputs([]) == ([], [])


def test_expand_returns_the_image_of_a_real_folder(tmp_path: Path) -> None:
    real_jpeg(tmp_path / "x.jpg")
    files, _ = expand_inputs([os.fspath(tmp_path)])
    assert [read_image(f).shape for f in files] == [(96, 128, 3)]
