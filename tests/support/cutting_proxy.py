"""A TCP proxy that breaks connections on purpose, for resumable-upload tests.

    with CuttingProxy("127.0.0.1", port) as proxy:
        proxy.cut_after(2_500_000)    # the connection carrying byte 2,500,000 is dropped
        proxy.stall_after(3_000_000)  # ... or goes silent (a dead network), until closed

Bytes are counted client → server across all connections. After a cut or a stall the
proxy forwards normally again for new connections. Plain threads and sockets, so it
serves synchronous clients (tuspy, a subprocess) and asyncio ones alike.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

BUFFER = 64 * 1024


class CuttingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._forwarded = 0
        self._limit: int | None = None
        self._mode = "cut"
        self._sockets: set[socket.socket] = set()
        self._closed = threading.Event()
        self.broken = threading.Event()
        """Set once a connection was cut or stalled."""
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def forwarded(self) -> int:
        return self._forwarded

    def cut_after(self, count: int) -> None:
        with self._lock:
            self._limit, self._mode = self._forwarded + count, "cut"
            self.broken.clear()

    def stall_after(self, count: int) -> None:
        with self._lock:
            self._limit, self._mode = self._forwarded + count, "stall"
            self.broken.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            threading.Thread(target=self._upload, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._download, args=(upstream, client), daemon=True).start()

    def _budget(self, size: int) -> tuple[int, str | None]:
        """How many of `size` bytes may pass, and what to do after (None: carry on)."""
        with self._lock:
            if self._limit is None or self._forwarded + size <= self._limit:
                self._forwarded += size
                return size, None
            allowed = max(0, self._limit - self._forwarded)
            self._forwarded += allowed
            mode, self._limit = self._mode, None
            self.broken.set()
            return allowed, mode

    def _upload(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(BUFFER):
                allowed, then = self._budget(len(data))
                upstream.sendall(data[:allowed])
                if then == "cut":
                    break
                if then == "stall":
                    while client.recv(BUFFER):  # swallow until the client gives up
                        pass
                    break
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    def _download(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(BUFFER):
                client.sendall(data)
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    def _close(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._sockets.discard(sock)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        self._close(*sockets)

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
