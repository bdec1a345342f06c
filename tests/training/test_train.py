"""Training on tiny real data: every architecture, run directories, resume, bad input."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from geoclassify.cli.main import cli
from geoclassify.errors import ConfigError, OutputError
from geoclassify.models.files import load_model
from geoclassify.training import trainer as trainer_module
from geoclassify.training.chips import scan_chip_folders, split_by_place
from geoclassify.training.config import config_from_dict
from geoclassify.training.run import RunDir
from geoclassify.training.trainer import TrainingError, resume, train

from .conftest import chip_config

ARCHS = ["compact_cnn", "resnet50", "efficientnet_b3", "cnn_vit", "mobilenetv2_100", "densenet121", "timm:resnet18"]
CLASSES = ("agricultural", "non_agricultural")


def logits_of(model, card, chips: np.ndarray) -> np.ndarray:
    """The model's logits for raw (n, bands, h, w) chips normalised as the card says, outside the trainer."""
    mean = np.array(card.mean, np.float32)[:, None, None]
    std = np.array(card.std, np.float32)[:, None, None]
    with torch.no_grad():
        return model(torch.from_numpy((chips.astype(np.float32) - mean) / std)).numpy()


def scene_chips(scene) -> np.ndarray:
    """The 32 x 32 blocks of a 128 x 128 scene in row-major order, (16, bands, 32, 32)."""
    with rasterio.open(scene) as ds:
        image = ds.read()
    bands = image.shape[0]
    return image.reshape(bands, 4, 32, 4, 32).transpose(1, 3, 0, 2, 4).reshape(16, bands, 32, 32)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_trains_and_predicts(arch, tiny_chips, agnet_scene, tmp_path):
    """One step of 16 chips: the weights move, the model file loads with its card, the validation and test
    accuracies are those its own predictions give, and `predict` classifies each 32-pixel block of a scene as
    the model does."""
    values = chip_config(tiny_chips)
    values["data"].update(reflectance_scale=1275.0, value_range=[0, 255], radiometry="8-bit true colour")
    values["model"] = {"arch": arch, "kwargs": {"depth": 2, "dim": 64, "heads": 2} if arch == "cnn_vit" else {}}
    config = config_from_dict(values)
    run = RunDir(tmp_path / "run")
    run.create(config)
    trainer = trainer_module.Trainer(config, run)
    initial = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    result = trainer.fit()
    assert {"config.yaml", "run.json", "metrics.csv", "metrics.json", "checkpoint.pt", "best.safetensors",
            "last.safetensors", "test_metrics.json", "tensorboard"} <= {p.name for p in run.path.iterdir()}

    history = json.loads((run.path / "metrics.json").read_text())
    assert len(history) == 1 and 0 < history[0]["train_loss"] < math.inf
    last = load_file(str(run.path / "last.safetensors"))
    stem = next(name for name, p in initial.items() if p.ndim == 4)  # the first convolution
    head = [name for name, p in initial.items() if p.ndim == 2][-1]  # the classifier
    for name in (stem, head):  # Adam's first step moves each weight with a gradient by about lr; decay alone 1e-7 lr
        assert (last[name] - initial[name]).abs().max() > config.optim.lr / 2, f"{name} did not learn"

    model, card = load_model(run.path / "best.safetensors")
    assert card.architecture == arch and card.class_names == CLASSES
    assert card.bands == (1, 2, 3, 4, 5, 6, 7) and card.tile_size == 32
    assert (card.reflectance_scale, card.value_range, card.radiometry) == (1275.0, (0.0, 255.0), "8-bit true colour")
    splits = split_by_place(scan_chip_folders(config.data)[1], config.data)
    assert [len(splits[name]) for name in ("train", "val", "test")] == [16, 16, 16]
    for name, accuracy in (("val", history[0]["val_accuracy"]), ("test", result["test"]["accuracy"])):
        chips = np.stack([rasterio.open(s.path).read() for s in splits[name]])
        predicted = logits_of(model, card, chips).argmax(1)
        assert accuracy == np.mean(predicted == [s.label for s in splits[name]]), name

    out = tmp_path / "pred.tif"
    proc = CliRunner().invoke(cli, ["-q", "predict", str(agnet_scene), "-m", str(run.path / "best.safetensors"),
                                    "-o", str(out)])
    assert proc.exit_code == 0, proc.output
    with rasterio.open(out) as ds:
        assert json.loads(ds.tags(1)["CLASS_NAMES"]) == list(CLASSES)
        assert np.array_equal(ds.read(1), logits_of(model, card, scene_chips(agnet_scene)).argmax(1).reshape(4, 4))


AMP_DEVICE = "cuda"


