"""What a study will cost before it starts: trainings, env steps, CPU-hours and wall time on the given workers.

The time is a model fitted to ``bench/train_speed.py`` on the 2-core development
machine (x86 VM): seeds of a candidate trained together on one thread cost about
3.9 ms of overhead per seed and env step (MuJoCo, Python, the framework) plus
matmul time that grows with the batch and the squares of the critics' and the
policy's widths. It is an estimate for that kind of machine and for SAC (two
critics; DDPG's one critic costs less), one torch thread per task (``--threads``
is not modelled): early stopping and cached policies make a study cheaper than
planned; a slower machine makes it dearer. On a 2-core AMD
EPYC VM the reduced Pendulum study of docs/results took 0.22 CPU-hours where the
plan said 0.4.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dse.storage.settings import StudyInputError, StudySettings
from training.memory import TASK_OVERHEAD_BYTES, gigabytes, replay_row_bytes, replay_rows

OVERHEAD_SECONDS = 3.9e-3
"""per seed and env step, whatever the networks"""
CRITIC_SECONDS = 1.1e-7
"""per seed and env step, times (critic width)^2 x batch / 256 (two critics, their targets and the actor loss)"""
POLICY_SECONDS = 7.2e-8
"""per seed and env step, times (policy width)^2 x batch / 256"""
REFERENCE_BATCH = 256
OBJECT_STORE_BYTES = 256 * 1024**2
"""a local Ray's object store: tasks pass specs and packed run folders (tens of kB to a few MB), so it stays small"""


def seconds_per_seed_step(critic_width: int, policy_widths: Sequence[int], batch_size: int) -> float:
    """CPU seconds of one env step of one seed trained with its candidate's other seeds, on one thread.

    ``policy_widths``: the widths a study draws from (their mean square counts), or the one width of a training.
    """
    mean_square_width = sum(width**2 for width in policy_widths) / len(policy_widths)
    matmuls = CRITIC_SECONDS * critic_width**2 + POLICY_SECONDS * mean_square_width
    return OVERHEAD_SECONDS + batch_size / REFERENCE_BATCH * matmuls


@dataclass(frozen=True)
class StudyPlan:
    trials: int
    """candidates still to train (the budget, or what the plan or the space holds, less those trained)"""
    seeds: int
    baseline_trainings: int
    """FP32 baseline seeds not in the cache yet"""
    env_steps: int
    """of every training planned"""
    cpu_seconds: float
    task_seconds: float
    """one training task: a candidate's seeds trained together (or one seed, with ``--task-per-seed``)"""
    workers: int
    full_env_steps: int | None = None
    """under rungs: the env steps of the same study with every candidate trained to the end"""
    rungs: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    """how the tasks were fitted to this machine's memory (``fit_memory``)"""
    seed_bytes: int = 0
    """one seed's replay memory (``training.memory``)"""
    task_bytes: int = 0
    """one training task: its seeds' replay memories and the task's own (``TASK_OVERHEAD_BYTES``)"""

    @property
    def memory(self) -> str:
        return (f"memory: about {gigabytes(self.task_bytes)} per training task ({gigabytes(self.seed_bytes)} of replay "
                f"per seed), {gigabytes(self.task_bytes * self.workers)} with {self.worker_count}")

    @property
    def worker_count(self) -> str:
        return f"{self.workers} worker{'s' if self.workers != 1 else ''}"

    @property
    def wall_seconds(self) -> float:
        """The work spread over the workers, but never less than one task: a task runs on one worker."""
        return max(self.cpu_seconds / self.workers, self.task_seconds) if self.trials else self.cpu_seconds / self.workers

    @property
    def trainings(self) -> int:
        """At most: cached candidates cost nothing."""
        return self.trials * self.seeds

    def describe(self) -> str:
        from dse.study.progress import duration

        rungs = ""
        if self.full_env_steps is not None:
            share = self.env_steps / self.full_env_steps if self.full_env_steps else 0.0
            rungs = (f" under successive halving (rungs at {', '.join(f'{steps:,}' for steps in self.rungs)} env steps; "
                     f"with every candidate trained to the end, the study would take {self.full_env_steps:,}: {share:.0%} of it)")
        return (
            f"plan: {self.trials} candidates x {self.seeds} seeds = up to {self.trainings:,} trainings "
            f"(+{self.baseline_trainings} FP32 baseline), {self.env_steps:,} env steps{rungs}; about "
            f"{_hours(self.cpu_seconds)} CPU-hours at the 2-core development machine's speed (docs/performance.md), "
            f"{duration(self.wall_seconds)} with {self.worker_count}; {self.memory}"
        ) + "".join(f"\n{note}" for note in self.notes)


