"""What the syscall tests make a traced host do (and how tests/data/syscalls-*.txt were
recorded): each part runs in its own process whose comm says what it is.

- ws-testsrv: a server that listens on 127.0.0.1, accepts one connection and then
  executes /bin/sh -c 'id' (a shell spawned by a server process);
- ws-burst: CONNECTS connect() calls to closed ports of 127.0.0.1 in well under a
  second (a connect burst);
- ws-writer: WRITES files created in a temporary folder in well under a second (a
  file-write burst).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

CONNECTS, WRITES = 1000, 2000

SERVER = r"""
import socket, subprocess, sys
open('/proc/self/comm', 'w').write('ws-testsrv')
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.recv(16)
subprocess.run(['/bin/sh', '-c', 'id > /dev/null'])
c.close()
"""

BURST = r"""
import socket, sys
open('/proc/self/comm', 'w').write('ws-burst')
for port in range(40000, 40000 + int(sys.argv[1])):
    s = socket.socket(); s.setblocking(False)
    try: s.connect(('127.0.0.1', port))
    except OSError: pass
    s.close()
"""

WRITER = r"""
import os, sys
open('/proc/self/comm', 'w').write('ws-writer')
for i in range(int(sys.argv[2])):
    with open(os.path.join(sys.argv[1], f'f{i}'), 'w') as f:
        f.write('x')
"""


def shell_from_server() -> None:
    """ws-testsrv accepts a connection and runs a shell."""
    srv = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    port = int(srv.stdout.readline())
    time.sleep(1.2)      # the listen() and the shell in different seconds
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.sendall(b"go")
    srv.wait(30)


def connect_burst(n: int = CONNECTS) -> None:
    subprocess.run([sys.executable, "-c", BURST, str(n)], check=True, timeout=60)


def write_burst(n: int = WRITES) -> None:
    with tempfile.TemporaryDirectory(prefix="ws-writes-") as folder:
        subprocess.run([sys.executable, "-c", WRITER, folder, str(n)], check=True,
                       timeout=60)


def everything(pause_s: float = 1.0) -> None:
    """The three, a pause between them."""
    for part in (shell_from_server, connect_burst, write_burst):
        part()
        time.sleep(pause_s)


if __name__ == "__main__":
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
    everything()
    os.sync()
