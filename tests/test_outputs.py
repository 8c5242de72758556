"""No file is ever replaced unless the user asks, and bad output paths fail before any work.

Every assertion about "nothing written" reads the bytes of the files, not the messages. The
refusals must come before a model is loaded: ``no_work`` makes loading one fail the test.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner, Result

from emostyle.cli import app
from emostyle.images import write_image
from emostyle.outputs import OutputPlan, commit, temp_beside

from .conftest import EXAMPLE


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMOSTYLE_STYLES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "good.jpg").write_bytes(EXAMPLE.read_bytes())
    return tmp_path


@pytest.fixture()
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading any model, or opening the video, fails the test: the refusal came too late."""
    def started(*_a, **_k):  # noqa: ANN002, ANN003
        raise AssertionError("work started before the output paths were checked")

    import emostyle.pipeline
    import emostyle.stylizer
    import emostyle.video
    monkeypatch.setattr(emostyle.pipeline.Analyzer, "__init__", started)
    monkeypatch.setattr(emostyle.stylizer.Stylizer, "__init__", started)
    monkeypatch.setattr(emostyle.video.FrameReader, "__init__", started)


def cli(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exception)
    return result


def clip(path: Path, n: int = 6) -> Path:
    face = cv2.resize(cv2.imread(str(EXAMPLE)), (240, 240))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (240, 240))
    for _ in range(n):
        writer.write(face)
    writer.release()
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too: no temp file may be left) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the cases of issue 17 ------------------------------------------------------------------

def test_video_log_onto_the_input_video_is_refused_and_nothing_is_written(work, no_work):
    clip(work / "clip.mp4")
    before = snapshot(work)
    result = cli("video", "clip.mp4", "-o", "other.mp4", "--log", "clip.mp4")
    assert result.exit_code == 2
    assert snapshot(work) == before  # the input's bytes, and no other.mp4 / other.png


def test_plot_onto_an_existing_jpeg_is_refused(work, no_work):
    clip(work / "clip.mp4")
    (work / "photo.jpg").write_bytes(EXAMPLE.read_bytes())
    before = snapshot(work)
    assert cli("video", "clip.mp4", "-o", "out.mp4", "--plot", "photo.jpg").exit_code == 2
    assert snapshot(work) == before


def test_plot_replaces_an_existing_jpeg_only_with_overwrite(work, face_model):
    clip(work / "clip.mp4")
    (work / "photo.jpg").write_bytes(b"mine")
    result = cli("video", "clip.mp4", "-o", "out.mp4", "--plot", "photo.jpg", "--overwrite")
    assert result.exit_code == 0, result.output
    assert (work / "photo.jpg").read_bytes()[:2] == b"\xff\xd8"  # now the plot, a JPEG
    assert (work / "out.mp4").stat().st_size > 0
    assert not [p for p in work.iterdir() if p.name.startswith(".")]  # no temp file left


def test_stylize_into_a_folder_never_replaces_an_unrelated_file(work, no_work):
    (work / "dir").mkdir()
    (work / "dir" / "good_happy.jpg").write_bytes(b"someone else's picture")
    before = snapshot(work)
    result = cli("stylize", "good.jpg", "-o", "dir/")  # auto: the mood (happy) is not known yet
    assert result.exit_code == 2
    assert "dir/good_happy.jpg" in result.output
    assert snapshot(work) == before


def test_stylize_replaces_with_overwrite(work):
    (work / "dir").mkdir()
    (work / "dir" / "good_happy.jpg").write_bytes(b"old")
    result = cli("stylize", "good.jpg", "-o", "dir", "-e", "happy", "--max-side", "64",
                 "--overwrite")
    assert result.exit_code == 0, result.output
    assert (work / "dir" / "good_happy.jpg").read_bytes()[:2] == b"\xff\xd8"


@pytest.mark.parametrize("args", [
    ["analyze", "good.jpg", "-o", "out.jsonl"],
    ["analyze", "good.jpg", "--annotate", "ann"],
    ["stylize", "good.jpg", "-o", "painted", "-e", "sad", "--max-side", "64"],
    ["video", "clip.mp4", "-o", "out.mp4"],
], ids=["analyze-o", "annotate", "stylize", "video"])
def test_a_rerun_replaces_nothing(work, face_model, args):
    clip(work / "clip.mp4")
    assert cli(*args).exit_code == 0
    first = snapshot(work)
    assert len(first) > 2  # the run wrote something
    result = cli(*args)
    assert result.exit_code == 2
    assert "--overwrite" in result.output
    assert snapshot(work) == first
    assert cli(*args, "--overwrite").exit_code == 0


