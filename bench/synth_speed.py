"""Hardware estimate cost per candidate: lowering, FINN conversion, one target, the full sweep.

    .venv/bin/python bench/synth_speed.py

Three networks (obs 11 -> 16 -> 16 -> 3 with a 2-bit core and 6-bit input; obs
17 -> 256 -> 256 -> 6 and 376 -> 256 -> 256 -> 17 with a 4-bit core and 8-bit
input/output, the published Walker2d and Humanoid shapes), random weights past the
scale warm-up. One target is timed under the hardware model (the default) and under
FINN's own estimate (``--estimator finn``, the reference, in the same run); the budget
is 0.5 s for one estimate (lowering, conversion, one target). FINN's import is timed
once, apart.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 0.5
NETWORKS = [(11, 3, 16, 2, 6, 8), (17, 6, 256, 4, 8, 8), (376, 17, 256, 4, 8, 8)]


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from training.export import untrained_policy_onnx

    started = time.perf_counter()
    from synthesis.estimate import SynthesisSettings, Synthesizer
    from synthesis.lowering import lower_qonnx

    print(f"import of FINN and the estimator: {time.perf_counter() - started:.2f} s (once per process)")
    print(f"{'network':>30} {'lower':>6} {'to HW':>6} {'model':>7} {'FINN':>7} {'model/FINN':>10} "
          f"{'sweep x8':>8} {'1 estimate/budget':>17}")
    with tempfile.TemporaryDirectory() as folder:
        for obs, act, width, core, inp, out in NETWORKS:
            path = untrained_policy_onnx(Path(folder) / "p.onnx", obs, act, width, core, inp, out)
            t0 = time.perf_counter()
            policy = lower_qonnx(path)
            t1 = time.perf_counter()
            synthesizer = Synthesizer(policy)
            _ = synthesizer.hardware  # the FINN conversion, built once per network
            t2 = time.perf_counter()
            synthesizer.at_target(1e5)
            t3 = time.perf_counter()
            finn = Synthesizer(policy, SynthesisSettings(estimator="finn"))
            finn._hardware = synthesizer.hardware
            t4 = time.perf_counter()
            finn.at_target(1e5)
            t5 = time.perf_counter()
            synthesizer.sweep()
            t6 = time.perf_counter()
            one = (t1 - t0) + (t2 - t1) + (t3 - t2)
            name = f"{obs}-{width}-{width}-{act} c{core} i{inp} o{out}"
            print(f"{name:>30} {t1 - t0:>6.2f} {t2 - t1:>6.2f} {t3 - t2:>7.3f} {t5 - t4:>7.3f} {(t3 - t2) / (t5 - t4):>10.2f} "
                  f"{t6 - t5:>8.2f} {one / BUDGET_S:>17.3f}")


if __name__ == "__main__":
    main()
