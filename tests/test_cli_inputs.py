"""`emostyle analyze` on bad and awkward inputs: exit codes, one-line messages, no leftovers."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from emostyle.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"
ASTRONAUT_BOX = (178, 63, 90, 113)  # x, y, w, h of the one (smiling) face in the example
GIB_KB = 1024 * 1024


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path and pass short relative names, so no message or title is wrapped."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def analyze(*args: str) -> Result:
    result = CliRunner().invoke(app, ["analyze", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exception)
    return result


def line_with(result: Result, *words: str) -> str:
    """The one output line holding all ``words`` (file name and problem)."""
    lines = [ln for ln in result.output.splitlines() if all(w in ln for w in words)]
    assert len(lines) == 1, (words, result.output)
    return lines[0]


def assert_no_output_files(folder: Path) -> None:
    assert not folder.exists() or list(folder.iterdir()) == [], list(folder.iterdir())


def gradient(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A plain left-to-right gradient: a valid photo with no face."""
    Image.linear_gradient("L").rotate(90).resize(size).convert("RGB").save(path)
    return path


def truncated_jpeg(path: Path) -> Path:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8)).save(
        buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


# --- inputs that cannot be read: exit 2, one line naming file and problem, nothing written ------

def test_missing_path(work: Path) -> None:
    result = analyze("gone.jpg", "--annotate", "out")
    assert result.exit_code == 2
    assert line_with(result, "gone.jpg", "no such file or directory").startswith("error:")
    assert_no_output_files(work / "out")


def test_several_missing_paths_are_each_named(work: Path) -> None:
    result = analyze("gone.jpg", "lost.png")
    assert result.exit_code == 2
    line_with(result, "gone.jpg", "no such file", "lost.png")


def test_folder_with_no_images(work: Path) -> None:
    (work / "docs").mkdir()
    (work / "docs" / "readme.txt").write_text("no pictures")
    result = analyze("docs", "--annotate", "out")
    assert result.exit_code == 2
    line_with(result, "docs", "folder holds no images")
    assert_no_output_files(work / "out")


@pytest.mark.parametrize("name, make, problem", [
    ("notes.jpg", lambda p: p.write_text("not a picture at all\n"), "not an image"),
    ("empty.jpg", lambda p: p.touch(), "empty file (0 bytes)"),
    ("half.jpg", truncated_jpeg, "truncated or corrupt image"),
])
def test_unreadable_file(work: Path, face_model: Path, name: str,
                         make: Callable[[Path], object], problem: str) -> None:
    make(work / name)
    result = analyze(name, "--annotate", "out")
    assert result.exit_code == 2
    line_with(result, name, problem)
    assert_no_output_files(work / "out")


def test_file_names_with_brackets_are_printed_verbatim(work: Path, face_model: Path) -> None:
    """Brackets in names are not rich markup: not swallowed, and no crash on '[/b]'."""
    (work / "holiday [edited].jpg").write_text("text")
    shutil.copy(EXAMPLE, work / "party [draft].jpg")
    result = analyze("holiday [edited].jpg", "party [draft].jpg")
    assert result.exit_code == 2
    line_with(result, "holiday [edited].jpg", "not an image")
    line_with(result, "party [draft].jpg", "(512x512)")
    result = analyze("gone[/b].jpg")
    assert result.exit_code == 2
    line_with(result, "gone[/b].jpg", "pattern matches no files")


# --- awkward but valid pictures: exit 0 -----------------------------------------------------

def astronaut_rgba(path: Path) -> None:
    rgba = np.asarray(Image.open(EXAMPLE).convert("RGBA")).copy()
    rgba[:40, :, 3] = 0  # a transparent band along the top
    Image.fromarray(rgba, "RGBA").save(path)


def astronaut_16bit(path: Path) -> None:
    gray = np.asarray(Image.open(EXAMPLE).convert("L")).astype(np.uint16) * 257
    Image.fromarray(gray).save(path)


def astronaut_cmyk(path: Path) -> None:
    Image.open(EXAMPLE).convert("CMYK").save(path, quality=95)


@pytest.mark.parametrize("name, make, mode", [
    ("alpha.png", astronaut_rgba, "RGBA"),
    ("deep.png", astronaut_16bit, "I;16"),
    ("cmyk.jpg", astronaut_cmyk, "CMYK"),
])
def test_awkward_formats_work(work: Path, face_model: Path, name: str,
                              make: Callable[[Path], object], mode: str) -> None:
    make(work / name)
    assert Image.open(work / name).mode == mode
    result = analyze(name, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["errors"] == []
    (res,) = doc["results"]
    assert (res["width"], res["height"]) == (512, 512)
    assert len(res["faces"]) == 1


def test_exif_rotated_photo_is_turned_upright_before_detection(work: Path,
                                                               face_model: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to show": the file holds it anticlockwise
    Image.open(EXAMPLE).transpose(Image.Transpose.ROTATE_90).save(
        work / "sideways.jpg", exif=exif, quality=95)
    result = analyze("sideways.jpg", "--json")
    assert result.exit_code == 0, result.output
    (face,) = json.loads(result.stdout)["results"][0]["faces"]
    # Sideways, YuNet finds the face elsewhere (and reads it as sad): the upright box proves
    # the picture was turned before detection.
    assert np.abs(np.array(face["box"]) - ASTRONAUT_BOX).max() < 15, face["box"]
    assert face["emotion"] == "happy"


def test_one_pixel_image_is_too_small(work: Path, face_model: Path) -> None:
    Image.new("RGB", (1, 1), (10, 20, 30)).save(work / "dot.png")
    result = analyze("dot.png", "--annotate", "out")
    assert result.exit_code == 0
    line_with(result, "dot.png", "1x1", "too small")


def test_photo_without_a_face(work: Path, face_model: Path) -> None:
    gradient(work / "sky.jpg")
    result = analyze("sky.jpg")
    assert result.exit_code == 0
    line_with(result, "sky.jpg", "no face found")


# --- batches --------------------------------------------------------------------------------

def mixed_folder(work: Path) -> Path:
    folder = work / "mixed"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "a_astronaut.jpg")
    gradient(folder / "b_sky.png")
    (folder / "c_notes.jpg").write_text("not a picture")
    (folder / "d_empty.jpg").touch()
    truncated_jpeg(folder / "e_half.jpg")
    return folder


def test_folder_mixing_good_and_bad_files(work: Path, face_model: Path) -> None:
    folder = mixed_folder(work)
    result = analyze("mixed", "--annotate", "out")
    assert result.exit_code == 2
    out = result.output
    assert "happy" in out and str(Path("mixed") / "a_astronaut.jpg") in out  # face table
    line_with(result, "b_sky.png", "no face found")
    summary = out.index("3 input(s) could not be analyzed:")
    assert summary > out.index("b_sky.png")  # the bad ones are listed at the end
    listed = out[summary:].splitlines()[1:]
    assert [ln.strip().split(": ")[0] for ln in listed] == [
        str(Path("mixed") / n) for n in ("c_notes.jpg", "d_empty.jpg", "e_half.jpg")]
    assert sorted(p.name for p in (work / "out").iterdir()) == [
        "a_astronaut_emostyle.jpg", "b_sky_emostyle.png"]
    assert len(list(folder.iterdir())) == 5  # inputs untouched


def test_json_output(work: Path, face_model: Path) -> None:
    mixed_folder(work)
    result = analyze("mixed", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    by_name = {Path(r["source"]).name: r for r in doc["results"]}
    assert sorted(by_name) == ["a_astronaut.jpg", "b_sky.png"]
    (face,) = by_name["a_astronaut.jpg"]["faces"]
    assert face["emotion"] == "happy" and face["emoji"] == "😄"
    assert np.abs(np.array(face["box"]) - ASTRONAUT_BOX).max() < 3
    assert abs(sum(face["probabilities"].values()) - 1) < 1e-3
    assert by_name["b_sky.png"]["faces"] == [] and by_name["b_sky.png"]["notes"] == [
        "no face found"]
    assert [Path(e["source"]).name for e in doc["errors"]] == [
        "c_notes.jpg", "d_empty.jpg", "e_half.jpg"]


def test_jsonl_output(work: Path, face_model: Path) -> None:
    shutil.copy(EXAMPLE, work / "astronaut.jpg")
    (work / "notes.jpg").write_text("not a picture")
    result = analyze("astronaut.jpg", "notes.jpg", "--jsonl")
    assert result.exit_code == 2
    rows = [json.loads(ln) for ln in result.stdout.splitlines()]
    assert len(rows) == 2
    assert rows[0]["source"] == "astronaut.jpg"
    assert [f["emotion"] for f in rows[0]["faces"]] == ["happy"]
    assert rows[1]["source"] == "notes.jpg" and "not an image" in rows[1]["error"]


def test_annotate_writes_stem_emostyle_jpg(work: Path, face_model: Path) -> None:
    shutil.copy(EXAMPLE, work / "astronaut.jpg")
    result = analyze("astronaut.jpg", "--annotate", "out")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (work / "out").iterdir()] == ["astronaut_emostyle.jpg"]
    with Image.open(work / "out" / "astronaut_emostyle.jpg") as img:
        assert img.format == "JPEG" and img.size == (512, 512)
        drawn = np.asarray(img.convert("RGB")).astype(int)
    original = np.asarray(Image.open(EXAMPLE).convert("RGB")).astype(int)
    assert np.abs(drawn - original).max() > 100  # a box and an emoji were drawn on it
    assert (work / "astronaut.jpg").read_bytes() == EXAMPLE.read_bytes()


def test_annotate_refuses_to_overwrite_an_input(work: Path, face_model: Path) -> None:
    """astronaut.jpg would be annotated onto astronaut_emostyle.jpg, which is also an input."""
    shutil.copy(EXAMPLE, work / "astronaut.jpg")
    gradient(work / "astronaut_emostyle.jpg")
    before = (work / "astronaut_emostyle.jpg").read_bytes()
    result = analyze("astronaut.jpg", "astronaut_emostyle.jpg", "--annotate", ".")
    assert result.exit_code == 2
    line_with(result, "astronaut_emostyle.jpg", "is one of the inputs")
    assert (work / "astronaut_emostyle.jpg").read_bytes() == before
    # refused before any work: nothing at all is written (issue 17)
    assert sorted(p.name for p in work.iterdir()) == ["astronaut.jpg", "astronaut_emostyle.jpg"]


def test_annotate_onto_a_folder_in_the_way(work: Path, face_model: Path) -> None:
    shutil.copy(EXAMPLE, work / "astronaut.jpg")
    (work / "out" / "astronaut_emostyle.jpg").mkdir(parents=True)
    result = analyze("astronaut.jpg", "--annotate", "out")
    assert result.exit_code == 2
    line_with(result, "astronaut_emostyle.jpg", "is a directory")
    assert [p.name for p in (work / "out").iterdir()] == ["astronaut_emostyle.jpg"]


# --- a 12000 x 9000 photo within 1 GiB -------------------------------------------------------

def write_striped_jpeg(path: Path, width: int, height: int,
                       strip_at: Callable[[int, int], Image.Image], rows: int = 1200) -> None:
    """A big baseline JPEG made without ever holding the whole picture.

    Each ``rows``-high strip is encoded on its own (same tables: same quality and subsampling,
    no optimisation) and the entropy-coded strips are joined with restart markers, which reset
    the decoder's state exactly as a fresh image would. Only the frame height is patched.
    """
    assert width % 16 == 0 and rows % 16 == 0 and (width // 16) * (rows // 16) <= 0xFFFF
    with open(path, "wb") as fh:
        for i, y in enumerate(range(0, height, rows)):
            buf = io.BytesIO()
            strip_at(y, min(height, y + rows)).save(buf, "JPEG", quality=85, subsampling=2)
            data = buf.getvalue()
            pos = 2
            while data[pos + 1] != 0xDA:  # walk the marker segments up to start-of-scan
                pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
            scan = pos + 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
            if i == 0:
                head = data[:pos]
                sof = head.index(b"\xff\xc0")
                head = head[:sof + 5] + struct.pack(">H", height) + head[sof + 7:]
                restart = b"\xff\xdd\x00\x04" + struct.pack(">H", (width // 16) * (rows // 16))
                fh.write(head + restart + data[pos:scan])
            else:
                fh.write(bytes((0xFF, 0xD0 + (i - 1) % 8)))
            fh.write(data[scan:-2])  # entropy-coded data, without the end-of-image marker
        fh.write(b"\xff\xd9")


@pytest.fixture(scope="module")
def huge_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12000 x 9000 JPEG: a gradient with the astronaut scaled 8x (a ~700 px face) inside."""
    width, height, side = 12000, 9000, 4096
    face = Image.open(EXAMPLE).convert("RGB").resize((side, side), Image.BILINEAR)
    x0, y0 = (width - side) // 2, (height - side) // 2
    ramp = Image.linear_gradient("L").rotate(90).resize((width, 1)).convert("RGB")

    def strip_at(top: int, bottom: int) -> Image.Image:
        strip = ramp.resize((width, bottom - top))
        if top < y0 + side and bottom > y0:
            part = face.crop((0, max(0, top - y0), side, min(side, bottom - y0)))
            strip.paste(part, (x0, max(0, y0 - top)))
        return strip

    path = tmp_path_factory.mktemp("huge") / "huge.jpg"
    write_striped_jpeg(path, width, height, strip_at)
    return path


# The child reports its own peak from /proc/self/status (VmHWM of its own address space).
# wait4's ru_maxrss is no good here: Linux carries the forking parent's high-water mark across
# exec, so under a big pytest process (torch, Ray, Streamlit loaded) it reports the parent.
PEAK_REPORTER = """
import atexit, sys
def report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("PEAK_KB=" + line.split()[1] + "\\n")
atexit.register(report)
from emostyle.cli import main
sys.argv = ["emostyle"] + sys.argv[1:]
main()
"""


def run_measured(*args: str) -> tuple[int, str, str, int]:
    """Run ``emostyle analyze ARGS`` in a child: exit code, stdout, stderr, peak RSS (KiB)."""
    proc = subprocess.run([sys.executable, "-c", PEAK_REPORTER, "analyze", *args],
                          capture_output=True, text=True)
    peaks = [int(line[8:]) for line in proc.stderr.splitlines() if line.startswith("PEAK_KB=")]
    assert peaks, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr, peaks[-1]


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_huge_photo_within_1gib(huge_photo: Path, face_model: Path) -> None:
    with Image.open(huge_photo) as img:
        assert img.size == (12000, 9000)
    code, stdout, errors, peak_kb = run_measured(str(huge_photo), "--json")
    assert code == 0, errors
    (res,) = json.loads(stdout)["results"]
    assert (res["width"], res["height"]) == (12000, 9000)
    (face,) = res["faces"]
    x, y, w, h = face["box"]
    assert 5000 < x < 6200 and 2600 < y < 3600 and 500 < w < 900, face["box"]
    assert peak_kb < GIB_KB, f"peak RSS {peak_kb / 1024:.0f} MiB"


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_huge_photo_annotated_within_1gib(huge_photo: Path, face_model: Path,
                                          tmp_path: Path) -> None:
    code, stdout, errors, peak_kb = run_measured(str(huge_photo), "--jsonl", "--annotate",
                                                 str(tmp_path))
    assert code == 0, errors
    assert len(json.loads(stdout)["faces"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["huge_emostyle.jpg"]
    with Image.open(tmp_path / "huge_emostyle.jpg") as img:
        assert img.size == (12000, 9000)
    assert peak_kb < GIB_KB, f"peak RSS {peak_kb / 1024:.0f} MiB"


def test_same_names_in_different_folders_do_not_overwrite(tmp_path, face_model):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(EXAMPLE, tmp_path / sub / "x.jpg")
    out_dir = tmp_path / "out"
    res = CliRunner().invoke(app, ["analyze", str(tmp_path / "a"), str(tmp_path / "b"),
                                   "--annotate", str(out_dir), "--json"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out_dir.iterdir()) == ["x_emostyle.jpg", "x_emostyle_2.jpg"]


@pytest.mark.parametrize("command", ["analyze", "stylize", "video"])
def test_model_help_offers_only_installed_models(command: str) -> None:
    """`--model accurate` was offered where it was not installed (exit 3 when tried)."""
    from emostyle.model_files import BUNDLED, BUNDLED_DIR, EMOTION_MODELS

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    line = next(ln for ln in result.output.splitlines() if "--model" in ln)
    for name in EMOTION_MODELS:
        assert (f"'{name}'" in line) == (BUNDLED_DIR / BUNDLED[name]).is_file(), line


HELP_WITHOUT_ACCURATE = """
import sys
from pathlib import Path

import emostyle.model_files as mf

mf.BUNDLED_DIR = Path(sys.argv[1])  # before the CLI asks what is installed
from typer.testing import CliRunner

from emostyle.cli import app

for command in ("analyze", "stylize", "video", "evaluate"):
    res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    print(command, "accurate" in res.output, "'default'" in res.output)
"""


def test_help_offers_no_model_that_is_not_installed(tmp_path):
    """Where only the default model is installed, no command's help names 'accurate'."""
    import os

    import emostyle
    from emostyle.model_files import BUNDLED, BUNDLED_DIR

    shutil.copy(BUNDLED_DIR / BUNDLED["default"], tmp_path)
    src = str(Path(emostyle.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", HELP_WITHOUT_ACCURATE, str(tmp_path)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": src})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:4] == [f"{c} False True" for c in (
        "analyze", "stylize", "video", "evaluate")], done.stdout


@pytest.mark.parametrize("args", [
    ["train", "--out", "run"], ["export", "run", "-o", "m.onnx"],
    ["evaluate", "run"], ["ensemble", "build"], ["train-style", "--out", "run"],
    ["add-style", "painting.jpg", "-o", "styles.onnx", "--name", "mine"],
    ["export-style", "run", "-o", "s.onnx"],
], ids=lambda a: a[0])
def test_a_missing_training_extra_exits_1_and_names_the_install(args, tmp_path, monkeypatch):
    """Exit 1 for a missing extra, as the README's exit-code table says, with the pip line
    (and the CPU-only one) in the message; never a traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    assert "needs the training extra: pip install 'emostyle[train]'" in res.output
    assert "--index-url https://download.pytorch.org/whl/cpu" in res.output
    assert "Traceback" not in res.output
