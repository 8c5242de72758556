"""benchmarks/bench_vs_fer.py: the alternation and the statistics on made-up timings, emostyle's
worker for real, the one-line errors when fer's python is missing or has no fer, and the whole
alternating run where a side venv with fer exists (``$EMOSTYLE_FER_PYTHON``, else
../venv-fer/bin/python beside the checkout; CI has none, and that test skips)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "bench_vs_fer.py"
FER_PYTHON = Path(os.environ.get("EMOSTYLE_FER_PYTHON",
                                 ROOT.parent / "venv-fer" / "bin" / "python"))


def _bench():
    spec = importlib.util.spec_from_file_location("bench_vs_fer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def _block(picture, tool, position, times, faces=1, cpu=None):
    return {"picture": picture, "tool": tool, "position": position, "times_ms": times,
            "cpu_ms": cpu or [], "detect_ms": [], "faces": faces}


def test_each_round_runs_both_tools_on_each_picture_and_swaps_who_goes_first():
    plan = _bench().schedule(3, ["a", "b"])
    assert plan == [(0, "a", ("emostyle", "fer")), (0, "b", ("emostyle", "fer")),
                    (1, "a", ("fer", "emostyle")), (1, "b", ("fer", "emostyle")),
                    (2, "a", ("emostyle", "fer")), (2, "b", ("emostyle", "fer"))]


def test_p90_is_bench_analyzes():
    p90 = _bench().p90
    assert p90([10, 1, 9, 2, 8, 3, 7, 4, 6, 5]) == 9
    assert p90([4.0]) == 4.0
    assert p90([3, 1, 2]) == 2  # sorted, index int(2.7) - 1 = 1


def test_summary_gives_medians_ratio_first_call_and_order_of_each_tool():
    blocks = [  # round 0: emostyle first; round 1: fer first
        _block("p", "emostyle", 0, [5.0, 10.0, 12.0], cpu=[9.0, 9.0, 9.0]),
        _block("p", "fer", 1, [30.0, 33.0, 36.0], faces=2),
        _block("p", "fer", 0, [40.0, 39.0, 38.0], faces=2),
        _block("p", "emostyle", 1, [7.0, 14.0, 16.0], cpu=[11.0, 11.0, 11.0]),
        _block("q", "emostyle", 0, [1.0]),
    ]
    out = _bench().summarize(blocks, ["p", "q"])
    emo, fer = out["p"]["emostyle"], out["p"]["fer"]
    assert emo["median_ms"] == 11.0 and emo["n"] == 6 and emo["blocks"] == 2
    assert emo["p90_ms"] == 14.0
    assert emo["first_in_block_median_ms"] == 6.0   # 5 and 7, the first call of each block
    assert emo["rest_median_ms"] == 13.0             # 10, 12, 14, 16
    assert emo["median_ms_when_first"] == 10.0 and emo["median_ms_when_second"] == 14.0
    assert emo["cpu_ms_median"] == 10.0 and "cpu_ms_median" not in fer
    assert "detect_ms_median" not in emo
    assert fer["median_ms"] == 37.0 and fer["median_ms_when_first"] == 39.0
    assert emo["faces_found"] == 1 and fer["faces_found"] == 2
    assert out["p"]["ratio_fer_over_emostyle"] == pytest.approx(37.0 / 11.0)
    assert "fer" not in out["q"] and "ratio_fer_over_emostyle" not in out["q"]


def test_faces_found_lists_every_count_when_they_differ():
    blocks = [_block("p", "fer", 0, [1.0], faces=3), _block("p", "fer", 1, [1.0], faces=2)]
    assert _bench().summarize(blocks, ["p"])["p"]["fer"]["faces_found"] == [2, 3]


def test_pause_summary_sets_paused_calls_against_back_to_back_ones():
    def rec(setting, mode, times, detect):
        return {"setting": setting, "picture": "p", "mode": mode, "times_ms": times,
                "cpu_ms": [], "detect_ms": detect, "faces": 1}

    out = _bench().summarize_pause([
        rec("ort2", "back_to_back", [30.0, 32.0], [20.0, 22.0]),
        rec("ort2", "paused", [20.0, 22.0], [11.0, 13.0]),
        rec("ort2", "back_to_back", [28.0], [19.0]),
        rec("ort1", "paused", [25.0], [15.0]),
    ])
    entry = out["ort2"]["p"]
    assert entry["back_to_back"]["median_ms"] == 30.0 and entry["back_to_back"]["n"] == 3
    assert entry["paused"]["detect_ms_median"] == 12.0
    assert entry["paused_over_back_to_back"] == pytest.approx(21.0 / 30.0)
    assert "paused_over_back_to_back" not in out["ort1"]["p"]


def test_self_check_runs_emostyle_worker_for_real(face_model):
    done = _run("--self-check")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["ok"] is True and answer["faces"] == 1
    assert len(answer["times_ms"]) == 1
    assert all(math.isfinite(t) and t > 0 for t in answer["times_ms"] + answer["cpu_ms"])
    # the worker imports emostyle from this checkout, not whatever is installed
    assert Path(answer["ready"]["package"]).is_relative_to(ROOT / "src")


def test_worker_protocol_with_a_pause_on_eight_faces(tmp_path, face_model):
    bench = _bench()
    bench.write_pictures(tmp_path, ["1920x1080_8face"])
    with contextlib.ExitStack() as stack:
        worker = bench.start_emostyle(stack, tmp_path, "default", 1, cv_threads=1)
        assert worker.ready["cv_threads"] == 1 and worker.ready["ort_threads"] == 1
        answer = worker.ask("1920x1080_8face", 2, pause=0.01)
    assert worker.proc.returncode == 0   # closed by the stack: quit, not killed
    assert answer["faces"] == 8 and len(answer["times_ms"]) == len(answer["detect_ms"]) == 2
    assert all(0 < d < t for d, t in zip(answer["detect_ms"], answer["times_ms"], strict=True))


def test_a_missing_fer_python_is_one_line(tmp_path):
    missing = tmp_path / "nowhere" / "python"
    done = _run("--fer-python", str(missing), "--out", str(tmp_path / "r.json"), timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"bench_vs_fer: --fer-python {missing}: no such python; make the side venv "
        "(recipe in benchmarks/bench_vs_fer.py)"]
    assert not (tmp_path / "r.json").exists()


def test_a_python_without_fer_is_one_line(tmp_path):
    if importlib.util.find_spec("fer") is not None:
        pytest.skip("fer is importable here: this test needs a python without it")
    done = _run("--fer-python", sys.executable, "--out", str(tmp_path / "r.json"), timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"bench_vs_fer: fer worker: cannot import fer with {sys.executable} (")
    assert not (tmp_path / "r.json").exists()


def test_whole_alternating_run_against_fer(tmp_path, face_model):
    if not FER_PYTHON.is_file():
        pytest.skip(f"no side venv with fer ({FER_PYTHON} missing; set EMOSTYLE_FER_PYTHON)")
    out = tmp_path / "vs_fer.json"
    done = _run("--fer-python", str(FER_PYTHON), "--rounds", "2", "--repeats", "2",
                "--warmup", "1", "--pause-rounds", "1", "--pause-repeats", "1",
                "--pause", "0.01", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["fer"]["versions"]["fer"] and result["fer"]["versions"]["tensorflow"]
    assert result["emostyle"]["versions"]["onnxruntime"]
    assert result["machine"]["cores"] == os.cpu_count()
    comparison = result["comparison"]
    assert comparison["rounds_done"] == 2
    order = [(b["round"], b["picture"], b["tool"]) for b in comparison["blocks"]]
    assert order[:2] == [(0, "640x480_1face", "emostyle"), (0, "640x480_1face", "fer")]
    assert order[6:8] == [(1, "640x480_1face", "fer"), (1, "640x480_1face", "emostyle")]
    for pic, faces in (("640x480_1face", 1), ("1920x1080_1face", 1), ("1920x1080_8face", 8)):
        entry = comparison["pictures"][pic]
        assert entry["emostyle"]["faces_found"] == faces
        assert entry["emostyle"]["n"] == entry["fer"]["n"] == 4
        assert entry["ratio_fer_over_emostyle"] == pytest.approx(
            entry["fer"]["median_ms"] / entry["emostyle"]["median_ms"])
    study = result["pause_study"]["results"]
    assert set(study) == {"ort2", "ort2_cv1", "ort1", "ort1_cv1", "ort2_nospin"}
    assert result["pause_study"]["settings"]["ort2_nospin"]["use"] == "command"
    assert "fer/emo" in done.stdout and f"wrote {out}" in done.stdout
