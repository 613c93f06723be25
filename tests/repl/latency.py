#!/usr/bin/env python3
"""Time from pressing Enter on a one-line definition to its first result,
through a real terminal: `wasabi repl` runs on a pty; each round types a
definition and a call to it (both lines at once, as fast as a paste) and
measures until the result appears. Prints the median and the spread.

    python3 tests/repl/latency.py [path/to/wasabi] [rounds]
"""
import os, pty, select, statistics, sys, time

wasabi = sys.argv[1] if len(sys.argv) > 1 else "target/release/wasabi"
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 50

env = dict(os.environ, WASABI_REPL_HISTORY="/dev/null", TERM="dumb")
pid, fd = pty.fork()
if pid == 0:
    os.execve(wasabi, [wasabi, "repl"], env)

buf = b""
def wait_for(token, timeout=60):
    global buf
    deadline = time.monotonic() + timeout
    while token not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            sys.exit(f"timed out waiting for {token!r}; got {buf[-500:]!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            buf += os.read(fd, 65536)
    buf = buf[buf.index(token) + len(token):]

wait_for(b"wasabi> ")
times = []
for i in range(rounds):
    k = 1000 + i
    line = f'(func $f{i} (export "f{i}") (param i32) (result i32) local.get 0 i32.const {k} i32.add)\r'
    call = f"f{i}(1)\r"
    t0 = time.monotonic()
    os.write(fd, (line + call).encode())
    wait_for(f"{k + 1} : i32".encode())
    times.append(time.monotonic() - t0)
    wait_for(b"wasabi> ")
os.write(fd, b"\x04")
os.waitpid(pid, 0)
times.sort()
ms = [t * 1e3 for t in times]
print(f"{rounds} rounds: median {statistics.median(ms):.1f} ms, "
      f"min {ms[0]:.1f} ms, 90th percentile {ms[int(len(ms) * 0.9)]:.1f} ms, max {ms[-1]:.1f} ms")
