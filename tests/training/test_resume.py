"""Trainings killed with SIGKILL and started again end bit for bit as trainings that ran straight through."""

import csv
import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from objectives.early_stop import EarlyStopper, Fp32Curve, early_stop_rule
from tests.conftest import tiny_spec
from training import DDPGConfig, PolicyConfig, SACConfig, TrainingInputError
from training.checkpoint import CheckpointFolder, Checkpointing
from training.run import Trainer, member_specs, train_seeds, train_to

EVERY = 97
"""env steps between saves: odd, so saves fall mid-episode (Pendulum's episodes are 200 steps)"""
QAT = PolicyConfig(width=16, core_bits=2, input_bits=6, output_bits=3, scale_warmup_steps=120)
FP32 = PolicyConfig(width=16, fp32=True)
DDPG = DDPGConfig(learning_starts=200, critic_width=32, batch_size=64)

CASES = {
    # SAC on MuJoCo envs (Reacher's reward reads the previous forward pass), DDPG on MuJoCo with
    # terminations and on classic control; two seeds trained together in one case
    "sac-qat-InvertedPendulum": (tiny_spec(QAT, env_id="InvertedPendulum-v4", eval_every=150), (0, 1)),
    "sac-fp32-Reacher": (tiny_spec(FP32, env_id="Reacher-v4", eval_every=150), (3,)),
    "ddpg-qat-Hopper": (tiny_spec(QAT, env_id="Hopper-v4", algo="ddpg", hyper=DDPG, eval_every=150), (5,)),
    "ddpg-fp32-Pendulum": (tiny_spec(FP32, algo="ddpg", hyper=DDPG, eval_every=150), (7,)),
}


def run_child(job: dict) -> None:
    child = subprocess.run([sys.executable, "-m", "tests.training.resume_child", json.dumps(job)], capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]


def assert_same_run(run_dir, other_dir) -> None:
    """Bit for bit the same policy, normalizer, curve (but its wall times) and final returns."""
    policy, other = (torch.load(path / "checkpoint.pt", weights_only=True) for path in (run_dir, other_dir))
    assert policy["policy"].keys() == other["policy"].keys()
    for name, tensor in policy["policy"].items():
        assert torch.equal(tensor, other["policy"][name]), name
    assert policy["normalizer"] == other["normalizer"]
    curves = []
    for path in (run_dir, other_dir):
        with open(path / "curve.csv") as f:
            curves.append([(row["env_step"], row["return_mean"], row["return_std"]) for row in csv.DictReader(f)])
    assert curves[0] == curves[1] and curves[0], "the same, non-empty curve"
    returns = [json.loads((path / "eval.json").read_text())["returns"] for path in (run_dir, other_dir)]
    assert returns[0] == returns[1]


