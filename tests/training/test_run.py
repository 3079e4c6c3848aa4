"""The training loop and its run folder."""

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch

from tests.conftest import tiny_spec
from training import DDPGConfig, PolicyConfig, TrainingInputError, load_policy, read_run, train, train_seeds
from training.envs import make_env
from training.normalizer import ObsNormalizer
from training.memory import replay_row_bytes
from training.replay import Batch, ReplayBuffer
from training.run import AGENTS, Trainer, member_specs, step_env


def test_truncation_keeps_the_true_last_observation_and_still_bootstraps():
    env = make_env("Pendulum-v1")  # never terminates; a 200-step time limit truncates
    buffer = ReplayBuffer(300, 3, 1)
    obs, _ = env.reset(seed=0)
    policy_inputs = [obs]
    for _ in range(201):
        obs = step_env(env, obs, np.array([0.5]), buffer)
        policy_inputs.append(obs)
    assert buffer.terminated[:201].sum() == 0
    last = buffer.next_obs(torch.tensor([199]))[0].numpy()
    reset_obs = policy_inputs[200]
    assert not np.allclose(last, reset_obs), "the last transition must not point at the reset observation"
    np.testing.assert_allclose(buffer.obs[200].numpy(), reset_obs, rtol=1e-6)
    np.testing.assert_allclose(buffer.obs[199].numpy(), buffer.next_obs(torch.tensor([198]))[0].numpy())


def test_termination_stops_bootstrapping_and_stores_the_terminal_observation():
    env = make_env("InvertedPendulum-v4")  # terminates when the pole leaves +-0.2 rad
    buffer = ReplayBuffer(100, 4, 1)
    obs, _ = env.reset(seed=0)
    for step in range(100):
        obs = step_env(env, obs, np.array([3.0]), buffer)
        if buffer.terminated[step]:
            break
    else:
        pytest.fail("a full push never tipped the pole over")
    assert abs(buffer.next_obs(torch.tensor([step]))[0, 1]) > 0.2, "the stored next observation is the terminal one"
    assert buffer.terminated[:step].sum() == 0
    assert np.abs(obs).max() < 0.02, "after termination the policy sees the reset observation"


def test_each_observation_is_stored_once_and_every_batch_is_what_storing_both_gives():
    """Hopper falls often (short episodes), Pendulum is truncated every 200 steps; a ring of 150 wraps many times;
    a checkpoint's rows put back into a fresh memory give the same batches again."""
    for env_id, act_dim in (("Hopper-v4", 3), ("Pendulum-v1", 1)):
        env = make_env(env_id)
        obs_dim = env.observation_space.shape[0]
        buffer, both = ReplayBuffer(150, obs_dim, act_dim), []
        obs, _ = env.reset(seed=3)
        rng = np.random.default_rng(3)
        for step in range(700):
            before = obs
            obs = step_env(env, obs, rng.uniform(-1, 1, act_dim), buffer)
            both.append(buffer.next_obs(torch.tensor([(buffer.position - 1) % 150]))[0])
            assert torch.equal(buffer.obs[(buffer.position - 1) % 150], torch.as_tensor(before, dtype=torch.float32))
        stored = torch.stack(both[-150:])  # what a memory of both observations holds, in row order
        rows = (torch.arange(700 - 150, 700) % 150).argsort()
        restored = ReplayBuffer(150, obs_dim, act_dim)
        restored.put_rows(700 - 150, buffer.rows(700 - 150, 700))
        restored.position, restored.size = buffer.position, buffer.size
        restored.settle()
        for memory in (buffer, restored):
            assert torch.equal(memory.next_obs(torch.arange(150)).view(torch.int32), stored[rows].view(torch.int32))
            batch = memory.sample(64, torch.Generator().manual_seed(0), lambda x: x)
            index = torch.randint(0, 150, (64,), generator=torch.Generator().manual_seed(0))
            assert torch.equal(batch.next_obs, stored[rows][index]) and torch.equal(batch.obs, buffer.obs[index])
        dense = sum(t.element_size() * t.nelement() for t in (buffer.obs, buffer.actions, buffer.rewards,
                                                                buffer.terminated, buffer._is_apart))
        assert dense == 150 * replay_row_bytes(obs_dim, act_dim) == 150 * (4 * (obs_dim + act_dim + 2) + 1)
        assert len(buffer._apart) < 150 / 4, "only episode ends are kept apart"


