"""Bad --stride, --batch-size and --bands values are usage errors (exit code 2, click's usage format) on every
command that takes them, refused before anything is read or written, with the message of the one rule that
checks each (PredictConfig, and for options that must fit the model, the layout's rules)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from geoclassify.cli.main import cli
from geoclassify.errors import ConfigError
from geoclassify.inference.config import PredictConfig

BANDS = [("0", "band numbers start at 1"), ("-1", "band numbers start at 1"), ("3,0,1", "band numbers start at 1"),
         ("a,b", "'a', 'b' is not a band number"), ("1,red", "not both"),
         ("1,1,", "expected comma-separated band numbers"), ("", "expected comma-separated band numbers"),
         ("1,,2", "expected comma-separated band numbers")]
STRIDES = [("0", "--stride must be at least 1, got 0"), ("-3", "--stride must be at least 1, got -3"),
           ("1000", "--stride must be between 1 and the chip size 32, got 1000"), ("1.5", "not a valid integer")]
BATCH_SIZES = [("0", "--batch-size must be at least 1, got 0"), ("-1", "--batch-size must be at least 1, got -1"),
               ("x", "not a valid integer")]
CASES = ([("--bands", *c) for c in BANDS] + [("--stride", *c) for c in STRIDES]
         + [("--batch-size", *c) for c in BATCH_SIZES])


def command_args(command: str, tmp_path: Path, chip_model: Path, rgb_byte: Path) -> list[str]:
    """Arguments that make each command valid but for the option under test (the scene given to evaluate with
    labels, so that --bands and --stride apply)."""
    return {"predict": ["predict", rgb_byte, "-o", tmp_path / "o.tif", "--model", chip_model],
            "predict_many": ["predict", rgb_byte, rgb_byte, "-o", tmp_path / "out/", "--model", chip_model],
            "evaluate": ["evaluate", "--model", chip_model, "--data", rgb_byte, "--labels", rgb_byte, "--out",
                         tmp_path / "report"],
            "train": ["train", "--out", tmp_path / "run", "--data", tmp_path / "chips"]}[command]


def usage_error(result, expect: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Usage: ") and "Traceback" not in result.output
    assert expect in result.output.strip().splitlines()[-1], result.output


@pytest.mark.parametrize("command, flag, value, expect", [
    (command, *case) for command in ("predict", "predict_many", "evaluate", "train") for case in CASES
    if command != "train" or case[0] == "--batch-size"])  # train takes --batch-size only
def test_bad_values_exit_2_on_every_command(command, flag, value, expect, chip_model, rgb_byte, tmp_path):
    args = command_args(command, tmp_path, chip_model, rgb_byte)
    result = CliRunner().invoke(cli, [*map(str, args), f"{flag}={value}"])
    usage_error(result, expect)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag, value", [("--stride", "0"), ("--batch-size", "0"), ("--bands", "0,1")])
def test_evaluate_of_chips_refuses_bad_values_it_would_not_use(flag, value, chip_model, tmp_path):
    """Chips take no --stride or --bands: a bad value is still refused as such, not ignored because it is 0."""
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(chip_model), "--data", str(tmp_path / "none"),
                                      "--out", str(tmp_path / "report"), flag, value])
    usage_error(result, flag)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_says_what_the_config_rule_says(rgb_byte, chip_model, tmp_path):
    """One rule, one message: the CLI's line is PredictConfig's own."""
    for field, flag, value in (("stride", "--stride", 0), ("batch_size", "--batch-size", 0), ("bands", "--bands", 0)):
        with pytest.raises(ConfigError) as info:
            PredictConfig(**{field: (value,) if field == "bands" else value})
        args = command_args("predict", tmp_path, chip_model, rgb_byte)
        result = CliRunner().invoke(cli, [*map(str, args), flag, str(value)])
        assert result.exit_code == 2 and result.output.strip().splitlines()[-1] == f"Error: {info.value}"


def test_segmentation_refuses_a_stride_as_a_usage_error(seg_model, rgb_byte, tmp_path):
    result = CliRunner().invoke(cli, ["predict", str(rgb_byte), "-o", str(tmp_path / "o.tif"), "--model",
                                      str(seg_model), "--stride", "4"])
    usage_error(result, "--stride applies to chip classifiers")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--bands", "0"], ["--bands", "-1"], ["--classes", "0"]])
def test_models_refuses_counts_under_one(args):
    result = CliRunner().invoke(cli, ["models", "--architectures", *args])
    usage_error(result, "is not in the range x>=1")
