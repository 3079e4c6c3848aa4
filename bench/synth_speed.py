"""Synthesis cost per candidate: lowering, FINN conversion, one target, the full sweep.

    .venv/bin/python bench/synth_speed.py

Two networks of the issue's probes (obs 11 -> 16 -> 16 -> 3 with a 2-bit core and
6-bit input; obs 17 -> 256 -> 256 -> 6 with a 4-bit core and 8-bit input/output),
random weights past the scale warm-up. The budget is 10 s for one estimate; the
table gives each step's seconds and the ratio of one estimate to that budget
(lower is better). FINN's import is timed once, apart.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 10.0
NETWORKS = [(11, 3, 16, 2, 6, 8), (17, 6, 256, 4, 8, 8)]


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.synthesis.conftest import make_policy_onnx

    started = time.perf_counter()
    from synthesis.estimate import Synthesizer
    from synthesis.lowering import lower_qonnx

    print(f"import of FINN and the estimator: {time.perf_counter() - started:.2f} s (once per process)")
    print(f"{'network':>28} {'lower':>7} {'to HW':>7} {'1 target':>9} {'sweep x8':>9} {'1 target/budget':>16}")
    with tempfile.TemporaryDirectory() as folder:
        for obs, act, width, core, inp, out in NETWORKS:
            path = make_policy_onnx(Path(folder) / "p.onnx", obs, act, width, core, inp, out)
            t0 = time.perf_counter()
            policy = lower_qonnx(path)
            t1 = time.perf_counter()
            synthesizer = Synthesizer(policy)
            _ = synthesizer.hardware  # the FINN conversion, built once per network
            t2 = time.perf_counter()
            synthesizer.at_target(1e5)
            t3 = time.perf_counter()
            synthesizer.sweep()
            t4 = time.perf_counter()
            one = (t1 - t0) + (t2 - t1) + (t3 - t2)
            name = f"{obs}-{width}-{width}-{act} c{core} i{inp} o{out}"
            print(f"{name:>28} {t1 - t0:>7.2f} {t2 - t1:>7.2f} {t3 - t2:>9.3f} {t4 - t3:>9.2f} {one / BUDGET_S:>16.3f}")


if __name__ == "__main__":
    main()
