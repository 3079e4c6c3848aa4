"""Errors the caller caused: a bad value, a missing or foreign run folder."""


class TrainingInputError(ValueError):
    """Bad input to training: the message names the value and what is allowed."""


class TrainingDiverged(RuntimeError):
    """A training whose policy's weights became NaN or infinite; the message names the seed and the env step."""
