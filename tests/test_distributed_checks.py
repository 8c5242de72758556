"""``analyze --ray`` and ``stylize --ray`` when Ray cannot run: one line, the documented exit
code, results kept, nothing written.

None of these start Ray: every check runs before Ray does, and before the output is opened.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emostyle.cli import app

from .conftest import EXAMPLE


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    """An earlier run's out.jsonl: 200 lines the user wants to keep."""
    out = tmp_path / "out.jsonl"
    out.write_text("".join(json.dumps({"source": f"old/{i}.jpg", "faces": []}) + "\n"
                           for i in range(200)))
    return out


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def run_ray(out: Path, address: str, *extra: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    # --overwrite: the existing results are replaced only by a finished run, so the checks
    # under test (Ray, cluster, models) are what must keep them
    res = CliRunner().invoke(app, ["analyze", str(EXAMPLE), "-o", str(out), "--ray", address,
                                   "--overwrite", *extra])
    took = time.perf_counter() - started
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output, took


def test_without_ray_installed_the_results_are_kept(results, monkeypatch):
    before = results.read_bytes()
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, output, _ = run_ray(results, "local")
    assert code == 1 and "--ray needs Ray: pip install 'emostyle[ray]'" in output
    assert len(output.strip().splitlines()) == 1
    assert results.read_bytes() == before


@pytest.fixture()
def with_ray(face_model):
    """Ray, and the face model: the CLI finds the face model before it looks for a cluster."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'emostyle[ray]')")


def test_an_unreachable_cluster_fails_in_seconds_and_keeps_the_results(with_ray, results,
                                                                       monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    before = results.read_bytes()
    port = closed_port()
    code, output, took = run_ray(results, f"127.0.0.1:{port}")
    assert code == 1 and f"the Ray cluster at 127.0.0.1:{port}" in output
    assert "does not answer" in output and took < 20
    assert results.read_bytes() == before


def test_a_stale_cluster_file_fails_in_seconds_and_says_so(with_ray, results, tmp_path,
                                                           monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{closed_port()}\n")
    before = results.read_bytes()
    code, output, took = run_ray(results, "auto")
    assert code == 1 and "ray_current_cluster is stale" in output and took < 20
    assert results.read_bytes() == before
    (tmp_path / "ray" / "ray_current_cluster").unlink()
    code, output, _ = run_ray(results, "auto")
    assert code == 1 and "no Ray cluster was started on this machine" in output
    assert results.read_bytes() == before


def test_a_missing_model_exits_3_and_keeps_the_results(with_ray, results, tmp_path):
    before = results.read_bytes()
    code, output, _ = run_ray(results, "local", "--model", str(tmp_path / "missing.onnx"))
    assert code == 3 and "missing.onnx" in output
    assert results.read_bytes() == before


def test_a_ray_client_address_needs_the_client(with_ray, results, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("grpc") is not None:
        pytest.skip("Ray's client (grpc) is installed here")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    before = results.read_bytes()
    code, output, _ = run_ray(results, "ray://127.0.0.1:10001")
    assert code == 1 and "ray[client]" in output
    assert results.read_bytes() == before


# ------------------------------------------------------------------------ stylize --ray

def stylize_on_ray(tmp_path: Path, address: str, *extra: str) -> tuple[int, str, Path]:
    """``stylize -e fear`` (the bundled style model, no face model needed) into tmp/out."""
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["stylize", str(EXAMPLE), "-o", str(out), "-e", "fear",
                                   "--ray", address, *extra])
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output, out


def test_stylize_without_ray_installed_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    code, output, out = stylize_on_ray(tmp_path, "local")
    assert code == 1 and "--ray needs Ray: pip install 'emostyle[ray]'" in output
    assert len(output.strip().splitlines()) == 1
    assert not out.exists()


def test_stylize_on_an_unreachable_cluster_writes_nothing(with_ray, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    port = closed_port()
    started = time.perf_counter()
    code, output, out = stylize_on_ray(tmp_path, f"127.0.0.1:{port}")
    assert code == 1 and f"the Ray cluster at 127.0.0.1:{port}" in output
    assert time.perf_counter() - started < 20 and len(output.strip().splitlines()) == 1
    assert not out.exists()


def test_stylize_on_ray_with_a_missing_model_exits_3_and_writes_nothing(with_ray, tmp_path):
    code, output, out = stylize_on_ray(tmp_path, "local", "--style-model",
                                       str(tmp_path / "missing.onnx"))
    assert code == 3 and "missing.onnx" in output
    code, output, out = stylize_on_ray(tmp_path, "local", "-e", "auto", "--model",
                                       str(tmp_path / "missing.onnx"))
    assert code == 3 and "missing.onnx" in output
    assert not out.exists()


def test_stylize_on_ray_with_an_unknown_style_exits_2_and_writes_nothing(with_ray, tmp_path):
    code, output, out = stylize_on_ray(tmp_path, "local", "-e", "no-such-style")
    assert code == 2 and "no-such-style" in output
    assert not out.exists()
