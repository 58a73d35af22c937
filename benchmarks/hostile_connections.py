"""The attacks of issue 11 items 1 to 3 against a real `printscp serve` with the default config; prints figures.

    .venv/bin/python benchmarks/hostile_connections.py

1. Two connections associate, then each announces a 1 GiB P-DATA-TF and sends at full speed: the server's RSS
   growth (peak, VmHWM) and how long after the header each was aborted.
2. 40 idle TCP connections and 40 holding half an A-ASSOCIATE-RQ from 127.0.0.2, and 250 half-requests from
   many source ports of 127.0.0.3, while a legitimate client on 127.0.0.1 sends a C-ECHO every 2 s: the
   C-ECHO success rate, and when each attack connection was closed (against 2 x artim_timeout).
3. One association trickles a P-DATA-TF one byte every 5 s: when it is aborted (against pdu_timeout + 5 s).

Linux routes all of 127/8 to lo, so the attackers can use other source addresses than the client.
"""

from __future__ import annotations

import re
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pynetdicom import AE

REPO = Path(__file__).resolve().parent.parent
VERIFICATION = "1.2.840.10008.1.1"
ARTIM, PDU_TIMEOUT = 10.0, 30.0  # the defaults of [network]


def associate_rq(calling: str = "HOSTILE") -> bytes:
    def item(kind: int, value: bytes) -> bytes:
        return struct.pack(">BBH", kind, 0, len(value)) + value

    context = item(0x30, b"1.2.840.10008.3.1.1.1")
    syntaxes = item(0x30, VERIFICATION.encode()) + item(0x40, b"1.2.840.10008.1.2")
    presentation = item(0x20, bytes([1, 0, 0, 0]) + syntaxes)
    user = item(0x50, item(0x51, struct.pack(">L", 16384)) + item(0x52, b"1.2.3"))
    body = struct.pack(">HH", 1, 0) + b"PRINTSCP".ljust(16) + calling.encode().ljust(16) + bytes(32)
    return (
        struct.pack(">BBL", 0x01, 0, len(body + context + presentation + user)) + body + context + presentation + user
    )


def read_pdu(sock: socket.socket) -> bytes:
    header = sock.recv(6, socket.MSG_WAITALL)
    return header + sock.recv(struct.unpack(">L", header[2:])[0], socket.MSG_WAITALL)


def rss_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1))  # type: ignore[union-attr]


def start_server(folder: Path) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [sys.executable, "-m", "printscp", "serve", "--archive", str(folder), "--port", "0", "--host", "0.0.0.0"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    for line in server.stdout:
        found = re.search(r"listening on [\d.]+:(\d+)", line)
        if found:
            threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()  # type: ignore[union-attr]
            return server, int(found.group(1))
    raise SystemExit("the server did not start")


def connect(port: int, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0))


def huge_pdus(pid: int, port: int) -> None:
    before = rss_kib(pid, "VmRSS")
    latencies: list[float] = []

    def flood() -> None:
        sock = connect(port, "127.0.0.4")
        sock.sendall(associate_rq())
        read_pdu(sock)
        chunk = bytes(1 << 20)
        sent = time.monotonic()
        sock.sendall(struct.pack(">BBL", 0x04, 0, 1 << 30))
        try:
            for _ in range(1024):
                sock.sendall(chunk)
        except OSError:
            pass  # reset by the server
        sock.settimeout(5)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
        latencies.append(time.monotonic() - sent)

    threads = [threading.Thread(target=flood) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = rss_kib(pid, "VmHWM")
    print("1. two 1 GiB PDUs sent at full speed")
    growth = (peak - before) / 1024
    print(f"   server RSS before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB: growth {growth:.1f} MiB")
    aborts = ", ".join(f"{t:.3f} s" for t in latencies)
    print(f"   aborted after the header in {aborts} (limit 1 s)")


def echo_forever(port: int, stop: threading.Event, results: list[bool]) -> None:
    ae = AE(ae_title="GOOD")
    ae.add_requested_context(VERIFICATION)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    while not stop.is_set():
        assoc = ae.associate("127.0.0.1", port, ae_title="PRINTSCP")
        ok = assoc.is_established
        if ok:
            status = assoc.send_c_echo()
            ok = bool(status) and status.Status == 0
            assoc.release()
        results.append(ok)
        stop.wait(2)


def held_connections(port: int) -> None:
    stop, results = threading.Event(), []
    echoes = threading.Thread(target=echo_forever, args=(port, stop, results))
    echoes.start()
    selector = selectors.DefaultSelector()
    opened: dict[socket.socket, tuple[str, float]] = {}
    half = associate_rq()[:40]
    connecting = time.monotonic()
    for kind, count, source in (("idle", 40, "127.0.0.2"), ("half", 40, "127.0.0.2"), ("many", 250, "127.0.0.3")):
        for _ in range(count):
            sock = connect(port, source)
            if kind != "idle":
                try:
                    sock.sendall(half)
                except OSError:
                    pass
            sock.setblocking(False)
            opened[sock] = (kind, time.monotonic())
            selector.register(sock, selectors.EVENT_READ)
    connected = time.monotonic() - connecting
    closed: dict[str, list[float]] = {"idle": [], "half": [], "many": []}
    deadline = time.monotonic() + 2 * ARTIM + 10
    while opened and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj  # type: ignore[assignment]
            try:
                data = sock.recv(65536)  # type: ignore[union-attr]
            except OSError:
                data = b""
            if not data:
                kind, since = opened.pop(sock)  # type: ignore[arg-type]
                closed[kind].append(time.monotonic() - since)
                selector.unregister(sock)
                sock.close()  # type: ignore[union-attr]
    # keep echoing a little after the attack, as the issue measured 30 s after on main
    stop.wait(4)
    stop.set()
    echoes.join()
    print("2. 40 idle + 40 half A-ASSOCIATE-RQ from 127.0.0.2, 250 half requests from 127.0.0.3")
    print(f"   all 330 connected in {connected:.2f} s")
    print(f"   legitimate C-ECHO every 2 s from 127.0.0.1: {sum(results)}/{len(results)} succeeded")
    for kind, times in closed.items():
        if times:
            print(
                f"   {kind}: {len(times)} closed, fastest {min(times):.2f} s, slowest {max(times):.2f} s "
                f"(limit 2 x artim_timeout = {2 * ARTIM:g} s)"
            )
    print(f"   still open after {2 * ARTIM + 10:g} s: {len(opened)}")


def trickled_pdu(port: int) -> None:
    sock = connect(port, "127.0.0.5")
    sock.sendall(associate_rq())
    read_pdu(sock)
    started = time.monotonic()
    sock.sendall(struct.pack(">BBL", 0x04, 0, 1000))
    sock.settimeout(5)
    answer = b""
    while time.monotonic() - started < PDU_TIMEOUT + 30:
        try:
            answer = sock.recv(100)
            break
        except TimeoutError:
            try:
                sock.send(b"\0")  # a byte every 5 s
            except OSError:
                break
        except OSError:
            break
    kind = {0x07: "A-ABORT"}.get(answer[0], f"PDU type {answer[0]}") if answer else "closed"
    print("3. a P-DATA-TF trickled one byte every 5 s")
    print(f"   {kind} after {time.monotonic() - started:.1f} s (limit pdu_timeout + 5 = {PDU_TIMEOUT + 5:g} s)")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        server, port = start_server(Path(folder))
        try:
            huge_pdus(server.pid, port)
            held_connections(port)
            trickled_pdu(port)
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
