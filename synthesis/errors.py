"""Errors of synthesis: the caller's (a bad file, device, folding or target), FINN's, and the external tools'."""

import os
import shutil
import sys
from pathlib import Path


class SynthesisInputError(ValueError):
    """Bad input to synthesis: the message names the value and what is allowed."""


class FinnFailure(RuntimeError):
    """FINN failed on one design; the message carries FINN's own."""


class ToolFailure(RuntimeError):
    """An external hardware tool (yosys, Verilator) is missing or failed; the message carries the tool's own."""

    def __init__(self, tool: str, message: str):
        super().__init__(f"{tool} failed: {message}")
        self.tool = tool


def console_script(name: str, tool: str, package: str) -> str:
    """The path of a tool's console script: beside the interpreter (a venv need not be on PATH), else on PATH."""
    found = shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        raise ToolFailure(tool, f"{name} is not installed (pip install 'dse[post-synth]', which has {package})")
    return found
