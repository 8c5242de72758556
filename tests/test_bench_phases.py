"""benchmarks/bench_stylize.py phases times the stylize command cut into its steps; its figures
explain the command's speed only while those steps are the command's. So the child must paint
the same picture, byte for byte, as `emostyle stylize PHOTO --emotion auto`."""

import importlib.util
import json
import os
import subprocess
import sys

from emostyle.images import read_image, write_image

from .conftest import ROOT


def _benchmark():
    path = ROOT / "benchmarks" / "bench_stylize.py"
    spec = importlib.util.spec_from_file_location("bench_stylize", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_phases_are_the_stylize_command(tmp_path, face_model):
    photo = write_image(read_image(ROOT / "examples" / "astronaut.jpg")[0:192, 0:256],
                        tmp_path / "photo.jpg", quality=95)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), EMOSTYLE_FACE_MODEL=str(face_model))
    child = subprocess.run([sys.executable, "-c", _benchmark().PHASES_CHILD, str(photo),
                            str(tmp_path / "phases")], capture_output=True, text=True, env=env,
                           check=True)
    steps = json.loads(child.stdout.strip().splitlines()[-1])
    assert list(steps)[-4:] == ["read the photo", "find and read the faces", "paint (network)",
                                "write the painting"]
    assert all(wall >= 0 and cpu >= 0 for wall, cpu in steps.values())
    subprocess.run([sys.executable, "-m", "emostyle", "stylize", str(photo), "-o",
                    str(tmp_path / "command"), "--emotion", "auto"], env=env, check=True,
                   capture_output=True)
    ours = sorted((tmp_path / "phases").iterdir())
    theirs = sorted((tmp_path / "command").iterdir())
    assert [p.name for p in ours] == [p.name for p in theirs] == ["photo_happy.jpg"]
    assert ours[0].read_bytes() == theirs[0].read_bytes()
