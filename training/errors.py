"""Errors the caller caused: a bad value, a missing or foreign run folder."""


class TrainingInputError(ValueError):
    """Bad input to training: the message names the value and what is allowed."""
