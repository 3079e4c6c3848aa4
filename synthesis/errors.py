"""Errors the caller caused: a bad file, device, folding or target."""


class SynthesisInputError(ValueError):
    """Bad input to synthesis: the message names the value and what is allowed."""


class FinnFailure(RuntimeError):
    """FINN failed on one design; the message carries FINN's own."""


class ToolFailure(RuntimeError):
    """An external hardware tool (yosys, Verilator) is missing or failed; the message carries the tool's own."""

    def __init__(self, tool: str, message: str):
        super().__init__(f"{tool} failed: {message}")
        self.tool = tool
