"""An RTSP camera for tests: a video file served as H.264 over RTSP, run by the system Python.

Run by `/usr/bin/python3` (not the project's venv), which has GStreamer's RTSP server through
introspection (Debian: python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-rtsp, and the
plugins that decode the file and encode H.264: -plugins-good, -plugins-ugly for x264enc,
gstreamer1.0-libav). `tests.services.rtsp_server.RtspServer` starts and stops it.

    python3 rtsp_serve.py PORT VIDEO [USER PASSWORD]

serves VIDEO at rtsp://127.0.0.1:PORT/live (over RTP/UDP or interleaved TCP, as the client
asks), in real time, from its start, to every client that connects (one shared pipeline, like a
camera); with USER and PASSWORD, only to clients that give them (basic authentication). Prints
"ready PORT" once it listens. At the end of the file the stream ends (EOS): vtest.avi lasts 79 s,
longer than any test that uses it.
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402  (after require_version)

# A keyframe every 10 frames (1 s of vtest.avi) and SPS/PPS with each one, so that a client
# joining or rejoining mid-stream decodes within a second.
_PIPELINE = (
    "( filesrc location={path} ! decodebin ! videoconvert ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! "
    "rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


def _require_credentials(
    server: GstRtspServer.RTSPServer,
    factory: GstRtspServer.RTSPMediaFactory,
    user: str,
    password: str,
) -> None:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "viewer")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("viewer", "media.factory.access", True)
    permissions.add_permission_for_role("viewer", "media.factory.construct", True)
    factory.set_permissions(permissions)


def main(argv: list[str]) -> None:
    """Serve until killed."""
    if len(argv) not in (2, 4):
        raise SystemExit("usage: rtsp_serve.py PORT VIDEO [USER PASSWORD]")
    port, path = argv[0], argv[1]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(_PIPELINE.format(path=path))
    factory.set_shared(True)
    if len(argv) == 4:
        _require_credentials(server, factory, argv[2], argv[3])
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(sys.argv[1:])
