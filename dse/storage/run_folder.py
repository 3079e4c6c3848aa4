"""A run folder as ``dse run`` keeps it: the manifest (``run.json``: settings, storage, study name, commands) and its study."""

from __future__ import annotations

import json
import sys
import time
from importlib import metadata
from pathlib import Path

import optuna

from dse.storage import credentials
from dse.storage.settings import StudyInputError
from dse.storage.studies import open_study, storage_url
from training.files import write_whole

MANIFEST = "run.json"
VERSIONS = ("optuna", "ray", "torch", "brevitas", "gymnasium", "mujoco", "qonnx", "finn-plus")
"""packages whose versions the manifest records"""


def read_manifest(run_dir: Path) -> dict:
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        raise StudyInputError(f"{run_dir} is not a dse study folder: it has no {MANIFEST} (make one with dse run)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise StudyInputError(f"{path} is not valid JSON ({error})") from None
    return credentials.clean_manifest(manifest, path)


def open_run_study(run_dir: Path | str) -> optuna.Study:
    """The study of a study folder, from the storage its manifest names."""
    manifest = read_manifest(run_dir)
    return open_study(storage_url(Path(run_dir), manifest["storage"]), manifest["study_name"], create=False)


def record_command(
    run_dir: Path, manifest: dict | None, settings: dict, storage: str | None, study_name: str, budget: int,
    command: list[str] | None,
) -> None:
    """The run folder's manifest, made on the first call, with this command appended."""
    manifest = manifest or {
        "kind": "dse-study",
        "settings": settings,
        "storage": storage,
        "study_name": study_name,
        "versions": {name: metadata.version(name) for name in VERSIONS},
        "commands": [],
    }
    argv = credentials.masked_argv(command or sys.argv)
    manifest["commands"].append({"argv": argv, "budget": budget, "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    write_whole(run_dir / MANIFEST, json.dumps(manifest, indent=2))
