"""`emostyle stylize`: moods, fallbacks, blends, bad inputs, never overwriting inputs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from emostyle.cli import app

from .conftest import EXAMPLE
from .test_style_stylizer import tiny_model  # noqa: F401  (session fixture: a 4-style model)


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMOSTYLE_STYLES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user styles.toml
    return tmp_path


def stylize(model: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, ["stylize", "--style-model", str(model), *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exception)
    return result


def gradient(path: Path, size: tuple[int, int] = (160, 120)) -> Path:
    Image.linear_gradient("L").rotate(90).resize(size).convert("RGB").save(path)
    return path


def test_named_emotion_on_a_folder_with_a_bad_file(tiny_model, work):  # noqa: F811
    src = work / "in"
    src.mkdir()
    gradient(src / "a.jpg")
    gradient(src / "b.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    res = stylize(tiny_model, "in", "--emotion", "fear", "-o", "out")
    assert res.exit_code == 2, res.output
    assert sorted(p.name for p in (work / "out").iterdir()) == ["a_fear.jpg", "b_fear.jpg"]
    lines = [ln for ln in res.output.splitlines() if "broken.jpg" in ln]
    assert lines and all(len(ln) < 200 for ln in lines)
    assert "1 input(s) could not be stylized" in res.output
    with Image.open(work / "out" / "a_fear.jpg") as im:
        assert im.size == (160, 120)


def test_default_output_folder_and_options(tiny_model, work):  # noqa: F811
    gradient(work / "a.jpg")
    res = stylize(tiny_model, "a.jpg", "-e", "happy", "--strength", "0.5", "--keep-colors",
                  "--max-side", "64")
    assert res.exit_code == 0, res.output
    assert (work / "stylized" / "a_happy.jpg").is_file()
    assert "a.jpg -> stylized/a_happy.jpg" in res.output.replace("\\", "/")
    res = stylize(tiny_model, "a.jpg", "-e", "happy", "--max-side", "0", "-o", "full")
    assert res.exit_code == 0 and (work / "full" / "a_happy.jpg").is_file()


def test_file_names_are_printed_as_they_are(tiny_model, work):  # noqa: F811
    gradient(work / "x:fire:[b].jpg")  # an emoji code and markup in a name stay text
    res = stylize(tiny_model, "x:fire:[b].jpg", "-e", "happy", "-o", "out")
    assert res.exit_code == 0, res.output
    assert "x:fire:[b].jpg -> out/x:fire:[b]_happy.jpg" in res.output.replace("\\", "/")


def big_photo(path: Path, size: tuple[int, int] = (1300, 1100)) -> Path:
    Image.open(EXAMPLE).convert("RGB").resize(size).save(path)
    return path


def test_a_picture_in_many_tiles_gets_a_bar_with_time_left(tiny_model, work,  # noqa: F811
                                                           terminal_bars):
    from emostyle.stylizer import Stylizer, tile_spans

    st = Stylizer(tiny_model, styles_toml=False)
    n = len(tile_spans(1100, st.tile, st.overlap)) * len(tile_spans(1300, st.tile, st.overlap))
    assert n >= 4  # MIN_TILES_SHOWN
    big_photo(work / "big.jpg")
    res = stylize(tiny_model, "big.jpg", "-e", "fear", "--max-side", "0")
    assert res.exit_code == 0, res.output
    assert terminal_bars == [("tiles", k, n) for k in range(n + 1)]
    assert "tiles" in res.stderr and f"1/{n}" in res.stderr
    assert re.search(r"\d:\d\d:\d\d|-:--:--", res.stderr)  # time left
    assert "tiles" not in res.stdout  # the bar is on stderr only


def test_several_pictures_count_on_one_bar(tiny_model, work, terminal_bars):  # noqa: F811
    gradient(work / "a.jpg")
    gradient(work / "b.jpg")
    res = stylize(tiny_model, "a.jpg", "b.jpg", "-e", "fear")
    assert res.exit_code == 0, res.output
    assert terminal_bars == [("stylizing", 0, 2), ("stylizing", 1, None),
                             ("stylizing", 2, None)]  # small pictures: no tiles row
    assert "stylizing" in res.stderr and "1/2" in res.stderr


def test_the_next_pictures_tiles_start_the_row_again(terminal_bars):
    from emostyle.cli_common import Bars

    bars = Bars()
    for k in range(5):
        bars.count("tiles", k, 4)
    bars.count("tiles", 0, 6)
    (task,) = bars._bar.tasks
    assert (task.completed, task.total) == (0, 6)
    bars.close()


def test_a_rate_is_shown_once_it_can_be_measured(terminal_bars):
    """The video's bar showed '1000000000.0 fps' at its first frame (one frame in no time):
    a row's rate counts from its first update, and shows nothing until it has one to show."""
    import time

    from emostyle.cli_common import Bars

    bars = Bars()
    bars.count("video", 1, 6, rate="fps")  # the first frame: no time measured yet
    (task,) = bars._bar.tasks
    assert task.fields["rate"] == ""
    time.sleep(0.1)
    bars.count("video", 2, 6, rate="fps")
    assert 0 < float(task.fields["rate"].removesuffix(" fps")) <= 10  # 1 frame in >= 0.1 s
    bars.count("video", 0, 6, rate="fps")  # a row that starts again measures afresh
    bars.count("video", 1, 6, rate="fps")
    assert float(task.fields["rate"].removesuffix(" fps")) > 0
    bars.close()


