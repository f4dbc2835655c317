from __future__ import annotations

import numpy as np

from edge.tracking import kalman


def test_box_formats_round_trip() -> None:
    box = np.array([10.0, 20.0, 50.0, 120.0])
    xyah = kalman.xyxy_to_xyah(box)
    np.testing.assert_allclose(xyah, [30.0, 70.0, 0.4, 100.0])
    np.testing.assert_allclose(kalman.xyah_to_xyxy(xyah), box)


def test_it_learns_a_constant_velocity_and_predicts_ahead() -> None:
    def box_at(frame: int) -> np.ndarray:
        return np.array([100.0 + 6 * frame, 50.0 - 2 * frame, 140.0 + 6 * frame, 150.0 - 2 * frame])

    state = kalman.initiate(kalman.xyxy_to_xyah(box_at(0)))
    for frame in range(1, 20):
        state = kalman.update(kalman.predict(state), kalman.xyxy_to_xyah(box_at(frame)))
    ahead = kalman.predict(kalman.predict(state))
    np.testing.assert_allclose(kalman.xyah_to_xyxy(ahead.mean[:4]), box_at(21), atol=0.5)
    np.testing.assert_allclose(ahead.mean[4:6], [6.0, -2.0], rtol=0.03)


def test_prediction_grows_uncertainty_and_a_measurement_shrinks_it() -> None:
    start = kalman.initiate(np.array([50.0, 50.0, 0.5, 80.0]))
    predicted = kalman.predict(start)
    corrected = kalman.update(predicted, np.array([53.0, 50.0, 0.5, 80.0]))
    assert np.trace(predicted.covariance) > np.trace(start.covariance)
    assert np.trace(corrected.covariance) < np.trace(predicted.covariance)
    # The corrected centre lies between the prediction and the measurement.
    assert 50.0 < corrected.mean[0] < 53.0
    np.testing.assert_allclose(corrected.covariance, corrected.covariance.T, atol=1e-9)
