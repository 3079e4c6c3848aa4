"""Training speed: env-steps/s after learning starts, ours (FP32 and QAT) against a plain CleanRL-style loop,
and S seeds of the QAT policy trained together (batched) against one seed alone.

    .venv/bin/python bench/train_speed.py [--env Walker2d-v4] [--widths 16 256] [--steps 1000] [--seeds 10]

All configurations run in one process, interleaved step by step, so a change in
machine load falls on all of them alike: each does ``--learning-starts`` random
steps, ``--settle`` updates that are not timed (the QAT scale warm-up ends inside
them), then ``--steps`` timed steps, and only the time inside each one's own
steps counts. The first table (one torch thread) gives the two ratios the
project holds itself to: QAT / FP32 >= 0.9 and FP32 / reference >= 1.0. The
second counts env steps of all seeds: ``--seeds`` seeds together on one thread
and on ``--threads`` threads, against one seed alone on one thread (how the
executor ran each seed before) and against that times the machine's cores (one
single-seed process per core, the most the old way could do); the goal is 4x
the single process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import torch
from torch import nn
from torch.nn import functional as F

from training import PolicyConfig, SACConfig, TrainSpec
from training.run import Trainer, member_specs

LOG_STD_MAX, LOG_STD_MIN = 2, -5


class RefSoftQNetwork(nn.Module):
    def __init__(self, obs_dim, act_dim):
        super().__init__()
        self.fc1 = nn.Linear(obs_dim + act_dim, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc3 = nn.Linear(256, 1)

    def forward(self, x, a):
        x = torch.cat([x, a], 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class RefActor(nn.Module):
    def __init__(self, obs_dim, act_dim, width, low, high):
        super().__init__()
        self.fc1 = nn.Linear(obs_dim, width)
        self.fc2 = nn.Linear(width, width)
        self.fc_mean = nn.Linear(width, act_dim)
        self.fc_logstd = nn.Linear(width, act_dim)
        self.register_buffer("action_scale", torch.tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.tensor((high + low) / 2.0, dtype=torch.float32))

    def forward(self, x):
        x = F.relu(self.fc2(F.relu(self.fc1(x))))
        mean = self.fc_mean(x)
        log_std = torch.tanh(self.fc_logstd(x))
        return mean, LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)

    def get_action(self, x):
        mean, log_std = self(x)
        normal = torch.distributions.Normal(mean, log_std.exp())
        x_t = normal.rsample()
        y_t = torch.tanh(x_t)
        action = y_t * self.action_scale + self.action_bias
        log_prob = normal.log_prob(x_t) - torch.log(self.action_scale * (1 - y_t.pow(2)) + 1e-6)
        return action, log_prob.sum(1, keepdim=True)


def reference_sac(env_id: str, width: int, learning_starts: int, total_steps: int):
    """CleanRL's SAC loop, inlined: same hyperparameters, plain nn.Linear, separate critics; yields after each step."""
    hp = SACConfig()
    torch.manual_seed(0)
    env = gym.make(env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    low, high = env.action_space.low, env.action_space.high
    actor = RefActor(obs_dim, act_dim, width, low, high)
    qf1, qf2 = RefSoftQNetwork(obs_dim, act_dim), RefSoftQNetwork(obs_dim, act_dim)
    qf1_t, qf2_t = RefSoftQNetwork(obs_dim, act_dim), RefSoftQNetwork(obs_dim, act_dim)
    qf1_t.load_state_dict(qf1.state_dict())
    qf2_t.load_state_dict(qf2.state_dict())
    q_opt = torch.optim.Adam(list(qf1.parameters()) + list(qf2.parameters()), lr=hp.q_lr)
    a_opt = torch.optim.Adam(list(actor.parameters()), lr=hp.policy_lr)
    target_entropy = -float(act_dim)
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha = log_alpha.exp().item()
    alpha_opt = torch.optim.Adam([log_alpha], lr=hp.q_lr)
    buf_obs = torch.zeros(total_steps, obs_dim)
    buf_next = torch.zeros(total_steps, obs_dim)
    buf_act = torch.zeros(total_steps, act_dim)
    buf_rew = torch.zeros(total_steps)
    buf_done = torch.zeros(total_steps)
    obs, _ = env.reset(seed=0)
    for global_step in range(total_steps):
        if global_step < learning_starts:
            action = env.action_space.sample()
        else:
            action, _ = actor.get_action(torch.Tensor(obs).unsqueeze(0))
            action = action.detach().numpy()[0]
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buf_obs[global_step] = torch.as_tensor(obs)
        buf_next[global_step] = torch.as_tensor(next_obs)
        buf_act[global_step] = torch.as_tensor(action)
        buf_rew[global_step] = float(reward)
        buf_done[global_step] = float(terminated)
        obs = env.reset()[0] if terminated or truncated else next_obs
        if global_step > learning_starts:
            idx = torch.randint(0, global_step + 1, (hp.batch_size,))
            b_obs, b_next, b_act, b_rew, b_done = buf_obs[idx], buf_next[idx], buf_act[idx], buf_rew[idx], buf_done[idx]
            with torch.no_grad():
                next_a, next_logp = actor.get_action(b_next)
                min_q_next = torch.min(qf1_t(b_next, next_a), qf2_t(b_next, next_a)) - alpha * next_logp
                next_q = b_rew.flatten() + (1 - b_done.flatten()) * hp.gamma * min_q_next.view(-1)
            qf_loss = F.mse_loss(qf1(b_obs, b_act).view(-1), next_q) + F.mse_loss(qf2(b_obs, b_act).view(-1), next_q)
            q_opt.zero_grad()
            qf_loss.backward()
            q_opt.step()
            if global_step % hp.policy_frequency == 0:
                for _ in range(hp.policy_frequency):
                    pi, log_pi = actor.get_action(b_obs)
                    min_q_pi = torch.min(qf1(b_obs, pi), qf2(b_obs, pi))
                    actor_loss = ((alpha * log_pi) - min_q_pi).mean()
                    a_opt.zero_grad()
                    actor_loss.backward()
                    a_opt.step()
                    with torch.no_grad():
                        _, log_pi = actor.get_action(b_obs)
                    alpha_loss = (-log_alpha.exp() * (log_pi + target_entropy)).mean()
                    alpha_opt.zero_grad()
                    alpha_loss.backward()
                    alpha_opt.step()
                    alpha = log_alpha.exp().item()
            for param, target_param in zip(qf1.parameters(), qf1_t.parameters()):
                target_param.data.copy_(hp.tau * param.data + (1 - hp.tau) * target_param.data)
            for param, target_param in zip(qf2.parameters(), qf2_t.parameters()):
                target_param.data.copy_(hp.tau * param.data + (1 - hp.tau) * target_param.data)
        yield


def ours(
    env_id: str,
    policy: PolicyConfig,
    learning_starts: int,
    total_steps: int,
    out_dir: Path,
    seeds: int = 1,
    threads: int = 1,
    critic_width: int = SACConfig.critic_width,
):
    """Our training of ``seeds`` seeds together; each step runs on ``threads`` torch threads."""
    spec = TrainSpec(
        env_id,
        policy=policy,
        hyper=SACConfig(learning_starts=learning_starts, critic_width=critic_width),
        total_steps=total_steps,
        eval_every=0,
        final_eval_episodes=0,
    )
    trainer = Trainer(member_specs(spec, range(seeds)), [out_dir / f"s{seed}" for seed in range(seeds)], overwrite=True)
    while not trainer.done:
        torch.set_num_threads(threads)
        trainer.step()
        yield


def interleaved_steps_per_second(runs: dict, start: int, end: int, seeds: dict | None = None) -> dict:
    """Step every run once per round; sum each run's own time over rounds start..end; env steps of all its seeds."""
    seconds = dict.fromkeys(runs, 0.0)
    for step in range(end):
        for name, run in runs.items():
            began = time.perf_counter()
            next(run)
            if step >= start:
                seconds[name] += time.perf_counter() - began
    return {name: (end - start) * (seeds or {}).get(name, 1) / spent for name, spent in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Walker2d-v4")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 256])
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--settle", type=int, default=400, help="untimed updates after learning starts")
    parser.add_argument("--steps", type=int, default=1000, help="timed env steps")
    parser.add_argument("--core-bits", type=int, default=2)
    parser.add_argument("--input-bits", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=10, help="seeds trained together in the second table (0: skip it)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads of the second table's run")
    parser.add_argument("--batched-steps", type=int, default=300, help="timed env steps of the second table")
    parser.add_argument("--skip-first", action="store_true", help="only the second table")
    parser.add_argument("--critic-width", type=int, default=SACConfig.critic_width, help="critics of the second table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.skip_first:
        first_table(args)
    if args.seeds:
        seeds_table(args)


def first_table(args) -> None:
    start = args.learning_starts + args.settle
    end = start + args.steps
    scratch = Path(tempfile.mkdtemp(prefix="dse-bench-"))
    runs = {}
    for width in args.widths:
        qat_policy = PolicyConfig(width=width, core_bits=args.core_bits, input_bits=args.input_bits)
        runs[width, "reference"] = reference_sac(args.env, width, args.learning_starts, end)
        runs[width, "fp32"] = ours(args.env, PolicyConfig(width=width, fp32=True), args.learning_starts, end, scratch / f"fp32-{width}")
        runs[width, "qat"] = ours(args.env, qat_policy, args.learning_starts, end, scratch / f"qat-{width}")
    rates = interleaved_steps_per_second(runs, start, end)
    rows = [(width, rates[width, "reference"], rates[width, "fp32"], rates[width, "qat"]) for width in args.widths]

    print(f"\n{args.env}, SAC, steps {start}..{end} after {args.learning_starts} random steps, 1 torch thread")
    print(f"QAT: {args.core_bits}-bit core, {args.input_bits}-bit input, 8-bit output")
    print("| width | reference steps/s | FP32 steps/s | QAT steps/s | FP32 / reference | QAT / FP32 |")
    print("|---|---|---|---|---|---|")
    for width, reference, fp32, qat in rows:
        print(f"| {width} | {reference:.1f} | {fp32:.1f} | {qat:.1f} | {fp32 / reference:.2f} | {qat / fp32:.2f} |")


def seeds_table(args) -> None:
    start = args.learning_starts + args.settle
    end = start + args.batched_steps
    scratch = Path(tempfile.mkdtemp(prefix="dse-bench-seeds-"))
    cores = os.cpu_count()
    runs, seeds = {}, {}
    for width in args.widths:
        policy = PolicyConfig(width=width, core_bits=args.core_bits, input_bits=args.input_bits)
        runs[width, "alone"] = ours(
            args.env, policy, args.learning_starts, end, scratch / f"alone-{width}", critic_width=args.critic_width
        )
        for threads in sorted({1, args.threads}):
            name = width, f"together-{threads}"
            folder = scratch / f"{name[1]}-{width}"
            runs[name] = ours(args.env, policy, args.learning_starts, end, folder, args.seeds, threads, args.critic_width)
            seeds[name] = args.seeds
    rates = interleaved_steps_per_second(runs, start, end, seeds)

    print(f"\n{args.env}, SAC (critics {args.critic_width} wide), QAT {args.core_bits}-bit core, {args.input_bits}-bit"
          f" input; env steps/s of all seeds, steps {start}..{end}; {cores} cores")
    columns = [f"{args.seeds} together, {threads} thread(s)" for threads in sorted({1, args.threads})]
    print(f"| width | 1 seed alone, 1 thread | {' | '.join(columns)} | best / alone | best / ({cores} x alone) |")
    print("|---" * (4 + len(columns)) + "|")
    for width in args.widths:
        alone = rates[width, "alone"]
        together = [rates[width, f"together-{threads}"] for threads in sorted({1, args.threads})]
        cells = " | ".join(f"{rate:.1f}" for rate in together)
        print(f"| {width} | {alone:.1f} | {cells} | {max(together) / alone:.2f} | {max(together) / (cores * alone):.2f} |")


if __name__ == "__main__":
    main()
