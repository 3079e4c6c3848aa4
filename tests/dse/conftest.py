"""The two tiny studies that the study and report tests read, made once for the package's tests, and a small disk."""

import subprocess
from pathlib import Path

import pytest

from dse.cli import main
from tests.dse.tiny import TINY_STUDY


@pytest.fixture(scope="module")
def ray_session():
    """Ray, as the studies of a test module started it, shut down at the module's end."""
    yield
    import ray

    ray.shutdown()


@pytest.fixture(scope="package")
def studies(tmp_path_factory):
    """A 4-candidate search and the staged rule, sharing one policy cache.

    test_reports.py only reads them; test_run.py, which runs after it, also continues them.
    """
    root = tmp_path_factory.mktemp("studies")
    cache = str(root / "cache")
    assert main(["run", *TINY_STUDY, "--budget", "4", "--out", str(root / "search"), "--cache", cache]) == 0
    assert main(["run", *TINY_STUDY, "--strategy", "staged", "--budget", "20", "--out", str(root / "staged"), "--cache", cache]) == 0
    return root


class SmallDisk:
    """A 16 MB tmpfs mounted at ``mount``, which ``fill`` fills as another program might and ``free`` frees."""

    def __init__(self, mount: Path):
        self.mount = mount
        self._filler = mount / "filler"

    def fill(self) -> None:
        with open(self._filler, "ab", buffering=0) as filler:  # unbuffered: closing it has nothing left to write
            try:
                while True:
                    filler.write(b"\0" * 65536)
            except OSError:
                pass

    def free(self) -> None:
        self._filler.unlink()


@pytest.fixture
def small_disk(tmp_path):
    """A file system of the test's own (skipped, saying why, where this machine cannot mount one)."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"a small file system cannot be mounted here: {made.stderr.strip()}")
    yield SmallDisk(mount)
    subprocess.run(["umount", "--lazy", str(mount)], check=True)
