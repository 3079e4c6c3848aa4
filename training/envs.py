"""Making gymnasium environments, with clear errors for ids and spaces we cannot train on."""

from __future__ import annotations

import difflib
import warnings

import gymnasium as gym
import numpy as np

from training.errors import TrainingInputError


def check_env_id(env_id: str) -> None:
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see gymnasium.registry for the ids"
        raise TrainingInputError(f"env {env_id!r} is not a registered gymnasium env{hint}")


def make_env(env_id: str) -> gym.Env:
    """A single, unwrapped-by-us env; refuses non-Box observation or action spaces."""
    check_env_id(env_id)
    with warnings.catch_warnings():
        # The -v4 MuJoCo tasks are what the method is defined on; gymnasium's deprecation note is noise here.
        warnings.simplefilter("ignore")
        try:
            env = gym.make(env_id)
        except gym.error.Error as error:
            raise TrainingInputError(f"env {env_id!r} cannot be made: {error}") from None
    for name, space in (("observation", env.observation_space), ("action", env.action_space)):
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            env.close()
            raise TrainingInputError(
                f"env {env_id!r} has a {type(space).__name__} {name} space of shape {space.shape}:"
                " only flat Box spaces are supported"
            )
    if not np.all(np.isfinite(env.action_space.low)) or not np.all(np.isfinite(env.action_space.high)):
        env.close()
        raise TrainingInputError(f"env {env_id!r} has an unbounded action space: tanh policies need finite bounds")
    return env


def env_spaces(env_id: str) -> tuple[int, np.ndarray, np.ndarray]:
    """The observation size and the action bounds (float64) of ``env_id``'s env, read from one made and closed."""
    env = make_env(env_id)
    spaces = env.observation_space.shape[0], env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    env.close()
    return spaces
