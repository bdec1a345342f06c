"""`geoclassify benchmark`: one row per model and backend, CSV, Markdown and a latency chart."""

from __future__ import annotations

import csv

from click.testing import CliRunner

from geoclassify.cli.main import cli


def test_benchmark_table_for_torch_onnx_and_int8(agnet_model, agnet_onnx, agnet_int8, agnet_config, tmp_path):
    out = tmp_path / "bench"
    result = CliRunner().invoke(cli, ["-q", "benchmark", "--models", str(agnet_model), str(agnet_onnx),
                                      str(agnet_int8), "--data", str(agnet_config), "--out", str(out),
                                      "--rounds", "1", "--calls", "3"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["backend"] for r in rows] == ["torch float32", "onnxruntime float32", "onnxruntime int8"]
    for row in rows:
        assert 0 <= float(row["accuracy"]) <= 1 and float(row["latency_ms"]) > 0 and float(row["throughput"]) > 0
        assert int(row["parameters"]) > 1000 and float(row["gflops"]) > 0 and float(row["size_mb"]) > 0
    assert rows[0]["accuracy"] == rows[1]["accuracy"] and float(rows[0]["speedup"]) == 1.0
    md = (out / "results.md").read_text()
    assert "latency batch 1 (ms)" in md and "agnet.int8.onnx" in md
    assert (out / "latency.png").read_bytes()[:4] == b"\x89PNG"
