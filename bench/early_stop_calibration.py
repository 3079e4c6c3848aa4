"""Calibration of the early-stop rules: replay them over the learning curves of finished studies.

    .venv/bin/python bench/early_stop_calibration.py RUN [RUN ...]

Each RUN is a study folder (``dse run`` or ``dse sweep``, trained with
``--eval-every`` > 0 and early stopping off, so every curve runs to the end).
For every candidate (each configuration once) the rules of
``objectives.early_stop`` are fed its seeds' mean curve against the study's
FP32 curve, as a training task would; the table says how many candidates each
rule stops, how many of those reached parity after all (wrong stops: the target
is none), and the share of the candidates' env steps it saves. As a check on
candidates that are FP32 policies, each FP32 baseline seed is also replayed
against the curve of the other seeds, and its final return held against their
parity band. ``--grid`` adds the same figures for a grid of rule settings.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from dse.reports.run_data import load_run
from dse.storage.trials import candidate_of_row
from objectives import Fp32Band, parity
from objectives.early_stop import RULES, EarlyStopper, EarlyStopRule, Fp32Curve


@dataclass(frozen=True)
class Replay:
    label: str
    reached_parity: bool
    steps: tuple[int, ...]
    means: tuple[float, ...]
    seeds: int
    reference: Fp32Curve
    """the FP32 curve it is held against"""


def candidates(run_dir: Path) -> tuple[int, list[Replay]]:
    """The study's training length, and each scored configuration's curve, verdict and FP32 curve; then each
    FP32 seed's curve against the other seeds' curve."""
    run = load_run(run_dir)
    baseline_dirs = run.baseline["policy_dirs"]
    seed_returns = run.baseline["seed_returns"]
    # capped at the parity band's lower edge, as a study's stopper is (dse.study.baseline)
    reference = Fp32Curve.from_run_dirs(baseline_dirs, Fp32Band.from_seed_returns(seed_returns).lower)
    replays = []
    seen = set()
    for _, row in run.scored.iloc[::-1].iterrows():
        label = candidate_of_row(row).label
        if label in seen:
            continue
        seen.add(label)
        curve = Fp32Curve.from_run_dirs(row["policy_dirs"])
        replays.append(
            Replay(label, bool(row["parity_feasible"]), curve.steps, curve.means, len(row["policy_dirs"]), reference)
        )
    for index, seed_dir in enumerate(baseline_dirs):
        others = [other for position, other in enumerate(baseline_dirs) if position != index]
        if not others:
            continue
        curve = Fp32Curve.from_run_dirs([seed_dir])
        band = Fp32Band.from_seed_returns([value for position, value in enumerate(seed_returns) if position != index])
        label = f"fp32 seed {index} vs the others"
        reached = parity([seed_returns[index]], band).feasible
        replays.append(Replay(label, reached, curve.steps, curve.means, 1, Fp32Curve.from_run_dirs(others, band.lower)))
    return run.settings.template.total_steps, replays


def first_stop(rule: EarlyStopRule, total_steps: int, replay: Replay) -> int | None:
    stopper = EarlyStopper(rule, replay.reference, total_steps)
    for step, value in zip(replay.steps, replay.means):
        if step < total_steps and stopper.check(step, value) is not None:
            return step
    return None


@dataclass(frozen=True)
class Outcome:
    configurations: int
    reached_parity: int
    stopped: list[str]
    wrong: list[str]
    """stopped, though they reached parity"""
    fp32_checks: int
    """FP32 seeds held against the other seeds"""
    fp32_reached: int
    """of them, those whose return reached the other seeds' parity band"""
    fp32_stopped: int
    fp32_wrong: int
    """stopped, though they reached the other seeds' band"""
    saved: float
    """share of the candidates' env steps a stop saves"""


def replay_rule(rule: EarlyStopRule, studies: list[tuple[str, int, list[Replay]]]) -> Outcome:
    stopped, wrong = [], []
    configurations = reached = fp32_checks = fp32_reached = fp32_stopped = fp32_wrong = 0
    steps_total = steps_saved = 0
    for name, total_steps, replays in studies:
        for replay in replays:
            stop = first_stop(rule, total_steps, replay)
            if replay.label.startswith("fp32 seed"):
                fp32_checks += 1
                fp32_reached += replay.reached_parity
                fp32_stopped += stop is not None
                fp32_wrong += stop is not None and replay.reached_parity
                continue
            configurations += 1
            reached += replay.reached_parity
            steps_total += total_steps * replay.seeds
            if stop is not None:
                stopped.append(f"{name} {replay.label} at {stop}")
                if replay.reached_parity:
                    wrong.append(stopped[-1])
                steps_saved += (total_steps - stop) * replay.seeds
    return Outcome(
        configurations, reached, stopped, wrong, fp32_checks, fp32_reached, fp32_stopped, fp32_wrong,
        steps_saved / steps_total,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="study folders")
    parser.add_argument("--grid", action="store_true", help="also replay a grid of rule settings (the trade-off)")
    args = parser.parse_args()
    studies = [(run_dir.name, *candidates(run_dir)) for run_dir in args.runs]

    print(f"studies: {', '.join(str(run) for run in args.runs)}")
    print("| rule | behind | after | checkpoints | configurations | reached parity | stopped |"
          " stopped but reached parity | FP32 seeds stopped | FP32 seeds stopped but in the others' band |"
          " env steps saved |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rules = list(RULES.values())
    if args.grid:
        rules += [
            EarlyStopRule("grid", behind, after, checkpoints)
            for behind in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
            for after in (0.2, 0.3, 0.4)
            for checkpoints in (1, 2)
        ]
    for rule in rules:
        outcome = replay_rule(rule, studies)
        print(f"| {rule.name} | {rule.behind:.0%} | {rule.after:.0%} | {rule.checkpoints} | {outcome.configurations} |"
              f" {outcome.reached_parity} | {len(outcome.stopped)} | {len(outcome.wrong)} of {outcome.reached_parity} |"
              f" {outcome.fp32_stopped} of {outcome.fp32_checks} | {outcome.fp32_wrong} of {outcome.fp32_reached} |"
              f" {100 * outcome.saved:.1f}% |")
    for rule in RULES.values():
        outcome = replay_rule(rule, studies)
        print(f"\n{rule.name} stops: {'; '.join(outcome.stopped) or 'none'}")
        print(f"{rule.name} stops that reached parity: {'; '.join(outcome.wrong) or 'none'}")


if __name__ == "__main__":
    main()
