"""The transcript writer's bound on what waits for it (printscp/bench/recorder.py `_Writer`): the data sets
of work given and not done stay in the server's memory, so whoever gives more waits once MAX_WAITING_BYTES
of them are waiting."""

from __future__ import annotations

import threading
from io import BytesIO

from waiting import wait_until

from printscp.bench.recorder import _size, _Writer

MIB = 1 << 20


def test_a_data_set_waits_while_the_bytes_given_and_not_done_would_pass_the_bound() -> None:
    writer = _Writer()
    release = threading.Event()
    done: list[str] = []
    try:
        writer.submit(lambda: (release.wait(30), done.append("first")), 8 * MIB)  # being worked on, held
        writer.submit(lambda: done.append("second"), 8 * MIB)  # 16 MiB given and not done: at the bound
        writer.submit(lambda: done.append("small"), 0)  # a message without a data set still goes in
        third = threading.Thread(target=writer.submit, args=(lambda: done.append("third"), 1))
        third.start()
        wait_until(lambda: writer.blocked == 1, 10, "the third data set waiting for room")
        assert writer.waiting_bytes == 16 * MIB and third.is_alive()
        release.set()  # the first is done: its 8 MiB leave, the third goes in
        third.join(10)
        assert not third.is_alive()
        wait_until(lambda: len(done) == 4, 10, "all work done")
        assert done == ["first", "second", "small", "third"]  # in the order given
        assert (writer.waiting_bytes, writer.blocked) == (0, 0)
    finally:
        release.set()
        writer.stop()


def test_a_data_set_larger_than_the_bound_goes_alone() -> None:
    writer = _Writer()
    done = threading.Event()
    try:
        writer.submit(done.set, 3 * _Writer.MAX_WAITING_BYTES)
        assert done.wait(10)
        wait_until(lambda: writer.waiting_bytes == 0, 10, "its bytes counted out")
    finally:
        writer.stop()


def test_the_size_of_a_data_set_is_its_encoded_bytes() -> None:
    data = bytes(3 * MIB + 5)
    stream = BytesIO(data)
    assert (_size(stream), _size(None)) == (len(data), 0)
    assert stream.getvalue() is data  # the size was read without a copy taking the buffer from the stream
