"""benchmarks/pareto.py's bookkeeping (no training here): the Pareto front, the two goals, the table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pareto import goals, pareto_front  # noqa: E402


def row(model: str, latency_ms: float, miou: float) -> dict:
    return {"model": model, "latency_ms": latency_ms, "miou": miou}


def test_front_keeps_only_models_nobody_beats_on_both_axes():
    rows = [row("a", 100, 0.30), row("b", 200, 0.40), row("c", 250, 0.35), row("d", 100, 0.25)]
    assert pareto_front(rows) == {"a", "b"}  # c: b is faster and better; d: a is as fast and better


def test_goals():
    rows = {r["model"]: r for r in (row("swiftnet_rn18", 240, 0.30), row("deeplabv3_mnv3", 200, 0.25),
                                      row("swiftnet_mnv2", 120, 0.22), row("lraspp_mnv3", 86, 0.22))}
    result = goals(rows)
    assert not result["rn18_beats_deeplabv3_mnv3"]["met"]  # more accurate but slower
    assert result["rn18_beats_deeplabv3_mnv3"]["miou_pp"] == 5.0
    assert not result["mnv2_not_dominated_by_lraspp"]["met"]  # as accurate and faster: dominated
    rows["swiftnet_mnv2"]["miou"] = 0.23
    assert goals(rows)["mnv2_not_dominated_by_lraspp"]["met"]


def test_table_shows_every_runtime_and_which_one_the_front_used(tmp_path):
    from benchmarks.pareto import _recorded, markdown

    r = {**row("swiftnet_rn18", 27.0, 0.14), "label": "SwiftNet RN-18", "params_m": 11.8, "gmacs": 6.47,
         "latency_runtime": "onnxruntime-int8", "miou_mo": 0.045, "miou_as_trained": 0.13, "train_wall_s": 900,
         "latency_ms_by_runtime": {"torch": 148.0, "onnxruntime-fp32": 65.0, "onnxruntime-int8": 27.0},
         "pareto": True, "val_images": 50}
    result = {"budget": {"iters": 80, "batch_size": 8, "crop": "256x256", "size": "256x512", "threads": 1},
              "val_images": 50, "bench_size": "256x512", "bench_threads": 2, "repeats": 15,
              "runtimes": ["torch", "onnxruntime-fp32", "onnxruntime-int8"], "rows": [r], "goals": {},
              "timed_on": {"cpu": {"model": "Some CPU", "features": ["avx2"]}}}
    table = markdown(result)
    assert "| eager fp32 (ms) | ORT fp32 (ms) | ORT int8 (ms) | fastest |" in table
    assert "| 148 | 65 | 27 | ORT int8 | 37.0 | 14.0 |" in table and "Some CPU: avx2" in table
    # --retime keeps the recorded accuracy columns and refuses models the record lacks
    (tmp_path / "pareto.json").write_text(json.dumps({"rows": [r], "budget": result["budget"]}))
    kept = _recorded(tmp_path / "pareto.json", ["swiftnet_rn18"])
    assert kept["swiftnet_rn18"]["miou"] == 0.14 and "latency_ms" not in kept["swiftnet_rn18"]
    with pytest.raises(SystemExit, match="no row for lraspp_mnv3"):
        _recorded(tmp_path / "pareto.json", ["lraspp_mnv3"])
