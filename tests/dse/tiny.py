"""A study that takes seconds per trial: InvertedPendulum, 600 steps, small critics, two seeds, a small space."""

TINY_STUDY = [
    "--env", "InvertedPendulum-v4", "--seeds", "2", "--steps", "600", "--learning-starts", "200", "--eval-every", "0",
    "--final-eval-episodes", "3", "--critic-width", "32", "--batch-size", "64", "--baseline-width", "32",
    "--space-widths", "16,32", "--space-core-bits", "2..3", "--space-input-bits", "6,8", "--workers", "2",
]


def trained(study):
    """The trials of an Optuna study that trained their candidate (not repeats)."""
    return [t for t in study.get_trials() if "repeat_of" not in t.user_attrs]