def test_no_bar_for_small_work_or_in_a_pipe(tiny_model, work, monkeypatch):  # noqa: F811
    from emostyle import cli_common
    from emostyle.cli_common import Bars

    gradient(work / "small.jpg", size=(600, 400))  # one pass, one picture
    monkeypatch.setattr(cli_common.err.console, "_force_terminal", True)
    res = stylize(tiny_model, "small.jpg", "-e", "fear", "--max-side", "0")
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    assert Bars(1, "stylizing")._bar is None
    monkeypatch.setattr(cli_common.err.console, "_force_terminal", False)  # a pipe: even long work
    big_photo(work / "big.jpg")
    res = stylize(tiny_model, "big.jpg", "-e", "fear", "--max-side", "0")
    assert res.exit_code == 0 and res.stderr == "", res.stderr


def test_never_overwrites_inputs_and_no_name_clashes(tiny_model, work):  # noqa: F811
    gradient(work / "a.jpg")
    gradient(work / "a_fear.jpg", size=(90, 70))
    before = {p.name: p.read_bytes() for p in work.glob("*.jpg")}
    res = stylize(tiny_model, "a.jpg", "a_fear.jpg", "-e", "fear", "-o", ".")
    assert res.exit_code == 2
    assert "a_fear.jpg (-o): is one of the inputs" in res.output
    # The outcome, not the message: both inputs keep their bytes, and nothing is written.
    assert {n: (work / n).read_bytes() for n in before} == before
    assert not (work / "a_fear_fear.jpg").exists()
    (work / "x").mkdir()
    (work / "y").mkdir()
    gradient(work / "x" / "p.jpg")
    gradient(work / "y" / "p.jpg")
    res = stylize(tiny_model, "x", "y", "-e", "fear", "-o", "out")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (work / "out").iterdir()) == ["p_fear.jpg", "p_fear_2.jpg"]


@pytest.mark.parametrize("args, code, message", [
    (["-e", "bored"], 2, "unknown style 'bored'"),
    (["-e", "sad"], 2, "no style for 'sad'"),
    (["-e", "fear", "--blend"], 2, "--blend mixes styles by the detected mood"),
    (["--fallback", "meh"], 2, "--fallback: unknown emotion 'meh'"),
    (["-e", "fear", "--strength", "2"], 2, ""),
    (["-e", "fear", "--max-side", "8"], 2, "--max-side must be 0"),
])
def test_bad_options(tiny_model, work, args, code, message):  # noqa: F811
    gradient(work / "a.jpg")
    res = stylize(tiny_model, "a.jpg", *args)
    assert res.exit_code == code, res.output
    assert message in res.output
    assert not (work / "stylized").exists()


