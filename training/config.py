"""Everything that defines a training run, as small frozen records.

Each hyperparameter dataclass documents its fields with a docstring under the
field (CleanRL's style); ``field_docs`` reads them back so the CLI's help is the
same text.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import json
import textwrap
from dataclasses import dataclass, field
from typing import Any, Literal

from training.errors import TrainingInputError

MIN_BITS, MAX_BITS = 2, 8
SCOPES = ("all", "input", "output", "core")
RESULTS_VERSION = 2
"""Bumped by every change that alters what a training makes of the same spec (its policy, curve or final
returns); part of ``TrainSpec.key``, so a cache never hands out a run trained before such a change.
2: final evaluation of the deployed (integer) network, independent evaluation episodes per seed."""


@dataclass(frozen=True)
class SACConfig:
    """Soft Actor-Critic, CleanRL's ``sac_continuous_action.py`` defaults (the paper; docs/training.md)."""

    buffer_size: int = 1_000_000
    """replay memory size (transitions)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """target smoothing coefficient (Polyak averaging)"""
    batch_size: int = 256
    """transitions per gradient step"""
    learning_starts: int = 5_000
    """env steps of uniformly random actions before learning begins"""
    policy_lr: float = 3e-4
    """Adam learning rate of the policy (mean and sigma branches, activation scales)"""
    q_lr: float = 1e-3
    """Adam learning rate of the two critics and of the entropy coefficient"""
    policy_frequency: int = 2
    """policy updated every this many critic steps, that many times (delayed, TD3-style)"""
    target_network_frequency: int = 1
    """target critics updated every this many critic steps"""
    alpha: float = 0.2
    """entropy coefficient, the starting value when autotuned"""
    autotune: bool = True
    """tune the entropy coefficient towards a target entropy of -|A|"""
    critic_width: int = 256
    """hidden width of each critic's two layers (critics stay FP32)"""
    sigma_width: int = 64
    """hidden width of the FP32 one-layer network that gives log sigma (never deployed)"""


@dataclass(frozen=True)
class DDPGConfig:
    """Deep Deterministic Policy Gradient, CleanRL's ``ddpg_continuous_action.py`` defaults."""

    buffer_size: int = 1_000_000
    """replay memory size (transitions)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """target smoothing coefficient (Polyak averaging)"""
    batch_size: int = 256
    """transitions per gradient step"""
    learning_starts: int = 25_000
    """env steps of uniformly random actions before learning begins"""
    learning_rate: float = 3e-4
    """Adam learning rate of actor, critic and activation scales"""
    exploration_noise: float = 0.1
    """std of the Gaussian exploration noise, as a fraction of the action range's half-width"""
    policy_frequency: int = 2
    """actor and targets updated every this many critic steps"""
    critic_width: int = 256
    """hidden width of the critic's two layers (the critic stays FP32)"""


ALGO_CONFIGS: dict[str, type] = {"sac": SACConfig, "ddpg": DDPGConfig}