def plan_study(
    settings: StudySettings, budget: int, finished: int, workers: int, baseline_cached: bool, task_per_seed: bool = False,
    notes: tuple[str, ...] = (),
) -> StudyPlan:
    """The trainings still ahead of a study with ``finished`` trials, and what they cost."""
    from dse.strategies.staged import StagedRule
    from dse.strategies.sweep import Sweep

    most = {"staged": StagedRule.of(settings).most_trials, "sweep": Sweep(settings.sweep).most_trials}
    trials = max(0, min(budget, most.get(settings.strategy, settings.space.size)) - finished)
    hyper, steps = settings.template.hyper, settings.template.total_steps
    baseline = 0 if baseline_cached else settings.seeds
    candidate_step = seconds_per_seed_step(hyper.critic_width, settings.space.widths, hyper.batch_size)
    baseline_step = seconds_per_seed_step(hyper.critic_width, (settings.baseline_width,), hyper.batch_size)
    rungs = settings.rung_steps()
    # successive halving: a 1/factor^r share of the candidates trains the leg up to rung r
    factor = settings.fidelity_factor
    candidate_steps = sum((end - start) / factor**rung for rung, (start, end) in enumerate(zip((0, *rungs), rungs)))
    cpu = trials * settings.seeds * candidate_steps * candidate_step + baseline * steps * baseline_step
    task = steps * candidate_step * (1 if task_per_seed else settings.seeds)
    env_steps = round(trials * settings.seeds * candidate_steps) + baseline * steps
    full = (trials * settings.seeds + baseline) * steps if len(rungs) > 1 else None
    seed_bytes, task_bytes = memory_of(settings, task_per_seed)
    return StudyPlan(trials, settings.seeds, baseline, env_steps, cpu, task, workers, full,
                     rungs if full is not None else (), notes, seed_bytes, task_bytes)


def memory_of(settings: StudySettings, task_per_seed: bool) -> tuple[int, int]:
    """One seed's replay memory and one training task's memory, in bytes."""
    from training.envs import env_spaces

    obs_dim, low, _ = env_spaces(settings.env_id)
    hyper = settings.template.hyper
    seed_bytes = replay_rows(hyper.buffer_size, settings.template.total_steps) * replay_row_bytes(obs_dim, len(low))
    return seed_bytes, TASK_OVERHEAD_BYTES + seed_bytes * (1 if task_per_seed else settings.seeds)


def fit_memory(settings: StudySettings, workers: int, task_per_seed: bool, available: int) -> tuple[int, bool, tuple]:
    """Workers and tasks that fit ``available`` bytes, and the lines that say what changed; a one-line refusal where
    not even one seed fits. A candidate's seeds that do not fit one task train in tasks of their own (as
    ``--task-per-seed``); fewer tasks run at once where the workers' tasks together do not fit."""
    notes = []
    seed_bytes, task_bytes = memory_of(settings, task_per_seed)
    if TASK_OVERHEAD_BYTES + seed_bytes > available:
        lower = "lower --buffer-size (or --steps), or " if TASK_OVERHEAD_BYTES < available else ""
        raise StudyInputError(
            f"one training seed needs about {gigabytes(TASK_OVERHEAD_BYTES + seed_bytes)} (a replay memory of "
            f"{gigabytes(seed_bytes)}), more than the {gigabytes(available)} free on this machine: {lower}run on a "
            "larger machine (--ray-address)")
    if task_bytes > available:
        task_per_seed, task_bytes = True, TASK_OVERHEAD_BYTES + seed_bytes
        notes.append(f"a candidate's {settings.seeds} seeds need about {gigabytes(memory_of(settings, False)[1])} in "
                     f"one task, more than the {gigabytes(available)} free on this machine: each seed trains in a task "
                     "of its own (as --task-per-seed)")
    if workers * task_bytes > available:
        fitting = max(1, available // task_bytes)
        notes.append(f"{workers} workers' tasks need about {gigabytes(workers * task_bytes)}, more than the "
                     f"{gigabytes(available)} free on this machine: {fitting} at once (lower --seeds or --buffer-size "
                     "for more)")
        workers = fitting
    return workers, task_per_seed, tuple(notes)


def local_memory() -> int:
    """The bytes a local Ray schedules training tasks in: the memory free now, less the object store. "Free" is this
    machine's available memory, or what a container's memory limit leaves (cgroup v2), whichever is less, as Ray
    itself reckons its node's memory."""
    import psutil

    free = psutil.virtual_memory().available
    cgroup = Path("/sys/fs/cgroup")
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit.isdigit():
            free = min(free, int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass  # no cgroup v2 memory controller here: the machine's own figure stands
    return max(0, free - OBJECT_STORE_BYTES)


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.2g}"
