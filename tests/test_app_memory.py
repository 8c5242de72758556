"""The photo page gives memory back: a few big uploads leave the process near where it started.

Runs ``benchmarks/app_memory.py`` (the real page in Streamlit's AppTest) in a subprocess of its
own, so what other tests loaded does not count; about a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import emostyle

from .conftest import ROOT

pytest.importorskip("streamlit", reason="the web app needs the app extra (streamlit)")

SCRIPT = ROOT / "benchmarks" / "app_memory.py"


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_memory_comes_back_after_big_uploads(face_model, tmp_path):
    out = tmp_path / "app_memory.json"
    src = Path(emostyle.__file__).resolve().parents[1]
    env = os.environ | {"PYTHONPATH": str(src), "EMOSTYLE_FACE_MODEL": str(face_model)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--uploads", "3", "--size",
                           "3000x2000", "--json", str(out)], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    print(done.stdout)
    # The start page, then what any first upload imports once (Altair, pandas, ONNX Runtime).
    start = result["idle_rss_mb"] + result["libraries_mb"]
    # Measured: the models (~80 MB) and, while shown, one 18 MB photo and its painting stay;
    # before, every upload added its decoded copy and painting to a cache and ONNX Runtime kept
    # the style network's peak arena: 450 MB above the start after three uploads.
    shown = result["after_uploads_rss_mb"] - start
    cleared = result["after_clear_rss_mb"] - start
    assert shown < 250, result
    assert cleared < 200, result
    assert all(row["painted"] for row in result["uploads"]), result["uploads"]