def test_missing_inputs_and_models(tiny_model, work):  # noqa: F811
    res = stylize(tiny_model, "nothing.jpg", "-e", "fear")
    assert res.exit_code == 2 and "nothing.jpg: no such file or directory" in res.output
    gradient(work / "a.jpg")
    res = CliRunner().invoke(app, ["stylize", "a.jpg", "--style-model", "none.onnx"])
    assert res.exit_code == 3 and "none.onnx" in res.output


# --- auto: needs the face detector and the bundled emotion model ------------------------------

def test_auto_uses_the_mood_or_the_fallback(tiny_model, work, face_model):  # noqa: F811
    shutil.copy(EXAMPLE, work / "astronaut.jpg")
    gradient(work / "plain.jpg")
    res = stylize(tiny_model, "astronaut.jpg", "plain.jpg", "-o", "out", "--json")
    assert res.exit_code == 0, res.output
    assert "plain.jpg: no face found; using the neutral style (--fallback)" in res.output
    doc = json.loads(res.stdout[res.stdout.index("{"):])
    by_name = {Path(r["source"]).name: r for r in doc["results"]}
    assert by_name["astronaut.jpg"]["style"] == "happy" and by_name["astronaut.jpg"]["faces"] == 1
    assert by_name["plain.jpg"]["fallback"] is True
    assert sorted(p.name for p in (work / "out").iterdir()) == ["astronaut_happy.jpg",
                                                                "plain_neutral.jpg"]
    res = stylize(tiny_model, "plain.jpg", "-o", "out2", "--fallback", "fear")
    assert res.exit_code == 0 and (work / "out2" / "plain_fear.jpg").is_file()


def test_blend_by_mood(tiny_model, work, face_model, tmp_path):  # noqa: F811
    # The tiny model has styles for fear, happy and neutral only; map the rest in a TOML.
    toml = tmp_path / "styles.toml"
    toml.write_text("[emotions]\n" + "".join(f'{e} = "extra"\n' for e in
                                             ("angry", "disgust", "sad", "surprise")))
    shutil.copy(EXAMPLE, work / "astronaut.jpg")
    res = stylize(tiny_model, "astronaut.jpg", "--blend", "--styles", str(toml), "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)["results"][0]
    assert rec["style"] == "blend" and abs(sum(rec["weights"].values()) - 1) < 1e-3
    assert max(rec["weights"], key=rec["weights"].get) == "happy"
    out = np.asarray(Image.open(work / "stylized" / "astronaut_blend.jpg"))
    assert out.shape == (512, 512, 3)


def test_the_biggest_face_decides_the_style_not_the_first_or_the_most(tiny_model, work,  # noqa: F811
                                                                      face_model, monkeypatch):
    """Two small happy faces listed first, one big fearful face: the area-weighted mood is fear
    (the first face, a majority vote or an unweighted mean would all say happy)."""
    from emostyle.pipeline import Analyzer
    from emostyle.results import Analysis, Face

    happy = (0, 0, 0, 1.0, 0, 0, 0)
    fear = (0, 0, 0.8, 0.2, 0, 0, 0)
    faces = (Face((0, 0, 30, 30), (), 0.9, happy), Face((40, 0, 30, 30), (), 0.9, happy),
             Face((0, 40, 100, 100), (), 0.9, fear))
    monkeypatch.setattr(Analyzer, "analyze",
                        lambda self, image, source=None: Analysis(faces, 160, 120, source))
    gradient(work / "group.jpg")
    res = stylize(tiny_model, "group.jpg", "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)["results"][0]
    assert (rec["style"], rec["faces"]) == ("fear", 3)
    assert (work / "stylized" / "group_fear.jpg").is_file()


def test_the_smallest_max_side_is_the_stylizers(tiny_model, work, monkeypatch):  # noqa: F811
    # --max-side is checked up front against the network's own minimum, not a copy of it.
    import emostyle.stylizer

    gradient(work / "a.jpg")
    monkeypatch.setattr(emostyle.stylizer, "MIN_SIDE", 48)
    res = stylize(tiny_model, "a.jpg", "-e", "fear", "--max-side", "40")
    assert res.exit_code == 2, res.output
    assert "--max-side must be 0 (full resolution) or at least 48, got 40" in res.output
    assert not (work / "stylized").exists()
