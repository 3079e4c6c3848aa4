"""Errors the caller caused: a bad file, device, folding or target."""


class SynthesisInputError(ValueError):
    """Bad input to synthesis: the message names the value and what is allowed."""


class FinnFailure(RuntimeError):
    """FINN failed on one design; the message carries FINN's own."""