@pytest.mark.parametrize("case", CASES)
def test_a_training_killed_at_a_random_step_and_after_a_save_ends_as_one_run_straight_through(case, tmp_path):
    spec, seeds = CASES[case]
    straight = train_seeds(spec, seeds, [tmp_path / f"straight-{seed}" for seed in seeds])

    rng = np.random.default_rng(sorted(CASES).index(case))
    killed_at = int(rng.integers(EVERY + 1, 3 * EVERY))
    killed_at += killed_at % EVERY == 0  # between saves
    after_save = EVERY * int(rng.integers(killed_at // EVERY + 1, spec.total_steps // EVERY))
    folder = tmp_path / "checkpoint"
    out_dirs = [str(tmp_path / f"resumed-{seed}") for seed in seeds]
    job = {"spec": spec.to_dict(), "seeds": list(seeds), "out_dirs": out_dirs, "checkpoints": str(folder),
           "every_steps": EVERY}
    run_child({**job, "die_at": killed_at})
    assert CheckpointFolder(folder).states()[0] == killed_at // EVERY * EVERY
    run_child({**job, "die_after_save_at": after_save})
    assert CheckpointFolder(folder).states() == [after_save, after_save - EVERY], "the save before is kept too"

    resumed = train_seeds(spec, seeds, out_dirs, checkpointing=Checkpointing(folder, every_steps=EVERY))
    assert not folder.exists(), "a finished training leaves no checkpoint behind"
    for one, other in zip(straight, resumed):
        assert_same_run(one.run_dir, other.run_dir)
        complete = json.loads((other.run_dir / "complete.json").read_text())
        assert complete["resumed_at"] == [killed_at // EVERY * EVERY, after_save]
        assert complete["env_steps"] == spec.total_steps


def test_a_training_paused_at_rungs_and_continued_ends_as_one_run_straight_through(tmp_path):
    spec, seeds = CASES["sac-qat-InvertedPendulum"]
    straight = train_seeds(spec, seeds, [tmp_path / f"straight-{seed}" for seed in seeds])
    folder = tmp_path / "checkpoint"
    checkpointing = Checkpointing(folder, every_seconds=None)
    rungs = []
    for rung, env_step in enumerate((233, 466)):
        rungs.append(train_to(spec, seeds, [tmp_path / f"rung{rung}-{seed}" for seed in seeds], env_step, checkpointing))
    assert [[result.env_step for result in results] for results in rungs] == [[233, 233], [466, 466]]
    assert all(len(result.returns) == spec.final_eval_episodes for results in rungs for result in results)
    resumed = train_seeds(spec, seeds, [tmp_path / f"resumed-{seed}" for seed in seeds], checkpointing=checkpointing)
    for one, other in zip(straight, resumed):
        assert_same_run(one.run_dir, other.run_dir)
    assert json.loads((resumed[0].run_dir / "complete.json").read_text())["resumed_at"] == [233, 466]
    with pytest.raises(TrainingInputError, match="a pause at env step 700 is invalid: it must lie in 1..699"):
        train_to(spec, seeds, [tmp_path / "x"], 700, checkpointing)


def test_a_save_sends_only_the_replay_rows_added_since_the_last_one_and_drops_overwritten_ones(tmp_path):
    hyper = SACConfig(buffer_size=150, learning_starts=100, critic_width=32, batch_size=32)
    spec = tiny_spec(FP32, total_steps=500, eval_every=0, hyper=hyper)
    sent = []
    checkpointing = Checkpointing(tmp_path / "checkpoint", every_steps=100, every_seconds=None, on_save=sent.append)
    trainer = Trainer(member_specs(spec, [0]), [tmp_path / "run"], checkpointing=checkpointing)
    while not trainer.done:
        trainer.step()
    replay = [[path.name for path in saved.written if path.name.startswith("replay")] for saved in sent]
    assert replay == [["replay-0-100.pt"], ["replay-100-200.pt"], ["replay-200-300.pt"], ["replay-300-400.pt"]]
    # a ring of 150 rows at step 400 holds steps 250..399: the files ending at or before step 250 are not its own;
    # the save before (step 300, rows 150..299) is kept whole beside it, the rest is gone
    assert sent[-1].own == ("replay-200-300.pt", "replay-300-400.pt", "state-400.pt")
    assert sent[-1].kept == (*sent[-1].own, "replay-100-200.pt", "state-300.pt")
    assert sorted(path.name for path in (tmp_path / "checkpoint").iterdir()) == sorted(sent[-1].kept)


def test_a_save_larger_than_a_piece_is_written_and_resumed_in_pieces_bit_for_bit(tmp_path):
    spec, seeds = CASES["sac-qat-InvertedPendulum"]
    straight = train_seeds(spec, seeds, [tmp_path / f"straight-{seed}" for seed in seeds])
    row_bytes = len(seeds) * 4 * (2 * 4 + 1 + 2)  # both seeds' rows: 4-dim observations twice, action, reward, flag
    sent = []
    checkpointing = Checkpointing(tmp_path / "checkpoint", every_seconds=None, on_save=sent.append, piece_bytes=100 * row_bytes)
    train_to(spec, seeds, [tmp_path / f"paused-{seed}" for seed in seeds], 350, checkpointing)
    assert [path.name for path in sent[0].written] == [
        "replay-0-100.pt", "replay-100-200.pt", "replay-200-300.pt", "replay-300-350.pt", "state-350.pt"]
    resumed = train_seeds(spec, seeds, [tmp_path / f"resumed-{seed}" for seed in seeds], checkpointing=checkpointing)
    for one, other in zip(straight, resumed):
        assert_same_run(one.run_dir, other.run_dir)


def test_a_checkpoint_of_another_training_is_refused_in_one_line(tmp_path):
    spec = tiny_spec(FP32, total_steps=300, eval_every=0)
    checkpointing = Checkpointing(tmp_path / "checkpoint", every_steps=100, every_seconds=None)
    trainer = Trainer(member_specs(spec, [0]), [tmp_path / "run"], checkpointing=checkpointing)
    for _ in range(100):
        trainer.step()
    with pytest.raises(TrainingInputError, match=r"checkpoint .*state-100.pt is of another training .*: remove it"):
        Trainer(member_specs(spec, [1]), [tmp_path / "other"], checkpointing=checkpointing)


def test_an_early_stop_rule_restored_from_its_state_decides_as_the_original():
    reference = Fp32Curve((100, 200, 300, 400), (50.0, 100.0, 150.0, 200.0))
    original = EarlyStopper(early_stop_rule("aggressive"), reference, 400)
    for step, value in ((100, 10.0), (200, 12.0)):
        original.check(step, value)
    restored = EarlyStopper(early_stop_rule("aggressive"), reference, 400)
    restored.load_state_dict(original.state_dict())
    fresh = EarlyStopper(early_stop_rule("aggressive"), reference, 400)
    decision = original.check(300, 11.0)
    assert restored.check(300, 11.0) == decision
    assert "best return 12.0" in decision and fresh.check(300, 11.0) != decision, "the state is what decides"


@pytest.mark.parametrize("damaged", [1, 2])
def test_a_damaged_save_is_set_aside_and_the_training_resumes_from_the_one_before(damaged, tmp_path, capsys):
    """A state file cut short (a full disk, a lost node's copy) costs the steps since the save before it, not the
    training: it ends bit for bit as one that ran straight through; with both saves damaged it starts over."""
    spec = tiny_spec(FP32, total_steps=400, eval_every=100)
    straight = train_seeds(spec, [0], [tmp_path / "straight"])[0]
    folder = tmp_path / "checkpoint"
    checkpointing = Checkpointing(folder, every_steps=100, every_seconds=None)
    trainer = Trainer(member_specs(spec, [0]), [tmp_path / "stopped"], checkpointing=checkpointing)
    for _ in range(250):
        trainer.step()
    assert CheckpointFolder(folder).states() == [200, 100]
    for step in (200, 100)[:damaged]:
        state = folder / f"state-{step}.pt"
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    resumed = train_seeds(spec, [0], [tmp_path / "resumed"], checkpointing=checkpointing)[0]
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == damaged and all("cannot be read" in line and "set aside as state-" in line for line in lines)
    assert lines[-1].endswith("resuming from the save before it" if damaged == 1 else "starting the training over")
    assert_same_run(straight.run_dir, resumed.run_dir)
    assert json.loads((resumed.run_dir / "complete.json").read_text()).get("resumed_at", []) == ([100] if damaged == 1 else [])

