"""What `-r PATH` names: a capture file, standard input ("-"), or a remote interface.

    source = open_input("ssh://root@sensor/eth1", cfg)   # or "capture.pcap", or "-"
    summary = Engine(cfg, "logs").run_source(source)

Engine.run(path) and the command line's -r both open their input here, so a URL works
wherever a path does.
"""
from __future__ import annotations

from wirescore.capture import open_source
from wirescore.remote import is_remote, open_remote


def open_input(path: str, cfg):
    """The packet source for path with the capture.* settings of cfg (a Config):
    wirescore.remote.RemoteSource for ssh://..., else capture.FileSource. Raises a
    one-line WirescoreError when it cannot be opened."""
    if is_remote(path):
        return open_remote(path, cfg)
    return open_source(path, bpf=cfg["capture.bpf"], batch_size=cfg["capture.batch_size"],
                       timeout_ms=cfg["capture.timeout_ms"])
