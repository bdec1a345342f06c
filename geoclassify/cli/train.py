"""`geoclassify train --config run.yaml --out runs/NAME`: train a model into a run directory."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from types import ModuleType
from typing import Any

import click

from geoclassify.cli.options import batch_size_flag, progress_reporter, verbosity_options
from geoclassify.errors import ConfigError
from geoclassify.optional import require
from geoclassify.training.keras import check_arch, check_installed

log = logging.getLogger("geoclassify")

# shortcut flag -> config key
SHORTCUTS = {"framework": "model.framework", "arch": "model.arch", "pretrained": "model.pretrained",
             "epochs": "optim.epochs", "batch_size": "optim.batch_size", "lr": "optim.lr", "device": "device",
             "data": "data.path", "workers": "loader.workers", "cache_dir": "loader.cache_dir"}


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML training config.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory to create (e.g. runs/NAME).")
@click.option("--resume", "resume_path", type=click.Path(file_okay=False), help="Continue an interrupted run.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. optim.lr=0.001.")
@click.option("--framework", type=click.Choice(["torch", "keras"]),
              help="torch (default) or keras: a Keras 3 ResNet-50 on tf.data, trained in its own process.")
@click.option("--arch", help="Architecture (see `geoclassify models`; any timm model as timm:NAME).")
@click.option("--pretrained", help="imagenet (EfficientNet-Lite0/1/2 offline from geoclassify[pretrained], other "
              "timm models from timm's hub), a local weights file, or 'true' (timm's hub weights).")
@click.option("--data", help="Data path (chip folders: one folder per class).")
@click.option("--epochs", type=int)
@batch_size_flag(None, "Chips per training step (default: the config's optim.batch_size).")
@click.option("--lr", type=float)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--workers", type=int, help="DataLoader worker processes.")
@click.option("--cache-dir", help="Cache decoded samples here (reused by later epochs and runs).")
@click.option("--amp", is_flag=True, default=None, help="Mixed precision (float16 on CUDA; slow bfloat16 on CPU).")
@verbosity_options
@click.pass_context
def train(ctx: click.Context, config_path, out, resume_path, overrides, amp, **shortcuts) -> None:
    """Train a model on labelled chips or scenes; writes metrics, TensorBoard logs and best/last model files.

    With --framework keras, a Keras 3 ResNet-50 is trained in a separate process (TensorFlow never shares a
    process with torch) and saved as best.onnx / last.onnx (and .keras) with the same model card.
    """
    if shortcuts.get("framework") == "keras":
        check_installed()  # the keras extra (its config reader needs only what that extra installs)
    config_module, run_module = training_module("config"), training_module("run")

    progress = progress_reporter(ctx)
    if resume_path:
        if config_path or out or overrides or any(v is not None for v in shortcuts.values()):
            raise click.UsageError("--resume continues a run with its saved config; give no other options")
        if run_module.RunDir(resume_path).load_config().model.framework == "keras":
            run_keras(ctx, ["--resume", resume_path])
        result = training_module("trainer").resume(resume_path, progress)
    else:
        if not out:
            raise click.UsageError("--out RUN_DIR is required (or --resume RUN_DIR)")
        pairs = [f"{SHORTCUTS[k]}={v}" for k, v in shortcuts.items() if v is not None]
        if amp:
            pairs.append("optim.amp=true")
        config = config_module.load_config(config_path, [*pairs, *overrides])
        if config.model.framework == "keras":
            check_arch(config.model.arch)
            args = ["--config", config_path] if config_path else []
            run_keras(ctx, [*args, "--out", out, *(a for pair in [*pairs, *overrides] for a in ("--set", pair))])
        if config.model.framework != "torch":
            raise ConfigError(f"model.framework must be torch or keras, not {config.model.framework!r}")
        result = training_module("trainer").train(config, out, progress)
    echo_result(result)


def echo_result(result: dict[str, Any]) -> None:
    """Log a finished run's best epoch and test metrics, and print the result as JSON on stdout.

    Args:
        result: what a trainer's train or resume returns: "best_epoch" and the "test" metrics.
    """
    log.info("best epoch %d; test %s", result["best_epoch"],
             ", ".join(f"{k} {v:.4f}" for k, v in result["test"].items() if isinstance(v, float)))
    click.echo(json.dumps(result))


def training_module(name: str) -> ModuleType:
    """geoclassify.training.NAME ("trainer" imports torch), imported when a command needs it.

    Args:
        name: the module's name in geoclassify.training, e.g. "config".

    Returns:
        The imported module.

    Raises:
        GeoclassifyError: a dependency of it is not installed; the message names the train extra.
    """
    return require(f"geoclassify.training.{name}", "train", "training runs")


def run_keras(ctx: click.Context, args: list[str]) -> None:
    """Run the Keras trainer in its own process (TensorFlow and torch must not share one) and exit with its code."""
    check_installed()
    root = ctx.find_root().ensure_object(dict)
    flags = ["-v"] * root.get("verbose", 0) + (["-q"] if root.get("quiet") else [])
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    child = subprocess.Popen([sys.executable, "-m", "geoclassify.cli.keras_process", *flags, *args], env=env)
    try:
        code = child.wait()
    except KeyboardInterrupt:  # the child got the same Ctrl-C and says what it kept
        code = child.wait()
    ctx.exit(code)
