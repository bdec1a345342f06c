"""`geoclassify export` and `geoclassify quantize` through the CLI: files, cards and bad input."""

from __future__ import annotations

from click.testing import CliRunner

from geoclassify.cli.main import cli
from geoclassify.models.onnx_file import read_onnx_card


def run(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def test_quantize_cli_writes_a_smaller_int8_model(agnet_onnx, agnet_config, tmp_path):
    out = tmp_path / "m.int8.onnx"
    result = run("quantize", agnet_onnx, "--calibration", agnet_config, "-o", out, "--chips", 32)
    assert result.exit_code == 0, result.output
    card = read_onnx_card(out)
    assert "32 chips" in card.provenance["quantization"] and "QDQ" in card.provenance["quantization"]
    assert out.stat().st_size < agnet_onnx.stat().st_size
    import onnx

    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    again = run("quantize", out, "--calibration", agnet_config, "-o", tmp_path / "twice.onnx")
    assert again.exit_code == 1 and "already quantized" in again.output


def test_export_refuses_existing_output_and_cardless_models(agnet_model, agnet_onnx, tmp_path):
    exists = run("export", agnet_model, "-o", agnet_onnx)
    assert exists.exit_code == 1 and "--overwrite" in exists.output
    bare = tmp_path / "bare.safetensors"
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(2, np.float32)}, str(bare))
    result = run("export", bare, "-o", tmp_path / "x.onnx")
    assert result.exit_code == 1 and "no geoclassify model card" in result.output


def test_calibration_with_other_classes_is_refused(agnet_onnx, tmp_path, agnet_chips):
    other = tmp_path / "chips"
    for name in ("b_other", "a_crop"):
        (other / name).mkdir(parents=True)
        src = next((agnet_chips / "agricultural").iterdir())
        (other / name / src.name).write_bytes(src.read_bytes())
    result = run("quantize", agnet_onnx, "--calibration", other, "-o", tmp_path / "q.onnx")
    assert result.exit_code == 1 and "a_crop" in result.output and "agricultural" in result.output
