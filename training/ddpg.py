"""DDPG with a quantized policy, after CleanRL's ``ddpg_continuous_action.py``.

As in ``training.sac``, the policy is in training mode only for the actor-loss
forward (the activation-scale warm-up counts policy gradient steps), and the
critic accumulates no weight gradients during the actor loss. One member per
seed, trained at once, as in ``training.sac``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch

from training.config import DDPGConfig, PolicyConfig
from training.networks import CriticEnsemble, PolicyNet, agent_state, build_members, load_agent_state, member_randn, soft_update
from training.replay import Batch


class DDPG:
    def __init__(
        self,
        obs_dim: int,
        action_low: np.ndarray,
        action_high: np.ndarray,
        policy_config: PolicyConfig,
        hyper: DDPGConfig,
        seeds: Sequence[int],
        generators: Sequence[torch.Generator],
    ):
        act_dim = len(action_low)
        self.hyper = hyper
        self.generators = generators
        self.action_low = torch.as_tensor(action_low, dtype=torch.float32)
        self.action_high = torch.as_tensor(action_high, dtype=torch.float32)
        self.action_scale = (self.action_high - self.action_low) / 2.0
        self.action_bias = (self.action_high + self.action_low) / 2.0
        self.policy, self.critic = build_members(
            seeds,
            lambda: (PolicyNet(obs_dim, act_dim, policy_config), CriticEnsemble(1, obs_dim, act_dim, hyper.critic_width)),
        )
        self.policy.eval()
        self.policy_target = copy.deepcopy(self.policy)
        self.critic_target = copy.deepcopy(self.critic)
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), lr=hyper.learning_rate, fused=True)
        self.policy.watch_optimizer(self.policy_optimizer)
        self.q_optimizer = torch.optim.Adam(self.critic.parameters(), lr=hyper.learning_rate, fused=True)

    def state_dict(self) -> dict:
        """Everything the updates change: networks, targets and optimizers."""
        return agent_state(self, ("policy", "critic", "policy_target", "critic_target", "policy_optimizer", "q_optimizer"))

    def load_state_dict(self, state: dict) -> None:
        load_agent_state(self, state)

    def act(self, policy: torch.nn.Module, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(policy(obs)) * self.action_scale + self.action_bias

    @torch.no_grad()
    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        actions = self.act(self.policy, obs)
        noise = member_randn(actions.shape[1:], self.generators) * self.action_scale * self.hyper.exploration_noise
        return torch.clamp(actions + noise, self.action_low, self.action_high)

    def update(self, batch: Batch, global_step: int) -> None:
        hyper = self.hyper
        with torch.no_grad():
            next_q = self.critic_target(batch.next_obs, self.act(self.policy_target, batch.next_obs))[:, 0]
            target_q = batch.rewards + (1 - batch.terminated) * hyper.gamma * next_q
        q_loss = (self.critic(batch.obs, batch.actions)[:, 0] - target_q).pow(2).mean(1).sum()
        self.q_optimizer.zero_grad()
        q_loss.backward()
        self.q_optimizer.step()

        if global_step % hyper.policy_frequency == 0:
            self.critic.requires_grad_(False)
            self.policy.train()
            actions = self.act(self.policy, batch.obs)
            self.policy.eval()
            actor_loss = -self.critic(batch.obs, actions)[:, 0].mean(1).sum()
            self.policy_optimizer.zero_grad()
            actor_loss.backward()
            self.policy_optimizer.step()
            self.critic.requires_grad_(True)
            soft_update(self.policy_target, self.policy, hyper.tau)
            soft_update(self.critic_target, self.critic, hyper.tau)