@dataclass(frozen=True)
class PolicyConfig:
    """The deployed policy: an MLP obs -> width -> width -> actions, quantized as in the paper (docs/training.md)."""

    width: int = 256
    """hidden width of both hidden layers"""
    core_bits: int = 8
    """b_core: hidden-layer weights and hidden activations"""
    input_bits: int = 8
    """b_in: the observation quantizer"""
    output_bits: int = 8
    """b_out: the quantizer before tanh"""
    fp32: bool = False
    """no quantization at all (the bit fields are then ignored)"""
    scale_warmup_steps: int = 300
    """training-mode forward calls that initialise each activation scale"""
    scale_percentile: float = 99.999
    """percentile of |x| the activation-scale warm-up tracks"""
    scale_momentum: float = 0.1
    """momentum of the warm-up's exponential moving average"""

    def __post_init__(self) -> None:
        if self.width < 1:
            raise TrainingInputError(f"width {self.width} is invalid: it must be at least 1")
        if self.scale_warmup_steps < 1:
            raise TrainingInputError(f"scale-warmup-steps {self.scale_warmup_steps} is invalid: it must be at least 1")
        if not 0 < self.scale_percentile <= 100:
            raise TrainingInputError(f"scale-percentile {self.scale_percentile} is outside the allowed (0, 100]")
        if not 0 < self.scale_momentum <= 1:
            raise TrainingInputError(f"scale-momentum {self.scale_momentum} is outside the allowed (0, 1]")
        if not self.fp32:
            for name in ("core_bits", "input_bits", "output_bits"):
                bits = getattr(self, name)
                if not MIN_BITS <= bits <= MAX_BITS:
                    raise TrainingInputError(
                        f"{name.replace('_', '-')} {bits} is outside the allowed {MIN_BITS}..{MAX_BITS}"
                    )

    @classmethod
    def for_scope(cls, scope: str, bits: int, width: int = 256) -> PolicyConfig:
        """The sensitivity study's shorthand: ``bits`` on ``scope``, every other part at 8 bits."""
        if scope not in SCOPES:
            raise TrainingInputError(f"scope {scope!r} is unknown: choose one of {', '.join(SCOPES)}")
        return cls(
            width=width,
            core_bits=bits if scope in ("all", "core") else 8,
            input_bits=bits if scope in ("all", "input") else 8,
            output_bits=bits if scope in ("all", "output") else 8,
        )

    @property
    def label(self) -> str:
        if self.fp32:
            return f"w{self.width}-fp32"
        return f"w{self.width}-c{self.core_bits}-i{self.input_bits}-o{self.output_bits}"


@dataclass(frozen=True)
class TrainSpec:
    """One training run: everything that determines its result (folding plays no part)."""

    env_id: str
    """gymnasium id of a task with Box observation and action spaces"""
    algo: Literal["sac", "ddpg"] = "sac"
    """training algorithm"""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """the deployed policy's shape and bitwidths"""
    hyper: SACConfig | DDPGConfig = field(default_factory=SACConfig)
    """the algorithm's hyperparameters"""
    total_steps: int = 1_000_000
    """env steps to train for"""
    seed: int = 0
    """seeds networks, replay sampling, exploration and the envs"""
    normalize: bool = True
    """running per-dimension observation normalization"""
    obs_clip: float = 10.0
    """normalized observations are clipped to +-obs_clip"""
    eval_every: int = 10_000
    """env steps between learning-curve evaluations (0: none)"""
    eval_episodes: int = 10
    """deterministic episodes per learning-curve evaluation"""
    final_eval_episodes: int = 10
    """deterministic episodes for eval.json at the end of training"""

    def __post_init__(self) -> None:
        if self.algo not in ALGO_CONFIGS:
            raise TrainingInputError(f"algo {self.algo!r} is unknown: choose one of {', '.join(ALGO_CONFIGS)}")
        if not isinstance(self.hyper, ALGO_CONFIGS[self.algo]):
            raise TrainingInputError(f"{self.algo} needs a {ALGO_CONFIGS[self.algo].__name__}")
        if self.total_steps <= self.hyper.learning_starts:
            raise TrainingInputError(
                f"steps {self.total_steps} must exceed learning-starts {self.hyper.learning_starts}"
                " (lower --learning-starts for a short run)"
            )
        for name in ("eval_every", "eval_episodes", "final_eval_episodes"):
            if getattr(self, name) < 0:
                raise TrainingInputError(f"{name.replace('_', '-')} {getattr(self, name)} must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        data = dict(data)
        data["policy"] = PolicyConfig(**data["policy"])
        data["hyper"] = ALGO_CONFIGS[data["algo"]](**data["hyper"])
        return cls(**data)

    def key(self) -> str:
        """A content hash: two specs with the same key train the same policy (under the same ``RESULTS_VERSION``)."""
        text = json.dumps({"spec": self.to_dict(), "results_version": RESULTS_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass, by field name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = following.value.value.strip()
    return docs
