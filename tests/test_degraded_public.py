"""benchmarks/degraded_public.py on a small made-up PublicTest: a full run writes one row per
model and the command that reproduces it; ``--update`` reruns the models named and keeps the
other rows, so the file stays what its command writes; a missing file is a one-line error."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "degraded_public.py"
MEMBER = "src/emostyle/models/members/m0_vgg32_e60.onnx"


def _module():
    spec = importlib.util.spec_from_file_location("degraded_public", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("fer") / "fer.npz"
    n = 24
    np.savez(path, images=rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
             labels=rng.integers(0, 7, n), usage=np.array([0, 1, 2] * (n // 3)))
    return path


def test_merge_keeps_order_replaces_by_name_and_appends_new_rows():
    merge = _module().merge_results
    kept = [{"name": "a", "v": 1}, {"name": "b", "v": 2}]
    fresh = {"b": {"name": "b", "v": 3}, "c": {"name": "c", "v": 4}}
    assert merge(kept, fresh) == [{"name": "a", "v": 1}, {"name": "b", "v": 3},
                                  {"name": "c", "v": 4}]
    assert merge([], fresh) == list(fresh.values())


def test_update_reruns_only_the_named_model(data, tmp_path):
    out = tmp_path / "deg.json"
    full = _run("default", MEMBER, "--data", str(data), "--out", str(out))
    assert full.returncode == 0, full.stderr
    first = json.loads(out.read_text())
    assert first["faces"] == 8  # the PublicTest rows only
    assert [r["name"] for r in first["results"]] == ["emotion_default", "m0_vgg32_e60"]
    assert first["command"] == f"python benchmarks/degraded_public.py default {MEMBER}"
    first["results"][0]["seconds"] = -1.0  # a mark the update must keep
    out.write_text(json.dumps(first))
    upd = _run(MEMBER, "--data", str(data), "--out", str(out), "--update")
    assert upd.returncode == 0, upd.stderr
    second = json.loads(out.read_text())
    assert second["results"][0] == first["results"][0]  # not rerun
    assert second["results"][1]["seconds"] >= 0
    assert second["results"][1]["conditions"] == first["results"][1]["conditions"]
    assert second["command"] == first["command"]


def test_update_without_a_file_is_a_one_line_error(data, tmp_path):
    r = _run("default", "--data", str(data), "--out", str(tmp_path / "none.json"), "--update")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].endswith("none.json does not exist")