def test_all_conflicts_are_listed_in_one_message(work, no_work):
    clip(work / "clip.mp4")
    for name in ("out.mp4", "out.csv", "out.png"):
        (work / name).write_bytes(name.encode())
    before = snapshot(work)
    result = cli("video", "clip.mp4", "-o", "out.mp4")
    assert result.exit_code == 2
    assert result.output.count("error:") == 1
    assert all(name in result.output for name in ("out.mp4", "out.csv", "out.png"))
    assert snapshot(work) == before


def test_two_outputs_on_one_path_are_refused(work, no_work):
    clip(work / "clip.mp4")
    result = cli("video", "clip.mp4", "-o", "out.mp4", "--log", "x.png", "--plot", "x.png")
    assert result.exit_code == 2 and "x.png" in result.output
    assert sorted(p.name for p in work.iterdir()) == ["clip.mp4", "good.jpg"]


def test_analyze_output_onto_an_input_is_refused(work, no_work):
    before = snapshot(work)
    assert cli("analyze", "good.jpg", "-o", "good.jpg").exit_code == 2
    assert snapshot(work) == before


# --- bad places: one line, exit 2, before any work, for every command ------------------------

def bad_place(work: Path, kind: str, name: str, request: pytest.FixtureRequest) -> str:
    """An output path of ``kind`` where ``name`` cannot be written."""
    if kind == "directory":
        (work / name).mkdir()
        return name
    if kind == "parent-is-a-file":
        (work / "afile").write_text("x")
        return f"afile/{name}"
    if kind == "unwritable":  # /proc refuses new files, even to root
        return f"/proc/emostyle-test/{name}"
    if kind == "read-only":
        ro = work / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        if os.access(ro, os.W_OK):  # root: permission bits do not bite
            ro.chmod(0o755)
            pytest.skip("running as root: a read-only folder is writable anyway")
        return f"ro/{name}"
    if kind == "immutable":  # chattr +i: refused even to root
        import shutil
        import subprocess

        frozen = work / "frozen"
        frozen.mkdir()
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(frozen)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i needs root and a file system with attributes")
        request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(frozen)]))
        return f"frozen/{name}"
    raise AssertionError(kind)


COMMANDS = {  # command line with OUT where the bad path goes, and the file name to use
    "analyze -o": (["analyze", "good.jpg", "-o", "OUT"], "out.jsonl"),
    "analyze --annotate": (["analyze", "good.jpg", "--annotate", "OUT"], "ann"),
    "analyze --explain": (["analyze", "good.jpg", "--explain", "OUT"], "maps"),
    "stylize -o": (["stylize", "good.jpg", "-o", "OUT"], "painted"),
    "video -o": (["video", "clip.mp4", "-o", "OUT"], "out.mp4"),
    "video --log": (["video", "clip.mp4", "--log", "OUT"], "log.csv"),
    "video --plot": (["video", "clip.mp4", "-o", "v.mp4", "--plot", "OUT"], "plot.png"),
    "evaluate --photos --out": (["evaluate", "default", "--photos", "photos", "--out", "OUT"],
                                "eval"),
    "evaluate --predictions": (["evaluate", "default", "--photos", "photos", "--out", "eval",
                                "--predictions", "OUT"], "pred.csv"),
}


