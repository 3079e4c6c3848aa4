"""Estimates of real policies: FINN's folding and cycles, the model's (or FINN's) resources, device fit, caching, failures."""

import dataclasses
import json

import pytest
from qonnx.custom_op.registry import getCustomOp

from synthesis import FinnFailure, SynthesisInputError, devices, finn_adapter, lower_qonnx, model
from synthesis.dataflow import finn_model
from synthesis.estimate import DEFAULT_TARGETS, SynthesisSettings, Synthesizer, read_folding

FINN = SynthesisSettings(estimator="finn")


@pytest.fixture(scope="module")
def small(policy_onnx):
    return Synthesizer(lower_qonnx(policy_onnx(obs_dim=11, act_dim=3, width=16, core_bits=2, input_bits=6)))


@pytest.fixture(scope="module")
def small_finn(small):
    return Synthesizer(small.policy, FINN)


def test_a_larger_target_never_gives_more_cycles(small):
    reports, chosen = small.sweep()
    assert [r.target_fps for r in reports] == sorted(DEFAULT_TARGETS)
    for slower, faster in zip(reports, reports[1:]):
        assert faster.throughput_fps >= slower.throughput_fps
        assert faster.latency_cycles <= slower.latency_cycles
    assert reports[0].throughput_fps < reports[-1].throughput_fps
    # the chosen design is the highest target that fits
    assert chosen.fits and all(not r.fits for r in reports if r.target_fps > chosen.target_fps)
    assert reports[-1].notes[0].startswith("target 1e+09/s not met")
    assert any("mvau_wwidth_max" in note or "max width 36" in note for note in reports[-1].notes)
    # a met target carries no folding warnings (SetFolding's first pass warns even when its second pass succeeds)
    met = [r for r in reports if r.throughput_fps >= r.target_fps]
    assert met and all(not any("not met" in note or "SetFolding" in note for note in r.notes) for r in met)
    assert all(len(r.notes) == 3 and "calibration vivado" in r.notes[0] and "timing estimated" in r.notes[1] for r in met)


@pytest.mark.parametrize("estimator", ["model", "finn"])
def test_report_figures_hold_together(small, estimator):
    report = Synthesizer(small.policy, SynthesisSettings(estimator=estimator)).at_target(1e5)
    mvaus = [layer for layer in report.layers if layer.pe is not None]
    assert [(layer.rows, layer.columns) for layer in mvaus] == [(16, 32), (16, 16), (32, 16)]
    assert report.luts == sum(layer.luts for layer in report.layers)
    assert report.bram36 == sum(layer.bram18 for layer in report.layers) / 2
    fastest = 100e6 / max(layer.cycles for layer in report.layers)
    assert report.latency_s == pytest.approx(report.latency_cycles / 100e6)
    assert report.energy_per_action_j == pytest.approx(report.power_w / report.throughput_fps)
    if estimator == "finn":
        assert report.estimator == "finn" and report.ffs is None and any("FF" in note for note in report.notes)
        assert report.throughput_fps == pytest.approx(fastest) and report.critical_path_ns is None
        assert any(note.startswith("timing not checked") for note in report.notes)
    else:
        assert report.estimator == "model (vivado)" and report.ffs == sum(layer.ffs for layer in report.layers) > 0
        # the RTL drains each layer's pipeline before its next input: the interval is above NF * SF
        assert report.throughput_fps < fastest and 0 < report.critical_path_ns < 10


def test_power_is_static_plus_the_logics_dynamic_power_at_the_clock(small):
    """The documented model (synthesis/devices.py), written out: W per MHz at 12.5% toggle per LUT or FF."""
    report = small.at_target(1e5)
    watts = devices.power_coefficients()
    assert report.power_w == pytest.approx(0.07 + 100 * (report.luts + report.ffs) * watts["logic"], rel=1e-12)
    faster = Synthesizer(small.policy, SynthesisSettings(clock_mhz=200)).with_folding(report.folding())
    assert (faster.luts, faster.ffs, faster.bram36, faster.dsps) == (report.luts, report.ffs, report.bram36, report.dsps)
    assert faster.power_w - 0.07 == pytest.approx(2 * (report.power_w - 0.07), rel=1e-12), "dynamic power scales with f"


