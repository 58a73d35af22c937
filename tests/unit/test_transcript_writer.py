"""The transcript writer's bound on what waits for it (printscp/bench/recorder.py `_Writer`): the data sets
of work given and not done stay in the server's memory, so whoever gives more waits once MAX_WAITING_BYTES
of them are waiting."""

from __future__ import annotations

import threading
from io import BytesIO, StringIO

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


class CountingFile(StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.flushed = ""  # what a reader of the file would see

    def flush(self) -> None:
        self.flushes += 1
        self.flushed = self.getvalue()


def test_lines_are_flushed_once_the_writer_is_idle() -> None:
    """A burst of lines costs one flush (one write() to the file) per file, and the lines are in the file
    as soon as the writer has nothing more to do."""
    writer = _Writer()
    release = threading.Event()
    files = [CountingFile(), CountingFile()]

    def line(file: CountingFile, text: str) -> None:
        file.write(text + "\n")
        writer.unflushed.add(file)

    try:
        writer.submit(lambda: (release.wait(30), line(files[0], "first")))
        for n in range(5):  # given while the first is worked on: waiting, as in a burst
            writer.submit(lambda n=n: line(files[n % 2], f"line {n}"))  # type: ignore[misc]
        assert files[0].flushed == ""
        release.set()
        wait_until(lambda: "line 4" in files[0].flushed and "line 3" in files[1].flushed, 10, "the lines flushed")
        assert [file.flushes for file in files] == [1, 1]
        assert files[0].flushed == "first\nline 0\nline 2\nline 4\n" and files[1].flushed == "line 1\nline 3\n"
        writer.submit(lambda: line(files[1], "later"))
        wait_until(lambda: files[1].flushed.endswith("later\n"), 10, "a line alone flushed at once")
        files[0].close()
        writer.submit(lambda: writer.unflushed.add(files[0]))  # a file closed (flushed) by then is skipped
        wait_until(lambda: not writer.unflushed, 10, "the writer idle")
    finally:
        release.set()
        writer.stop()
