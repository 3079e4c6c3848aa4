"""The fast model of each Lattice family, fitted on its place-and-route grid and checked on designs held out.

    .venv/bin/python docs/results/hardware/lattice/fit.py [--out synthesis/lattice_model.json]

Per family (``grid-FAMILY.jsonl.gz``, written by ``lattice_grid.py``): LUT4s and FFs as
non-negative weights of the same terms as the XC7A15T's model (``synthesis.features``,
fitted on relative error by ``synthesis.calibration.fit_terms``), and the clock period as
``a + b x`` the RTL's longest path estimated for the Artix-7 (``synthesis.timing``), both
non-negative, on relative error. Every fourth design by its name's hash
(``synthesis.calibration.held_out``) is left out of the fits and measures them: the
median and worst factor (max(r, 1/r)) of estimate over nextpnr's figure. Designs nextpnr
could not place count for LUT4s and FFs (their packed counts) but not for the clock. A grid of fewer than
``MIN_DESIGNS`` is not fitted. The fits go to ``synthesis/lattice_model.json``, which ``synthesis.lattice_model``
prices designs with (``dse run --device ice40up5k``, ``dse synth --device ...``), with each family's typical clock:
the geometric mean of its fitted designs' maximum frequencies, which throughput targets are folded for.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

from synthesis.calibration import errors, fit_terms, held_out, predict, relative_nnls
from synthesis.features import FF_TERMS, LUT_TERMS
from synthesis.lattice_model import MODEL_FILE

HERE = Path(__file__).parent
MIN_DESIGNS = 30
"""a family's grid is fitted from this many designs on (a quarter of them held out); a smaller one is still being built"""


def records(family: str) -> list[dict]:
    return [json.loads(line) for line in gzip.open(HERE / f"grid-{family}.jsonl.gz", "rt") if line.strip()]


def period_fit(routed: list[dict]) -> dict[str, float]:
    """Non-negative a, b of period = a + b * xc7 path on relative error."""
    matrix = np.array([[1.0, record["xc7_path_ns"]] for record in routed])
    periods = np.array([1000 / record["fmax_mhz"] for record in routed])
    intercept, slope = relative_nnls(matrix, periods)
    return {"intercept_ns": float(intercept), "per_xc7_ns": float(slope)}


def fmax_of(record: dict, period: dict[str, float]) -> float:
    return 1000 / (period["intercept_ns"] + period["per_xc7_ns"] * record["xc7_path_ns"])


def fit(family: str) -> dict:
    found = records(family)
    train = [record for record in found if not held_out(record["name"])]
    test = [record for record in found if held_out(record["name"])]
    luts, ffs = fit_terms(train, LUT_TERMS, "luts"), fit_terms(train, FF_TERMS, "ffs")
    timed = lambda group: [record for record in group if record["routed"] and record["fmax_mhz"]]  # noqa: E731
    period = period_fit(timed(train))
    names = lambda group: [record["name"] for record in group]  # noqa: E731
    checks = {}
    for group, suffix in ((test, ""), (train, "_fitted_on")):
        checks |= {
            f"luts{suffix}": errors([predict(record, luts) / record["luts"] for record in group], names(group)),
            f"ffs{suffix}": errors([predict(record, ffs) / record["ffs"] for record in group], names(group)),
            f"fmax{suffix}": errors([fmax_of(record, period) / record["fmax_mhz"] for record in timed(group)],
                                    names(timed(group))),
        }
    typical = float(np.exp(np.mean([np.log(record["fmax_mhz"]) for record in timed(train)])))
    return {"part": found[0]["part"], "designs": len(found), "fitted_on": len(train), "held_out": len(test), "luts": luts,
            "ffs": ffs, "period": period, "typical_mhz": typical, "held_out_errors": checks}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    args = parser.parse_args()
    built = [family for family in ("ice40", "ecp5") if (HERE / f"grid-{family}.jsonl.gz").exists()]
    for family in built:
        if len(records(family)) < MIN_DESIGNS:
            print(f"{family}: {len(records(family))} designs, fewer than {MIN_DESIGNS}: not fitted (lattice_grid.py resumes it)")
    fitted = {family: fit(family) for family in built if len(records(family)) >= MIN_DESIGNS}
    args.out.write_text(json.dumps(fitted, indent=1) + "\n")
    for family, found in fitted.items():
        print(f"{family} ({found['part']}): {found['designs']} designs, {found['held_out']} held out")
        for figure, check in found["held_out_errors"].items():
            print(f"  {figure}: median factor {check['median_factor']:.2f}, worst {check['worst_factor']:.2f} "
                  f"({check['designs']} designs)")  # fmt: skip


if __name__ == "__main__":
    main()
