"""Constant-velocity Kalman filter over boxes, as used by SORT, DeepSORT and ByteTrack.

State (8): centre x, centre y, aspect ratio w/h, height, and their velocities per frame.
Measurement (4): centre x, centre y, aspect ratio, height. Process and measurement noise scale with
the box height, so a large near-camera person may move more pixels per frame than a small far one.
The constants are ByteTrack's (`yolox/tracker/kalman_filter.py`, from DeepSORT).

Why not filterpy: its generic `KalmanFilter` would still need these height-scaled noise matrices
supplied on every call, so only the six lines of textbook predict/update would come from the
library, while it declares matplotlib as a dependency (about 75 MB of plotting stack on the edge
image) and ships no type information.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_NDIM = 4
# Transition: position += velocity (one frame per step); measurement picks the position half.
_MOTION = np.eye(2 * _NDIM) + np.eye(2 * _NDIM, k=_NDIM)
_OBSERVATION = np.eye(_NDIM, 2 * _NDIM)
# Relative to box height; the aspect ratio gets small absolute noise instead because it is unitless.
_STD_POSITION = 1.0 / 20
_STD_VELOCITY = 1.0 / 160


@dataclass(slots=True)
class KalmanState:
    """Mean (8,) and covariance (8, 8) of one track's motion state."""

    mean: FloatArray
    covariance: FloatArray


def xyxy_to_xyah(box: FloatArray) -> FloatArray:
    """(x1, y1, x2, y2) -> (centre x, centre y, w/h, h)."""
    width = box[2] - box[0]
    height = max(float(box[3] - box[1]), 1e-6)
    return np.array([box[0] + width / 2, box[1] + height / 2, width / height, height])


def xyah_to_xyxy(xyah: FloatArray) -> FloatArray:
    """(centre x, centre y, w/h, h) -> (x1, y1, x2, y2)."""
    width = xyah[2] * xyah[3]
    height = xyah[3]
    return np.array(
        [xyah[0] - width / 2, xyah[1] - height / 2, xyah[0] + width / 2, xyah[1] + height / 2]
    )


def initiate(measurement: FloatArray) -> KalmanState:
    """Start a track at an (x, y, a, h) measurement with zero velocity and wide uncertainty."""
    height = measurement[3]
    std = np.array(
        [
            2 * _STD_POSITION * height,
            2 * _STD_POSITION * height,
            1e-2,
            2 * _STD_POSITION * height,
            10 * _STD_VELOCITY * height,
            10 * _STD_VELOCITY * height,
            1e-5,
            10 * _STD_VELOCITY * height,
        ]
    )
    mean = np.concatenate([measurement, np.zeros(_NDIM)])
    return KalmanState(mean=mean, covariance=np.diag(np.square(std)))


def predict(state: KalmanState) -> KalmanState:
    """Advance one frame."""
    height = state.mean[3]
    std = np.array(
        [
            _STD_POSITION * height,
            _STD_POSITION * height,
            1e-2,
            _STD_POSITION * height,
            _STD_VELOCITY * height,
            _STD_VELOCITY * height,
            1e-5,
            _STD_VELOCITY * height,
        ]
    )
    mean = _MOTION @ state.mean
    covariance = _MOTION @ state.covariance @ _MOTION.T + np.diag(np.square(std))
    return KalmanState(mean=mean, covariance=covariance)


def update(state: KalmanState, measurement: FloatArray) -> KalmanState:
    """Correct the state with an (x, y, a, h) measurement."""
    height = state.mean[3]
    std = np.array([_STD_POSITION * height, _STD_POSITION * height, 1e-1, _STD_POSITION * height])
    projected_mean = _OBSERVATION @ state.mean
    innovation_cov = _OBSERVATION @ state.covariance @ _OBSERVATION.T + np.diag(np.square(std))
    # K = P H^T S^-1, computed as a solve because S is symmetric positive definite.
    cross = state.covariance @ _OBSERVATION.T
    gain: FloatArray = np.linalg.solve(innovation_cov, cross.T).T
    mean = state.mean + gain @ (measurement - projected_mean)
    covariance = state.covariance - gain @ innovation_cov @ gain.T
    return KalmanState(mean=mean, covariance=covariance)