@pytest.mark.parametrize("kind", ["directory", "parent-is-a-file", "unwritable", "read-only",
                                  "immutable"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_bad_output_places_fail_in_one_line_before_work(work, no_work, command, kind, request):
    args, name = COMMANDS[command]
    folder_output = "." not in name
    if kind == "directory" and folder_output:
        (work / name).write_text("a file where a folder goes")
        place = name
    else:
        place = bad_place(work, kind, name, request)
    clip(work / "clip.mp4")
    (work / "photos" / "happy").mkdir(parents=True)
    (work / "photos" / "happy" / "a.jpg").write_bytes(EXAMPLE.read_bytes())
    before = snapshot(work)
    result = cli(*[place if a == "OUT" else a for a in args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and place in lines[0], lines
    assert snapshot(work) == before


# --- the writers ----------------------------------------------------------------------------

def test_commit_without_overwrite_never_replaces(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("mine")
    tmp = temp_beside(target)
    tmp.write_text("new")
    with pytest.raises(Exception, match="already exists"):
        commit(tmp, target, overwrite=False)
    assert target.read_text() == "mine" and not tmp.exists()


def test_write_image_without_overwrite_keeps_the_file(tmp_path):
    target = tmp_path / "a.png"
    target.write_bytes(b"mine")
    with pytest.raises(Exception, match="already exists"):
        write_image(np.zeros((4, 4, 3), np.uint8), target, overwrite=False)
    assert target.read_bytes() == b"mine"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    write_image(np.zeros((4, 4, 3), np.uint8), target)  # the library default replaces
    assert target.read_bytes()[:4] == b"\x89PNG"


def test_plan_lists_many_existing_files_with_and_n_more(tmp_path):
    plan = OutputPlan(set(), overwrite=False)
    for i in range(8):
        (tmp_path / f"{i}.jpg").write_bytes(b"x")
        plan.file(tmp_path / f"{i}.jpg", "-o")
    (problem,) = plan.problems()
    assert problem.startswith("8 files already exist") and problem.endswith("and 3 more")
    assert OutputPlan(set(), overwrite=True).problems() == []


# --- the workbench: export -o and compare --out ----------------------------------------------

def test_export_never_replaces_a_model_or_its_card_unasked(work, no_work, monkeypatch):
    pytest.importorskip("torch")
    from emostyle.training import export

    def loaded(*_a, **_k):  # noqa: ANN002, ANN003
        raise AssertionError("the run was loaded before the outputs were checked")

    monkeypatch.setattr(export, "load_run", loaded)
    (work / "run").mkdir()
    (work / "run" / "best.pt").write_bytes(b"weights")
    for existing in ("m.onnx", "m.json"):  # the model, or only its card
        (work / existing).write_text("mine")
        before = snapshot(work)
        result = cli("export", "run", "-o", "m.onnx")
        assert result.exit_code == 2, result.output
        assert f"{existing} (-o) already exists (give --overwrite" in result.output
        assert snapshot(work) == before
        (work / existing).unlink()
    result = cli("export", "run", "-o", "run/best.pt")
    assert result.exit_code == 2 and "is one of the inputs" in result.output


def test_compare_never_replaces_a_comparison_unasked(work, no_work):
    pytest.importorskip("matplotlib")
    metrics = Path(__file__).resolve().parents[1] / "docs" / "figures" / \
        "default_private_tta" / "metrics.json"
    assert cli("compare", str(metrics), "--out", "cmp").exit_code == 0
    first = snapshot(work)
    assert {"cmp/comparison.json", "cmp/comparison.md", "cmp/comparison.png"} <= set(first)
    result = cli("compare", str(metrics), "--out", "cmp")
    assert result.exit_code == 2 and "3 files already exist" in result.output, result.output
    assert snapshot(work) == first
    assert cli("compare", str(metrics), "--out", "cmp", "--overwrite").exit_code == 0
    result = cli("compare", str(metrics), "--out", "good.jpg")
    assert result.exit_code == 2 and "good.jpg (--out): is a file, not a folder" in result.output


@pytest.mark.parametrize("doc", ['{"pictures": 5, "accuracy": 0.6}', "[1, 2]", "not json"],
                         ids=["photo-evaluation", "a-list", "not-json"])
def test_compare_names_a_metrics_file_it_cannot_read(work, doc):
    """`emostyle compare eval_default_photos/metrics.json` ended in a KeyError traceback."""
    pytest.importorskip("matplotlib")
    (work / "metrics.json").write_text(doc)
    result = cli("compare", "metrics.json", "--out", "cmp")
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: metrics.json: not a FER2013 evaluation"), line
    assert not (work / "cmp").exists()


def test_train_never_starts_again_over_an_earlier_run(work, monkeypatch):
    """`emostyle train` (its --out defaults to runs/run) wrote a new run over the weights and
    history of the last one; as train-style does, it is refused before the data is read."""
    pytest.importorskip("torch")
    from emostyle.training import fit

    def loaded(*_a, **_k):  # noqa: ANN002, ANN003
        raise AssertionError("the dataset was read before the run directory was checked")

    monkeypatch.setattr(fit, "load_dataset", loaded)
    (work / "run").mkdir()
    for name in ("config.json", "best.pt", "last.pt", "history.json"):
        (work / "run" / name).write_text(name)
    before = snapshot(work)
    result = cli("train", "--out", "run")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: run: holds a run already; pass --resume")
    assert snapshot(work) == before


def test_figures_and_reports_arrive_whole_or_not_at_all(work, monkeypatch):
    """evaluate's and compare's figures, metrics.json and tables go through a temporary file
    and a rename: a figure that fails half-way leaves neither it nor a temporary file."""
    pytest.importorskip("matplotlib")
    import matplotlib.figure

    from emostyle.training import plots, report

    committed: list[str] = []  # what was renamed into place from a hidden temporary file
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (
        Path(src).name.startswith(".") and committed.append(Path(dst).name)
    ) or real_replace(src, dst))
    metrics = Path(__file__).resolve().parents[1] / "docs" / "figures" / \
        "default_private_tta" / "metrics.json"
    report.compare([metrics], work / "cmp")
    assert sorted(committed) == ["comparison.json", "comparison.md", "comparison.png"]
    assert sorted(p.name for p in (work / "cmp").iterdir()) == sorted(committed)

    def half_written(self, fname, **_kw):  # noqa: ANN001, ANN003
        Path(fname).write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
    with pytest.raises(OSError):
        plots.confusion_png(np.eye(7), work / "figs" / "confusion.png", "t")
    assert list((work / "figs").iterdir()) == []