def test_padding_is_a_setting(policy_onnx):
    """FINN's estimate counts padded channels as real; the model's price at the same cycles per layer does not grow with them."""
    policy = lower_qonnx(policy_onnx(obs_dim=11, act_dim=3))
    padded = Synthesizer(policy, FINN).at_target(1e2)
    unpadded = Synthesizer(policy, dataclasses.replace(FINN, pad_multiple=1)).at_target(1e2)
    first = lambda report: next(layer for layer in report.layers if layer.pe is not None)  # noqa: E731
    assert (first(padded).columns, first(unpadded).columns) == (32, 11)
    assert first(padded).cycles == 32 * 16 and first(unpadded).cycles == 11 * 16
    assert unpadded.luts < padded.luts
    priced = [model.estimate(policy, folding, SynthesisSettings(pad_multiple=pad))[1]
              for pad, folding in ((32, [(1, 32), (2, 16), (32, 4)]), (1, [(1, 11), (2, 16), (3, 4)]))]  # fmt: skip
    assert priced[0].luts == priced[1].luts and priced[0].ffs == priced[1].ffs
    assert priced[0].latency_cycles == priced[1].latency_cycles


def test_a_design_over_the_device_does_not_fit_and_says_which_resource(policy_onnx):
    policy = lower_qonnx(policy_onnx(obs_dim=17, act_dim=6, width=256, core_bits=8, input_bits=8, output_bits=8))
    report = Synthesizer(policy, FINN).at_target(1e2)
    assert not report.fits and report.over and report.over[0].startswith("LUT")
    bigger = Synthesizer(policy, dataclasses.replace(FINN, device="xc7z020-clg400-1")).at_target(1e2)
    assert bigger.device == "xc7z020clg400-1" and bigger.luts == report.luts


@pytest.mark.parametrize("knob", ["core_bits", "input_bits", "output_bits"])
def test_more_activation_bits_never_cost_less(policy_onnx, knob):
    base = dict(obs_dim=11, act_dim=3, width=32, core_bits=3, input_bits=4, output_bits=4)
    previous = None
    for bits in range(2, 9):
        policy = lower_qonnx(policy_onnx(**{**base, knob: bits}))
        lutram = Synthesizer(policy, dataclasses.replace(FINN, weight_memory="distributed"))
        folding = {name: {"PE": 2, "SIMD": 2} for name in lutram.layer_shapes()}
        report = lutram.with_folding(folding)
        cheaper = Synthesizer(policy, FINN).with_folding(folding)
        share = cheaper.luts / 10_400 + cheaper.bram36 / 25
        if previous is not None:
            assert report.luts >= previous[0], f"{knob}={bits}"
            assert share >= previous[1] - 1e-12, f"{knob}={bits}"
        previous = (report.luts, share)


def test_thresholds_are_counted(small_finn):
    report = small_finn.at_target(1e5)
    counted = sum(layer.luts for layer in report.layers if layer.pe is not None and layer.rows == 32)
    # the output layer holds 32 x 255 thresholds (8-bit output): far above an MVAU's base cost
    assert counted > 3000


def test_explicit_folding_round_trips(small, tmp_path):
    chosen = small.sweep()[1]
    path = tmp_path / "folding.json"
    path.write_text(json.dumps(chosen.folding()))
    again = small.with_folding(read_folding(path))
    assert again.target_fps is None
    assert again.folding() == chosen.folding()
    for field in ("luts", "bram36", "dsps", "latency_cycles", "throughput_fps", "power_w"):
        assert getattr(again, field) == getattr(chosen, field), field


