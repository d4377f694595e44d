"""A gRPC client that never reads: raw HTTP/2 (h2) with a zero stream window and no WINDOW_UPDATE.

It sends a `RouteStream` (or any unary-request) call and then holds the connection open without
letting the server send a single DATA byte, the way a stuck or hostile client would. Used by the
slow-client tests and `bench.faults`.
"""

from __future__ import annotations

import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

from router.v1 import router_pb2 as pb


def _connect(target: str) -> socket.socket:
    if target.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(target[5:])
    else:
        host, _, port = target.rpartition(":")
        sock = socket.create_connection((host.strip("[]"), int(port)))
    return sock


class NonReader:
    """One connection with `streams` calls of `method` that are never read. `close()` drops it."""

    def __init__(
        self,
        target: str,
        request: pb.RouteRequest,
        *,
        streams: int = 1,
        method: str = "RouteStream",
        window: int = 0,
    ) -> None:
        """`window`: the stream window the client announces (bytes the server may send per stream)."""
        self.sock = _connect(target)
        self.sock.settimeout(5)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}
        )
        self.conn.initiate_connection()
        payload = request.SerializeToString()
        body = struct.pack(">BI", 0, len(payload)) + payload
        self.stream_ids: list[int] = []
        for _ in range(streams):
            sid = self.conn.get_next_available_stream_id()
            self.conn.send_headers(
                sid,
                [
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", f"/router.v1.Router/{method}"),
                    (":authority", "localhost"),
                    ("content-type", "application/grpc"),
                    ("te", "trailers"),
                ],
            )
            self.conn.send_data(sid, body, end_stream=True)
            self.stream_ids.append(sid)
        self.sock.sendall(self.conn.data_to_send())
        self.ended: dict[int, str] = {}  # stream id -> grpc-status, "reset:CODE" or "goaway"
        self._settle()

    def _settle(self, for_s: float = 0.3) -> None:
        """Read what the server sends for a moment (its SETTINGS, which must be acknowledged),
        acknowledging no DATA: the stream windows stay at zero."""
        end = time.monotonic() + for_s
        self.sock.settimeout(0.05)
        while time.monotonic() < end:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                continue
            if not data:
                break
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.TrailersReceived | h2.events.ResponseReceived):
                    status = dict(event.headers).get("grpc-status")
                    if status is not None:
                        self.ended[event.stream_id] = status
                elif isinstance(event, h2.events.StreamReset):
                    self.ended[event.stream_id] = f"reset:{event.error_code}"
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.ended.update({sid: "goaway" for sid in self.stream_ids if sid not in self.ended})
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)

    def poll(self, for_s: float = 0.3) -> dict[int, str]:
        """Process frames for `for_s` seconds (still reading no DATA); the streams ended so far."""
        self._settle(for_s)
        return dict(self.ended)

    def close(self) -> None:
        self.sock.close()
