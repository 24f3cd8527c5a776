"""Pond processes listen on ports that outgoing connections can never be handed meanwhile."""

from __future__ import annotations

import socket

from local_pond.processes import _ephemeral_low, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_bindable() -> None:
    for _ in range(20):
        port = free_port()
        assert 1024 <= port < _ephemeral_low()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_is_never_handed_out() -> None:
    taken = []
    try:
        for _ in range(30):
            sock = socket.socket()
            sock.bind(("127.0.0.1", free_port()))
            sock.listen()
            taken.append(sock)
        ports = {s.getsockname()[1] for s in taken}
        assert len(ports) == len(taken)
    finally:
        for sock in taken:
            sock.close()
