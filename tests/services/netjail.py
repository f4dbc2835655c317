"""Run one command in a private network namespace; relay chosen 127.0.0.1 ports to it.

    python3 tests/services/netjail.py --port 8080 --port 50051 -- weaviate-server ...

Why: weaviate-server v1.39.0 listens on every interface for its gRPC API, its cluster data API
and its internal gRPC server (`net.Listen("tcp", ":<port>")` in adapters/handlers/grpc/server.go,
adapters/handlers/rest/clusterapi/{serve.go,grpc/server.go}); no setting narrows them. In a new
network namespace the only interface is loopback, so nothing it opens is reachable from outside
(and it cannot reach out either). This process opens its listening sockets on the host's
127.0.0.1 *before* leaving the host namespace, so they stay there, and relays each connection to
the same port on the namespace's loopback.

The command runs as this process's child; SIGTERM and SIGINT are passed on to it, and this
process exits with the child's status. Needs root, or unprivileged user namespaces.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCSIFFLAGS = 0x8914
IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x1, 0x8, 0x40
LOOPBACK = "127.0.0.1"


PR_SET_PDEATHSIG = 1
LIBC = ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> int:
    return 0 if LIBC.unshare(flags) == 0 else ctypes.get_errno()


def _die_with_parent() -> None:
    # If this relay is SIGKILLed, the jailed server must not outlive it unobserved.
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def enter_private_network() -> None:
    """Move this (still single-threaded) process into a new network namespace with lo up."""
    if _unshare(CLONE_NEWNET) != 0:
        # Not root: a user namespace grants the capability over a network namespace it owns.
        uid, gid = os.getuid(), os.getgid()
        errno = _unshare(CLONE_NEWUSER | CLONE_NEWNET)
        if errno != 0:
            raise OSError(errno, f"unshare: {os.strerror(errno)}")
        # user_namespaces(7): setgroups must be denied before an unprivileged gid_map write.
        Path("/proc/self/setgroups").write_text("deny", encoding="ascii")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1", encoding="ascii")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1", encoding="ascii")
    # A new namespace's loopback starts down (netdevice(7), SIOCSIFFLAGS on struct ifreq).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH22x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING)
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, ifreq)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    # Pass the half-close on, so request/response protocols see end-of-stream.
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _relay(client: socket.socket, port: int) -> None:
    with client:
        try:
            # Created after the unshare, so this socket lives in the private namespace.
            upstream = socket.create_connection((LOOPBACK, port))
        except OSError:
            return  # Not listening yet: the client sees a closed connection and retries.
        with upstream:
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join()


def _accept_forever(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_relay, args=(client, port), daemon=True).start()


def main(argv: list[str]) -> int:
    """Listen, leave the host network, start the command, relay until it exits."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, action="append", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    listeners = [socket.create_server((LOOPBACK, port)) for port in args.port]
    enter_private_network()
    # preexec_fn is safe here: no other thread exists yet.
    child = subprocess.Popen(command, preexec_fn=_die_with_parent)

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    for listener in listeners:
        threading.Thread(target=_accept_forever, args=(listener,), daemon=True).start()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