@pytest.mark.gpu
@pytest.mark.skipif(AMP_DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_amp_on_cuda_runs_in_float16_with_a_loss_scale(agnet_chips, tmp_path):
    """The CUDA-only path of optim.amp: float16 autocast and a GradScaler. The model runs in float16, the scaler
    is on (its scale is in the checkpoint), the saved weights are float32, and on the CPU in float32 they give
    the test accuracy measured on the GPU, except for chips whose two logits are closer than float16 rounding."""
    values = chip_config(agnet_chips, amp=True)
    values["device"] = AMP_DEVICE
    values["model"] = {"arch": "timm:resnet18", "kwargs": {}}
    config = config_from_dict(values)
    run = RunDir(tmp_path / "run")
    run.create(config)
    trainer = trainer_module.Trainer(config, run)
    dtypes = set()
    trainer.model.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    result = trainer.fit()
    assert dtypes == {torch.float16}
    scaler = run.load_checkpoint()["scaler"]
    assert scaler["scale"] > 0, "the GradScaler is enabled"
    history = json.loads((run.path / "metrics.json").read_text())
    assert 0 < history[0]["train_loss"] < math.inf
    best = load_file(str(run.path / "best.safetensors"))
    assert {t.dtype for t in best.values() if t.is_floating_point()} == {torch.float32}
    assert all(torch.isfinite(t).all() for t in best.values() if t.is_floating_point())

    model, card = load_model(run.path / "best.safetensors")
    test = split_by_place(scan_chip_folders(config.data)[1], config.data)["test"]
    logits = logits_of(model, card, np.stack([rasterio.open(s.path).read() for s in test]))
    right = logits.argmax(1) == [s.label for s in test]
    close = np.abs(logits[:, 1] - logits[:, 0]) < 0.05
    assert abs(result["test"]["accuracy"] * len(test) - right.sum()) <= close.sum()


def test_compact_model_fits_the_training_chips(agnet_chips, tmp_path):
    """Training really learns: the loss falls and the training chips end up far above the majority
    class (69 %). (Held-out accuracy on 16-32 chips says little; the benchmarks measure that.)"""
    values = chip_config(agnet_chips, epochs=15, lr=0.003, label_smoothing=0.0)
    values["loader"]["augment"] = False
    run = RunDir(tmp_path / "run")
    config = config_from_dict(values)
    run.create(config)
    trainer = trainer_module.Trainer(config, run)
    trainer.fit()
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(history) == 15 and history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    trainer.model.load_state_dict(load_file(str(tmp_path / "run" / "last.safetensors")))
    fitted = trainer.evaluate("train")
    assert fitted["accuracy"] >= 0.85  # a trainer that learns nothing stays near 0.69


def test_resume_gives_the_same_model_as_an_uninterrupted_run(agnet_chips, tmp_path, monkeypatch):
    values = chip_config(agnet_chips, epochs=2, mixup=0.3, cutmix=0.3)
    values["loader"]["augment"] = True
    train(config_from_dict(values), str(tmp_path / "straight"))

    original = trainer_module.Trainer.train_epoch

    def interrupted(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config_from_dict(values), str(tmp_path / "resumed"))
    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", original)
    assert len(json.loads((tmp_path / "resumed" / "metrics.json").read_text())) == 1
    resume(str(tmp_path / "resumed"))
    a = load_file(str(tmp_path / "straight" / "last.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "last.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_corrupt_training_image_is_skipped_and_counted(agnet_chips, tmp_path):
    root = tmp_path / "chips"
    shutil.copytree(agnet_chips, root)
    values = chip_config(root)
    config = config_from_dict(values)
    victim = split_by_place(scan_chip_folders(config.data)[1], config.data)["train"][0].path
    with open(victim, "r+b") as fh:
        fh.truncate(300)
    train(config, str(tmp_path / "run"))
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert history[0]["train_skipped"] == 1


def test_empty_class_folder_is_refused(agnet_chips, tmp_path):
    (tmp_path / "chips" / "a").mkdir(parents=True)
    (tmp_path / "chips" / "b").mkdir()
    with pytest.raises(ConfigError, match="holds no images"):
        train(config_from_dict(chip_config(tmp_path / "chips")), str(tmp_path / "run"))


def test_existing_run_directory_is_refused(agnet_chips, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x").write_text("keep")
    with pytest.raises(OutputError, match="--resume"):
        train(config_from_dict(chip_config(agnet_chips)), str(tmp_path / "run"))


def test_nan_loss_stops_with_a_clear_error(agnet_chips, tmp_path):
    with pytest.raises(TrainingError, match="loss became nan"):
        train(config_from_dict(chip_config(agnet_chips, lr=1e30, grad_clip=None)), str(tmp_path / "run"))


def test_tensorboard_logs_are_written_without_importing_tensorflow(tmp_path):
    """tensorboard imports TensorFlow whenever it is installed (it is, for the Keras path): 3.5 s and
    450 MiB a run, and a crash risk beside torch. The training process writes readable event files without it."""
    assert importlib.util.find_spec("tensorflow") is not None  # else this test proves nothing
    code = f"""
import sys
from geoclassify.training.trainer import tensorboard_writer
writer = tensorboard_writer({str(tmp_path)!r})
writer.add_scalar("train/loss", 0.25, 3)
writer.close()
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
path = next(p for p in __import__("pathlib").Path({str(tmp_path)!r}).iterdir() if "tfevents" in p.name)
scalars = [(e.step, v.tag, v.tensor.float_val[0]) for e in EventFileLoader(str(path)).Load() for v in e.summary.value]
print(scalars, "tensorflow" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[(3,", "'train/loss',", "0.25)]", "False"]
