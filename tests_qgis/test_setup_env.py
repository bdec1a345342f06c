"""setup_env.py on its own: what pip is asked, its lines as progress, its reasons, the Python found, the lock.

The set-up itself (a real environment, real pip, real wheels) is tested through QGIS in test_setup.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from geoclassify_qgis import setup_env
from geoclassify_qgis.setup_env import SetupError, Source

PIP_LINES = """Looking in links: /w/deps
Processing /w/project/geoclassify-0.2.0-py3-none-any.whl
Collecting numpy>=1.24
  Downloading numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl (16.9 MB)
Collecting rasterio>=1.3
  Using cached rasterio-1.4.4-cp311-cp311-manylinux_2_28_x86_64.whl (35.9 MB)
Collecting affine
Building wheels for collected packages: affine
Installing collected packages: affine, numpy, rasterio, geoclassify
Successfully installed affine-3.0.1 geoclassify-0.2.0 numpy-2.4.6 rasterio-1.4.4""".splitlines()


def test_extras_are_checked():
    assert setup_env.parse_extras(" torch, report torch ") == ("torch", "report")
    assert setup_env.parse_extras("[torch]") == ("torch",) and setup_env.parse_extras("") == ()
    with pytest.raises(SetupError, match="not an extra's name: torch;rm"):
        setup_env.parse_extras("torch;rm -rf")


def test_what_pip_is_asked(tmp_path):
    wheel = tmp_path / "wheels" / "geoclassify-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"")
    assert Source().pip_args() == ["geoclassify"]
    assert Source(extras=("torch",), index_url="https://mirror/simple").pip_args() == [
        "--index-url", "https://mirror/simple", "geoclassify[torch]"]
    assert Source(wheel=str(wheel)).pip_args() == ["--find-links", str(wheel.parent), str(wheel)]
    offline = Source(wheel=str(wheel), folder=str(wheel.parent), extras=("torch", "report"))
    offline.check()
    assert offline.pip_args() == ["--no-index", "--find-links", str(wheel.parent), f"{wheel}[torch,report]"]
    assert "offline" in offline.describe() and "geoclassify[torch,report]" in offline.describe()


@pytest.mark.parametrize("source, message", [
    (Source(wheel="/no/geoclassify-1.0-py3-none-any.whl"), "does not exist"),
    (Source(wheel=__file__), "is not a geoclassify wheel"),
    (Source(folder="/no/such/folder"), "the folder of wheels /no/such/folder does not exist"),
    (Source(folder=str(Path(__file__).parent)), "holds no wheel files"),
    (Source(index_url="mirror.example/simple"), "does not start with https://"),
])
def test_bad_sources_are_refused(source, message):
    with pytest.raises(SetupError, match=message):
        source.check()


def test_folder_and_index_together_are_refused(tmp_path):
    (tmp_path / "a-1.0-py3-none-any.whl").write_bytes(b"")
    with pytest.raises(SetupError, match="not both"):
        Source(folder=str(tmp_path), index_url="https://mirror/simple").check()


def test_pip_lines_as_steps_and_progress(tmp_path):
    site = tmp_path / "site-packages"
    (site / "pip-23.0.dist-info").mkdir(parents=True)
    progress = setup_env.PipProgress(site)
    steps, percents = [], []
    for line in PIP_LINES:
        step = progress.feed(line)
        if step:
            steps.append(step)
            percents.append(progress.percent)
    assert steps == ["installing 4 packages", "installed"] and percents == [50, 95]
    progress = setup_env.PipProgress(site)
    collecting = []
    for line in PIP_LINES[:7]:
        progress.feed(line)
        collecting.append(progress.percent)
    assert collecting == sorted(collecting) and 10 < collecting[1] < collecting[-1] < 50  # 4 packages collected
    progress = setup_env.PipProgress(site)
    progress.feed(PIP_LINES[-2])
    assert progress.poll() == 50
    for name in ("affine", "numpy"):
        (site / f"{name}-1.0.dist-info").mkdir()
    assert progress.poll() == pytest.approx(50 + 45 / 2)  # two of the four packages in place


def test_pips_reason():
    failed = ["Looking in links: /w", "Processing /w/geoclassify-0.2.0-py3-none-any.whl",
              "ERROR: Could not find a version that satisfies the requirement numpy>=1.24 (from geoclassify) "
              "(from versions: none)", "ERROR: No matching distribution found for numpy>=1.24"]
    assert setup_env.pip_reason(failed) == ("Could not find a version that satisfies the requirement numpy>=1.24 "
                                            "(from geoclassify) (from versions: none)\n"
                                            "No matching distribution found for numpy>=1.24")
    conflict = ["Collecting a", "ERROR: Cannot install geoclassify because these package versions have conflicting "
                "dependencies.", "", "The conflict is caused by:", "    geoclassify 1.0 depends on numpy>=9",
                "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io"]
    assert "geoclassify 1.0 depends on numpy>=9" in setup_env.pip_reason(conflict)
    assert setup_env.pip_reason(["a", "Traceback", "OSError: disk full"]).endswith("OSError: disk full")


def test_a_python_that_can_make_the_environment_is_found(tmp_path):
    python, version = setup_env.find_python()
    assert tuple(int(v) for v in version.split(".")[:2]) >= setup_env.MIN_PYTHON
    assert Path(python).name.startswith("python")
    proc = subprocess.run([str(python), "-c", "import venv, ensurepip"], capture_output=True)
    assert proc.returncode == 0
    with pytest.raises(SetupError) as err:
        setup_env.find_python(str(tmp_path / "python9"))
    assert f"tried {tmp_path / 'python9'} (not found)" in str(err.value)
    with pytest.raises(SetupError, match="does not run as Python"):
        setup_env.find_python("/bin/true")
    assert Path(sys.base_prefix, "bin", f"python{sys.version_info[0]}.{sys.version_info[1]}") in \
        setup_env.python_candidates()  # QGIS's own interpreter first (on Linux)


def test_one_set_up_at_a_time_and_leftovers(tmp_path):
    with setup_env.one_setup_at_a_time(tmp_path):
        with pytest.raises(SetupError, match="another set-up of geoclassify is running"):
            with setup_env.one_setup_at_a_time(tmp_path):
                pass
    with setup_env.one_setup_at_a_time(tmp_path):  # released
        pass
    done, half = tmp_path / "env-1", tmp_path / "env-2"
    for folder in (done, half):
        (folder / "bin").mkdir(parents=True)
    (done / setup_env.MARKER).write_text("{}")
    (tmp_path / "mine").mkdir()  # not made by a set-up: never touched
    with setup_env.one_setup_at_a_time(tmp_path):  # another set-up is running: nothing is removed
        assert setup_env.remove_previous(tmp_path, keep=tmp_path / "env-3") == []
    assert setup_env.remove_previous(tmp_path, keep=tmp_path / "env-3") == [done]  # not the unfinished one
    assert setup_env.remove_incomplete(tmp_path) == [half]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".setup.lock", "mine"]
