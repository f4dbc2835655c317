"""Output parity measures: source model against its ONNX file, output by output."""

from __future__ import annotations

import numpy as np
import pytest

from export.parity import ParityReport, Tolerance, compare, row_cosines

TOLERANCE = Tolerance(max_abs=1e-3, min_cosine=0.999)


def test_row_cosines_compare_each_sample_flattened() -> None:
    a = np.asarray([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]], [[0.0, 0.0]]])
    b = np.asarray([[[2.0, 0.0]], [[1.0, -1.0]], [[0.0, 0.0]], [[1.0, 0.0]]])

    np.testing.assert_allclose(row_cosines(a, b), [1.0, 0.0, 1.0, 0.0])


def test_identical_outputs_pass_and_a_single_wrong_value_fails_on_max_abs() -> None:
    rng = np.random.default_rng(0)
    reference = {"scores": rng.normal(size=(4, 100)).astype(np.float32)}
    wrong = reference["scores"].copy()
    wrong[2, 7] += 0.01  # one value: the cosine barely moves, max abs catches it

    (same,) = compare(reference, {"scores": reference["scores"].copy()}, TOLERANCE)
    (off,) = compare(reference, {"scores": wrong}, TOLERANCE)

    assert same.passed and same.max_abs == 0.0 and same.min_cosine == pytest.approx(1.0)
    assert not off.passed and off.max_abs == pytest.approx(0.01, rel=1e-3)
    assert off.min_cosine > TOLERANCE.min_cosine


def test_a_small_drift_on_every_value_fails_on_cosine() -> None:
    reference = {"embedding": np.full((2, 1000), 1e-4, np.float32)}
    drifted = {"embedding": reference["embedding"] * np.linspace(0, 2, 1000, dtype=np.float32)}

    (result,) = compare(reference, drifted, TOLERANCE)

    assert result.max_abs < TOLERANCE.max_abs and result.min_cosine < 0.9
    assert not result.passed


def test_a_missing_output_or_another_shape_is_an_error_not_a_tolerance() -> None:
    reference = {"a": np.zeros((2, 3), np.float32)}

    with pytest.raises(ValueError, match="no output 'a'"):
        compare(reference, {"b": np.zeros((2, 3))}, TOLERANCE)
    with pytest.raises(ValueError, match=r"shape \(2, 4\)"):
        compare(reference, {"a": np.zeros((2, 4))}, TOLERANCE)


def test_nan_never_passes() -> None:
    (result,) = compare({"a": np.ones((1, 3))}, {"a": np.full((1, 3), np.nan)}, TOLERANCE)

    assert not result.passed


def test_the_report_passes_only_when_every_output_does() -> None:
    outputs = compare(
        {"a": np.ones((2, 3)), "b": np.ones((2, 3))},
        {"a": np.ones((2, 3)), "b": np.ones((2, 3)) * 2},
        TOLERANCE,
    )
    report = ParityReport(
        reference="torch", candidate="ort", inputs="2 frames", samples=2, tolerance=TOLERANCE,
        outputs=outputs,
    )  # fmt: skip

    assert not report.passed
    assert "a [2, 3]: max abs diff 0" in report.summary()
    assert report.summary().splitlines()[1].endswith("FAILED")
    assert ParityReport.model_validate_json(report.model_dump_json()) == report