def test_normalizer_tracks_mean_and_variance_of_everything_seen():
    rng = np.random.default_rng(0)
    data = rng.normal([1.0, -3.0], [2.0, 0.5], size=(500, 2))
    normalizer = ObsNormalizer.fresh(2, clip=10.0)
    for row in data:
        normalizer.update(row)
    np.testing.assert_allclose(normalizer.mean, data.mean(0), rtol=1e-6)
    np.testing.assert_allclose(normalizer.var, data.var(0), rtol=1e-5)
    normalized = normalizer(data)
    np.testing.assert_allclose(normalized.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(0), 1, atol=1e-4)
    torch_normalized = normalizer.torch_normalize(torch.as_tensor(data, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(torch_normalized, normalized, atol=1e-5)
    assert normalizer(np.array([1e6, 0.0]))[0] == 10.0
    assert ObsNormalizer.fresh(2, 10.0, enabled=False)(np.array([1e6, 0.0])).tolist() == [1e6, 0.0]


def test_run_folder_holds_everything_and_marks_completion_last(qat_run):
    run_dir = qat_run.run_dir
    names = {path.name for path in run_dir.iterdir()}
    assert {"config.json", "checkpoint.pt", "policy.onnx", "curve.csv", "eval.json", "complete.json"} <= names
    config = read_run(run_dir)
    assert config["spec"]["policy"]["core_bits"] == 2
    with open(run_dir / "curve.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["env_step"]) for row in rows] == [350, 700]
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert evaluation["episodes"] == 2 and len(evaluation["returns"]) == 2
    assert evaluation["return_mean"] == pytest.approx(qat_run.mean_return)


def test_load_policy_gives_a_frozen_normalizer_and_actions_in_range(qat_run):
    policy, normalizer = load_policy(qat_run.run_dir)
    assert normalizer.count > 700 * 0.9
    assert not any(q.training for q in policy.net.quantizers())
    assert not policy.net.warming_up, "the stored scales are the learned ones, past the warm-up"
    actions = policy(torch.randn(32, 3) * 5)
    assert actions.shape == (32, 1) and actions.abs().max() <= 1.0


def test_same_seed_gives_the_same_learning_curve(tmp_path):
    spec = tiny_spec(PolicyConfig(width=8, core_bits=3, input_bits=4), total_steps=500, eval_every=250)
    first = train(spec, tmp_path / "a")
    second = train(spec, tmp_path / "b")
    assert (tmp_path / "a" / "curve.csv").read_text().split("\n")[1].split(",")[:3] == (
        tmp_path / "b" / "curve.csv"
    ).read_text().split("\n")[1].split(",")[:3]
    assert first.returns == second.returns
    other_seed = train(tiny_spec(spec.policy, seed=1, total_steps=500, eval_every=250), tmp_path / "c")
    assert other_seed.returns != first.returns


def test_ddpg_trains_and_exports(tmp_path):
    spec = tiny_spec(
        PolicyConfig(width=8, core_bits=3, input_bits=5, scale_warmup_steps=50),
        algo="ddpg",
        hyper=DDPG_TINY,
        total_steps=400,
    )
    result = train(spec, tmp_path / "ddpg")
    policy, _ = load_policy(result.run_dir)
    assert not policy.net.warming_up
    assert (result.run_dir / "policy.onnx").stat().st_size > 0


def test_incomplete_foreign_and_existing_run_folders_are_refused(tmp_path, qat_run):
    with pytest.raises(TrainingInputError, match="does not exist"):
        load_policy(tmp_path / "missing")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"kind": "something else"}')
    with pytest.raises(TrainingInputError, match="not a dse training folder"):
        load_policy(tmp_path / "foreign")
    partial = tmp_path / "partial"
    partial.mkdir()
    config = json.loads((qat_run.run_dir / "config.json").read_text())
    (partial / "config.json").write_text(json.dumps(config))
    with pytest.raises(TrainingInputError, match="incomplete"):
        load_policy(partial)
    with pytest.raises(TrainingInputError, match="already exists"):
        train(tiny_spec(PolicyConfig(width=8, fp32=True)), qat_run.run_dir)


DDPG_TINY = DDPGConfig(learning_starts=200, critic_width=32, batch_size=64)


@pytest.mark.parametrize("algo", ["sac", "ddpg"])
def test_the_trained_policy_is_the_one_saved(tmp_path, algo):
    """Each seed's live policy after many optimizer steps acts exactly as its saved state: no stale quantized weights.

    (A fused Adam step does not bump tensor versions; a cache keyed on them alone kept the weights of the end of
    the warm-up for the rest of training.)
    """
    extra = {"algo": "ddpg", "hyper": DDPG_TINY} if algo == "ddpg" else {}
    spec = tiny_spec(PolicyConfig(width=16, core_bits=2, input_bits=4), total_steps=1200, eval_every=0, **extra)
    out_dirs = [tmp_path / "s0", tmp_path / "s1"]
    trainer = Trainer(member_specs(spec, [0, 1]), out_dirs)
    while not trainer.done:
        trainer.step()
    trainer.finish()
    observations = torch.randn(256, trainer.obs_dim)
    with torch.no_grad():
        live = torch.tanh(trainer.agent.policy(observations.expand(2, -1, -1)))
    for member, out_dir in enumerate(out_dirs):
        saved, _ = load_policy(out_dir)
        assert torch.equal(live[member], saved(observations.clone()))


def _run_tensors(run_dir):
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    return checkpoint["policy"], checkpoint["normalizer"]


@pytest.mark.parametrize(
    "policy",
    [PolicyConfig(width=16, core_bits=2, input_bits=4, scale_warmup_steps=50), PolicyConfig(width=16, fp32=True)],
    ids=["qat", "fp32"],
)
def test_seeds_trained_together_equal_each_seed_trained_alone(tmp_path, policy):
    """Whole runs, bit for bit. Reacher has two actions: no matmul has a dimension of one, and then a lone
    seed's matmuls run the same kernels as the stacked ones (see the next test for the other case)."""
    spec = tiny_spec(policy, env_id="Reacher-v4", total_steps=800, eval_every=400)
    seeds = [3, 4, 5]
    together = train_seeds(spec, seeds, [tmp_path / "together" / f"s{seed}" for seed in seeds])
    assert [run.spec.seed for run in together] == seeds
    for seed, run in zip(seeds, together):
        alone = train(dataclasses.replace(spec, seed=seed), tmp_path / "alone" / f"s{seed}")
        policy_together, normalizer_together = _run_tensors(run.run_dir)
        policy_alone, normalizer_alone = _run_tensors(alone.run_dir)
        assert normalizer_together == normalizer_alone, "the same env steps were taken"
        assert policy_together.keys() == policy_alone.keys()
        for name in policy_alone:
            torch.testing.assert_close(policy_together[name], policy_alone[name], rtol=0, atol=0, msg=name)
        assert run.returns == alone.returns
        assert _curve_returns(run.run_dir) == _curve_returns(alone.run_dir)
    assert len({run.returns for run in together}) == len(seeds), "different seeds train different policies"


def _curve_returns(run_dir):
    with open(run_dir / "curve.csv") as f:
        return [(row["env_step"], row["return_mean"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize("algo", ["sac", "ddpg"])
def test_a_seeds_updates_do_not_depend_on_the_seeds_stacked_with_it(algo):
    """Bit for bit, on any CPU: seed 4 updated among seeds 3 and 5 and among seeds 30 and 50 (the same shapes, so the
    same kernels), through the quantizer warm-up and past it. Pendulum's one action and DDPG's single critic give a
    lone seed matmuls with a dimension of one, which BLAS libraries run with other kernels than the stacked ones and
    round differently on different CPUs; the whole-run test above covers a lone seed where the kernels are the same."""
    policy = PolicyConfig(width=16, core_bits=3, input_bits=5, scale_warmup_steps=10)
    hyper = DDPG_TINY if algo == "ddpg" else tiny_spec(policy).hyper
    low, high = np.array([-2.0]), np.array([2.0])

    def agent(members):
        return AGENTS[algo](3, low, high, policy, hyper, members, [torch.Generator().manual_seed(s) for s in members])

    def batch(generator):
        return Batch(
            torch.randn(3, 64, 3, generator=generator),
            torch.rand(3, 64, 1, generator=generator) * 4 - 2,
            torch.randn(3, 64, generator=generator),
            torch.randn(3, 64, 3, generator=generator),
            (torch.rand(3, 64, generator=generator) < 0.05).float(),
        )

    first, second = agent([3, 4, 5]), agent([30, 4, 50])
    data, other_data = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    for step in range(1, 41):
        mine, others = batch(data), batch(other_data)
        first.update(mine, step)
        # member 1 sees the same transitions in both stacks, its neighbours others
        second.update(Batch(*(torch.stack([getattr(others, f.name)[0], getattr(mine, f.name)[1], getattr(others, f.name)[2]])
                              for f in dataclasses.fields(Batch))), step)
    assert not first.policy.warming_up
    for network in ("policy", "critic"):
        for (name, in_first), (_, in_second) in zip(getattr(first, network).named_parameters(),
                                                    getattr(second, network).named_parameters()):
            rows = in_first.shape[0] // 3
            torch.testing.assert_close(in_first[rows:2 * rows], in_second[rows:2 * rows], rtol=0, atol=0, msg=name)
            assert not torch.equal(in_first[:rows], in_second[:rows]), f"{network}.{name}: the neighbours differ"


def test_seeds_trained_together_must_share_everything_but_the_seed(tmp_path):
    spec = tiny_spec(PolicyConfig(width=8, fp32=True))
    with pytest.raises(TrainingInputError, match="differ only in their seed, not in total_steps"):
        Trainer([spec, dataclasses.replace(spec, seed=1, total_steps=900)], [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(TrainingInputError, match="one run folder per spec"):
        Trainer([spec], [tmp_path / "a", tmp_path / "b"])


class StopAt:
    """A stop rule that stops at a given step and records what it was shown."""

    name = "test"
    identity = "test:stop at a step"

    def __init__(self, step: int):
        self.step = step
        self.seen = []

    def check(self, env_step, mean_return):
        self.seen.append((env_step, mean_return))
        return "enough" if env_step >= self.step else None


def test_a_stop_rule_ends_every_seed_at_a_checkpoint_and_the_runs_say_so(tmp_path):
    spec = tiny_spec(PolicyConfig(width=8, core_bits=3, input_bits=4), total_steps=900, eval_every=300)
    rule = StopAt(600)
    runs = train_seeds(spec, [0, 1], [tmp_path / "s0", tmp_path / "s1"], stop_rule=rule)
    assert [step for step, _ in rule.seen] == [300, 600]
    curves = [_curve_returns(run.run_dir) for run in runs]
    for index, (step, mean_return) in enumerate(rule.seen):
        assert mean_return == pytest.approx(np.mean([float(curve[index][1]) for curve in curves])), "the seeds' mean"
    for run, curve in zip(runs, curves):
        complete = json.loads((run.run_dir / "complete.json").read_text())
        assert complete["env_steps"] == 600
        assert complete["stopped_early"] == {"rule": "test", "identity": StopAt.identity, "env_step": 600, "reason": "enough"}
        assert [step for step, _ in curve] == ["300", "600"]
        assert len(run.returns) == 2, "a stopped run still has its final evaluation"
        load_policy(run.run_dir)


def test_weights_gone_to_nan_stop_the_training_naming_the_seed_and_the_step(tmp_path):
    from training import TrainingDiverged

    spec = tiny_spec(PolicyConfig(width=8, core_bits=2, input_bits=4), total_steps=250, eval_every=50)
    trainer = Trainer(member_specs(spec, [3, 4]), [tmp_path / "s3", tmp_path / "s4"])
    while trainer.global_step < 40:
        trainer.step()
    with torch.no_grad():
        next(trainer.agent.policy.parameters())[1].fill_(float("nan"))  # member 1 is seed 4
    with pytest.raises(TrainingDiverged, match="diverged by env step 50: the policy weights of seed 4 are not finite"):
        while not trainer.done:
            trainer.step()
    assert not (tmp_path / "s4" / "complete.json").exists()


def test_the_final_evaluations_of_two_seeds_meet_independent_episodes(tmp_path, monkeypatch):
    """Seeds s and s+1 once shared 9 of their 10 episodes (reset seeds base + seed + i); each now draws its own."""
    import training.evaluation
    import training.run

    resets: dict[tuple, list] = {}
    calls: list[tuple] = []
    real_make_env, real_evaluate = training.evaluation.make_env, training.run.evaluate

    def recording_env(env_id):
        env = real_make_env(env_id)
        reset = env.reset

        def recorded(*, seed=None, **kwargs):
            resets.setdefault(calls[-1], []).append(seed)
            return reset(seed=seed, **kwargs)

        env.reset = recorded
        return env

    def tagged(policy, normalizer, env_id, episodes, seed, noise_sigma=0.0):
        calls.append(tuple(np.atleast_1d(seed)))
        return real_evaluate(policy, normalizer, env_id, episodes, seed, noise_sigma)

    monkeypatch.setattr(training.evaluation, "make_env", recording_env)
    monkeypatch.setattr(training.run, "evaluate", tagged)
    spec = tiny_spec(PolicyConfig(width=8, fp32=True), total_steps=300, eval_every=0, final_eval_episodes=10)
    runs = train_seeds(spec, [3, 4], [tmp_path / "s3", tmp_path / "s4"])
    assert len(calls) == 2
    first, second = (resets[call] for call in calls)
    assert len(set(first)) == len(set(second)) == 10
    assert not set(first) & set(second), "no episode is shared between the seeds' evaluations"
    for run, call in zip(runs, calls):
        recorded = json.loads((run.run_dir / "eval.json").read_text())
        assert tuple(recorded["seed"]) == call and recorded["forward"] == "float32 (training's forward)"