def test_bad_foldings_and_targets_are_refused_in_one_line(small):
    names = list(small.layer_shapes())
    good = {name: {"PE": 1, "SIMD": 1} for name in names}
    cases = [
        ({k: v for k, v in good.items() if k != names[1]}, f"lacks layer.*{names[1]}"),
        ({**good, names[0]: {"PE": 3, "SIMD": 1}}, r"PE 3 does not divide its 16 rows \(allowed: 1, 2, 4, 8, 16\)"),
        ({**good, names[0]: {"PE": 1, "SIMD": 5}}, "SIMD 5 does not divide its 32 columns"),
        ({**good, "MVAU_hls_9": {"PE": 1, "SIMD": 1}}, "unknown layer.*MVAU_hls_9"),
        ({**good, names[0]: {"PE": 1}}, "must be an object with PE and SIMD"),
        ({**good, names[0]: {"PE": 1, "SIMD": 1, "speed": 2}}, "unknown key.*speed"),
    ]
    for folding, message in cases:
        with pytest.raises(SynthesisInputError, match=message):
            small.with_folding(folding)
    for target in (0, -1e3, float("nan")):
        with pytest.raises(SynthesisInputError, match="target throughput"):
            small.at_target(target)
    with pytest.raises(SynthesisInputError, match="unknown device 'xc7a999t'; known devices: xc7a15tfgg484-1"):
        SynthesisSettings(device="xc7a999t")
    with pytest.raises(SynthesisInputError, match="weight memory 'ultra'"):
        SynthesisSettings(weight_memory="ultra")
    for name, allowed in (("estimator", "model, finn"), ("calibration", "vivado, yosys"), ("multipliers", "auto, dsp, lut")):
        with pytest.raises(SynthesisInputError, match=f"{name} 'other' is unknown; use one of {allowed}"):
            SynthesisSettings(**{name: "other"})


def test_read_folding_refuses_missing_and_malformed_files(tmp_path):
    with pytest.raises(SynthesisInputError, match="cannot be read"):
        read_folding(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{PE: 1")
    with pytest.raises(SynthesisInputError, match="is not JSON"):
        read_folding(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(SynthesisInputError, match="JSON object"):
        read_folding(tmp_path / "list.json")


def test_finn_failure_is_a_failure_of_that_design_with_finns_message(policy_onnx):
    """A graph FINN itself rejects surfaces as FinnFailure carrying FINN's words, not a crash."""
    model = finn_model(lower_qonnx(policy_onnx()), 32)
    getCustomOp(model.get_nodes_by_op_type("MultiThreshold")[0]).set_nodeattr("out_scale", 2.0)
    with pytest.raises(FinnFailure, match="FINN failed to convert the network to hardware layers: .*out_scale=1"):
        finn_adapter.to_hardware_layers(model, "xc7a15tfgg484-1")


def test_estimates_are_cached_by_policy_folding_and_device(policy_onnx, tmp_path, monkeypatch):
    policy = lower_qonnx(policy_onnx())
    first = Synthesizer(policy, cache_dir=tmp_path).at_target(1e4)
    assert len(list(tmp_path.glob("*.json"))) == 1

    def no_finn(*args, **kwargs):
        raise AssertionError("FINN ran although the estimate is cached")

    monkeypatch.setattr(finn_adapter, "fold_to_target", no_finn)
    again = Synthesizer(policy, cache_dir=tmp_path).at_target(1e4)
    assert again == first
    with pytest.raises(AssertionError, match="cached"):
        Synthesizer(policy, SynthesisSettings(device="xc7a35tcpg236-1"), cache_dir=tmp_path).at_target(1e4)


def _other_coefficients():
    return dataclasses.replace(model.HardwareModel.load(), digest="another fit")


@pytest.mark.parametrize(
    ("module", "name", "value"),
    [
        ("synthesis.devices", "HARDWARE_MODEL_VERSION", 999),
        ("synthesis.devices", "power_coefficients", lambda: {"logic": 1e-7}),
        ("synthesis.model", "hardware_model", _other_coefficients),
    ],
)
def test_a_cached_estimate_is_not_reused_by_another_hardware_model(policy_onnx, tmp_path, monkeypatch, module, name, value):
    """The model's own choices (its version, its coefficients file, the power coefficients) are part of the cache key."""
    import importlib

    policy = lower_qonnx(policy_onnx())
    Synthesizer(policy, cache_dir=tmp_path).at_target(1e4)
    monkeypatch.setattr(importlib.import_module(module), name, value)

    def no_finn(*args, **kwargs):
        raise AssertionError("FINN ran although the estimate is cached")

    monkeypatch.setattr(finn_adapter, "fold_to_target", no_finn)
    with pytest.raises(AssertionError, match="cached"):
        Synthesizer(policy, cache_dir=tmp_path).at_target(1e4)
