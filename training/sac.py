"""Soft Actor-Critic with a quantized mean policy, after CleanRL's ``sac_continuous_action.py``.

Differences from CleanRL, each deliberate:
- the mean branch is the (quantized) ``PolicyNet`` and log sigma comes from a
  separate FP32 ``SigmaNet`` (the paper; docs/training.md); the deployed action is tanh(mean);
- the policy is in training mode only for the actor-loss forward, so the
  activation-scale warm-up counts policy gradient steps, not rollouts or targets;
- the two critics are one ``CriticEnsemble`` and do not accumulate weight
  gradients during the actor loss (CleanRL computes and discards them);
- the alpha loss takes log pi from the next actor-loss forward (same policy,
  same observations, the same noise draws in the same order) instead of a
  forward of its own, so only the last of the delayed updates needs one.

It trains one member per seed at once (``training.networks``): every tensor has
the members on its leading dimension, each member draws its noise from its own
generator, and each loss is the sum over members of that member's loss, so each
member's gradients are exactly those of its own loss.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch

from training.config import PolicyConfig, SACConfig
from training.networks import (
    CriticEnsemble,
    PolicyNet,
    SigmaNet,
    agent_state,
    build_members,
    load_agent_state,
    member_randn,
    soft_update,
)
from training.replay import Batch

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class SAC:
    def __init__(
        self,
        obs_dim: int,
        action_low: np.ndarray,
        action_high: np.ndarray,
        policy_config: PolicyConfig,
        hyper: SACConfig,
        seeds: Sequence[int],
        generators: Sequence[torch.Generator],
    ):
        act_dim = len(action_low)
        self.hyper = hyper
        self.generators = generators
        self.action_scale = torch.as_tensor((action_high - action_low) / 2.0, dtype=torch.float32)
        self.action_bias = torch.as_tensor((action_high + action_low) / 2.0, dtype=torch.float32)
        self.policy, self.sigma, self.critic = build_members(
            seeds,
            lambda: (
                PolicyNet(obs_dim, act_dim, policy_config),
                SigmaNet(obs_dim, act_dim, hyper.sigma_width),
                CriticEnsemble(2, obs_dim, act_dim, hyper.critic_width),
            ),
        )
        self.policy.eval()
        self.critic_target = copy.deepcopy(self.critic)
        self.policy_optimizer = torch.optim.Adam(
            list(self.policy.parameters()) + list(self.sigma.parameters()), lr=hyper.policy_lr, fused=True
        )
        self.policy.watch_optimizer(self.policy_optimizer)
        self.q_optimizer = torch.optim.Adam(self.critic.parameters(), lr=hyper.q_lr, fused=True)
        self.alpha: float | torch.Tensor = hyper.alpha
        if hyper.autotune:
            self.target_entropy = -float(act_dim)
            self.log_alpha = torch.zeros(len(seeds), requires_grad=True)
            self.alpha = self.log_alpha.detach().exp().unsqueeze(1)
            self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=hyper.q_lr, fused=True)

    def state_dict(self) -> dict:
        """Everything the updates change: networks, targets, optimizers and the entropy temperature."""
        state = agent_state(self, ("policy", "sigma", "critic", "critic_target", "policy_optimizer", "q_optimizer"))
        if self.hyper.autotune:
            state.update(agent_state(self, ("alpha_optimizer",)), log_alpha=self.log_alpha.detach().clone())
        return state

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        if self.hyper.autotune:
            with torch.no_grad():
                self.log_alpha.copy_(state.pop("log_alpha"))
            self.alpha = self.log_alpha.detach().exp().unsqueeze(1)
        load_agent_state(self, state)

    def squash(self, mean: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action (env units) and its log-probability under the squashed Gaussian."""
        noise = member_randn(mean.shape[1:], self.generators)
        x_t = mean + log_std.exp() * noise
        y_t = torch.tanh(x_t)
        action = y_t * self.action_scale + self.action_bias
        log_prob = -0.5 * noise.pow(2) - log_std - HALF_LOG_2PI
        log_prob = log_prob - torch.log(self.action_scale * (1 - y_t.pow(2)) + 1e-6)
        return action, log_prob.sum(2)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.squash(self.policy(obs), self.sigma(obs))

    def policy_outputs(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log sigma, with the policy in training mode (this call counts for the scale warm-up)."""
        self.policy.train()
        mean = self.policy(obs)
        self.policy.eval()
        return mean, self.sigma(obs)

    @torch.no_grad()
    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        return self.sample(obs)[0]

    def update(self, batch: Batch, global_step: int) -> None:
        hyper = self.hyper
        with torch.no_grad():
            next_actions, next_log_pi = self.sample(batch.next_obs)
            next_q = self.critic_target(batch.next_obs, next_actions).min(1).values - self.alpha * next_log_pi
            target_q = batch.rewards + (1 - batch.terminated) * hyper.gamma * next_q
        q_values = self.critic(batch.obs, batch.actions)
        q_loss = (q_values - target_q.unsqueeze(1)).pow(2).mean(2).sum()
        self.q_optimizer.zero_grad()
        q_loss.backward()
        self.q_optimizer.step()

        if global_step % hyper.policy_frequency == 0:
            self.critic.requires_grad_(False)
            mean, log_std = self.policy_outputs(batch.obs)
            for i in range(hyper.policy_frequency):
                actions, log_pi = self.squash(mean, log_std)
                min_q = self.critic(batch.obs, actions).min(1).values
                actor_loss = (self.alpha * log_pi - min_q).mean(1).sum()
                self.policy_optimizer.zero_grad()
                actor_loss.backward()
                self.policy_optimizer.step()
                # CleanRL's alpha loss uses log pi of the updated policy on the same
                # observations, which is exactly what the next actor-loss forward
                # computes: take its outputs (detached) instead of a second forward.
                if i + 1 < hyper.policy_frequency:
                    mean, log_std = self.policy_outputs(batch.obs)
                elif hyper.autotune:
                    with torch.no_grad():
                        mean, log_std = self.policy(batch.obs), self.sigma(batch.obs)
                if hyper.autotune:
                    with torch.no_grad():
                        _, log_pi = self.squash(mean.detach(), log_std.detach())
                    alpha_loss = (-self.log_alpha.exp().unsqueeze(1) * (log_pi + self.target_entropy)).mean(1).sum()
                    self.alpha_optimizer.zero_grad()
                    alpha_loss.backward()
                    self.alpha_optimizer.step()
                    self.alpha = self.log_alpha.detach().exp().unsqueeze(1)
            self.critic.requires_grad_(True)

        if global_step % hyper.target_network_frequency == 0:
            soft_update(self.critic_target, self.critic, hyper.tau)
