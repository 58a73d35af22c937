"""Console events from the server's threads to each open `/api/events` stream (Server-Sent Events).

`publish` may be called from any thread (the print dispatcher, an association, the admin channel): it hands
the encoded event to every subscriber's asyncio queue through its event loop. A subscriber that stops
reading (a client gone quiet) has a bounded queue; when it is full the stream is ended, and the browser's
EventSource reconnects and reloads what it missed.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

QUEUE_SIZE = 1000
CLOSED = ""  # put in a subscriber's queue to end its stream


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[asyncio.Queue[str], asyncio.AbstractEventLoop] = {}

    def subscribe(self) -> asyncio.Queue[str]:
        """A queue of encoded events for one stream; call in the stream's event loop."""
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            self._subscribers[queue] = asyncio.get_running_loop()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        with self._lock:
            self._subscribers.pop(queue, None)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, kind: str, data: Any) -> None:
        """Send `data` (JSON-able) as an event named `kind` to every stream."""
        message = f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        with self._lock:
            subscribers = list(self._subscribers.items())
        for queue, loop in subscribers:
            try:
                loop.call_soon_threadsafe(self._put, queue, message)
            except RuntimeError:  # that loop is closed: the web server stopped
                self.unsubscribe(queue)

    def close(self) -> None:
        """End every stream (the web server is stopping)."""
        with self._lock:
            subscribers = list(self._subscribers.items())
        for queue, loop in subscribers:
            try:
                loop.call_soon_threadsafe(self._put, queue, CLOSED)
            except RuntimeError:
                pass

    def _put(self, queue: asyncio.Queue[str], message: str) -> None:
        """In the stream's loop: queue the event, or end a stream too slow to keep up (it reconnects)."""
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            self.unsubscribe(queue)
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(CLOSED)
