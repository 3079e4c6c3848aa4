"""A training that kills itself with SIGKILL: at an env step, or right after the save at an env step.

Run by ``test_resume`` as ``python -m tests.training.resume_child JOB``; JOB is JSON
with the spec, seeds, run folders, checkpoint folder and interval, and where to die.
"""

import json
import os
import signal
import sys
from pathlib import Path

import torch

from training import TrainSpec
from training.checkpoint import Checkpointing
from training.run import Trainer, member_specs


def main(job: dict) -> None:
    torch.set_num_threads(1)

    def after_save(saved) -> None:
        if trainer.global_step == job.get("die_after_save_at"):
            os.kill(os.getpid(), signal.SIGKILL)

    checkpointing = Checkpointing(Path(job["checkpoints"]), every_steps=job["every_steps"], every_seconds=None,
                                  on_save=after_save)
    specs = member_specs(TrainSpec.from_dict(job["spec"]), job["seeds"])
    trainer = Trainer(specs, job["out_dirs"], checkpointing=checkpointing)
    while not trainer.done:
        trainer.step()
        if trainer.global_step == job.get("die_at"):
            os.kill(os.getpid(), signal.SIGKILL)
    raise SystemExit("the training ended without being killed")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
