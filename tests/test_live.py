"""Live capture (wirescore.live, wirescore.workers, wirescore.privileges, wirescore.session)
on a real wire.

The wire is a veth pair between two network namespaces that the tests create and
remove: ws-a in wscap<pid> (where wirescore captures), ws-b in wsgen<pid> (where
tcpreplay sends). Neither end has an address, IPv6 and ARP are off on both, and IP
forwarding is off in both namespaces: replayed frames reach ws-a and nothing else,
and nothing is sent back. The root namespace never sees them.

What is checked:
- one capture handle: for each shipped Ethernet fixture (and a few shared captures
  when ../shared is present), replayed with tcpreplay at a fixed rate, the flows
  captured live carry, per canonical 5-tuple and direction, the same packets and
  bytes as `Engine.run` on the file, with no kernel drop (live timestamps are
  arrival times, so times are not compared; splits of a 5-tuple into several flows
  are summed, as in test_flow_accounting);
- two workers in one PACKET_FANOUT group: every flow reported by exactly one worker,
  totals again equal to the file's (fragmented IPv4 datagrams arrive reassembled by
  the kernel: checked against the reference, fragment by fragment);
- a SIGTERM in the middle of a replay: every line of eve.json parses (and validates
  against Suricata's schema when ../shared has it), every packet captured is in a
  flow, every flow ends with reason shutdown (or its TCP close);
- SIGHUP reopens eve.json; --user drops every process to that user, and the run works
  although the install is unreadable to it;
- the one-line errors: no such interface, interface down, permission denied, a BPF
  that does not compile, a fanout group in use; the libpcap statuses that no test
  machine can produce (Wi-Fi monitor mode, generic activation failure) through a fake
  handle.

Skipped, with the reason, when not root, or without `ip netns` or tcpreplay.
"""
from __future__ import annotations

import ctypes
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "pcaps"
SHARED_DATA = Path(os.environ.get("WIRESCORE_SHARED", REPO.parent / "shared")).resolve() / "data"
SCHEMA = SHARED_DATA / "suricata-eve-schema.json"

#: Ethernet fixtures tcpreplay can send (SLL and the damaged capture cannot be replayed)
FIXTURE_REPLAYS = ["ndpi-synscan.pcap", "nfstream-dns-fragmented.pcap",
                   "zeek-vlan-pcp-dei.pcapng", "zeek-wikipedia.pcap"]
#: a few shared captures of several shapes (SSH brute force, nmap, ICMP tunnel, SMB)
SHARED_REPLAYS = ["labeled/bruteforce/slips-ssh-bruteforce.pcap",
                  "labeled/scans/esnet-nmap_80_all.pcap",
                  "labeled/tunnels-exfil/ndpi-icmp-tunnel.pcap",
                  "labeled/windows-ad-attacks/"
                  "LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl.pcapng"]
PPS = 5000                 # replay rate: far below what one worker drops at
GRACE_S = 0.6              # after the replay: > timeout_ms (ring block retirement)
CAP_IF, GEN_IF = "ws-a", "ws-b"
CLONE_NEWNET = 0x40000000


def _why_not_live() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "live capture tests need root (network namespaces, packet sockets)"
    if shutil.which("ip") is None:
        return "live capture tests need iproute2 (`ip netns`)"
    if shutil.which("tcpreplay") is None:
        return "live capture tests need tcpreplay (apt-get install tcpreplay)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` unavailable: {probe.stderr.strip()}"
    return None


WHY_NOT = _why_not_live()
live = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
root_only = pytest.mark.skipif(not IS_ROOT, reason="changing user ids needs root")


# ---------------------------------------------------------------------- the wire

def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


class Wire:
    """A veth pair ws-a (capture namespace) <-> ws-b (generator namespace)."""

    def __init__(self, tag: str):
        self.cap_ns, self.gen_ns = f"wscap{tag}", f"wsgen{tag}"
        self._libc = ctypes.CDLL(None, use_errno=True)

    def up(self) -> "Wire":
        self.down()
        for ns in (self.cap_ns, self.gen_ns):
            _ip("netns", "add", ns)
            # before any interface exists: no IPv6 autoconfiguration (RS, MLD, DAD)
            _ip("netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.ip_forward=0")
        _ip("link", "add", CAP_IF, "netns", self.cap_ns, "mtu", "65535", "type", "veth",
            "peer", "name", GEN_IF, "netns", self.gen_ns, "mtu", "65535")
        _ip("-n", self.cap_ns, "link", "set", CAP_IF, "arp", "off", "up")
        _ip("-n", self.gen_ns, "link", "set", GEN_IF, "arp", "off", "up")
        for ns, dev in ((self.cap_ns, CAP_IF), (self.gen_ns, GEN_IF)):
            addrs = _ip("-n", ns, "-o", "addr", "show", "dev", dev).stdout.strip()
            assert not addrs, f"{dev} has addresses: {addrs}"
        return self

    def down(self) -> None:
        for ns in (self.cap_ns, self.gen_ns):
            _ip("netns", "del", ns, check=False)      # deleting a namespace removes its veth end

    def add_spare_link(self, up: bool = False) -> None:
        """A second interface ws-d in the capture namespace (a veth whose peer ws-e is
        there too and stays down): down, or up without carrier."""
        _ip("-n", self.cap_ns, "link", "add", "ws-d", "type", "veth", "peer", "name", "ws-e")
        if up:
            _ip("-n", self.cap_ns, "link", "set", "ws-d", "up")

    def del_spare_link(self) -> None:
        _ip("-n", self.cap_ns, "link", "del", "ws-d", check=False)

    def enter_capture_ns(self) -> None:
        """Move the calling thread (only it) into the capture namespace."""
        fd = os.open(f"/run/netns/{self.cap_ns}", os.O_RDONLY)
        try:
            if self._libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns {self.cap_ns}: {os.strerror(err)}")
        finally:
            os.close(fd)

    def in_capture_ns(self, fn, *args, **kwargs):
        """Run fn in a thread inside the capture namespace; return or raise its result."""
        box: dict = {}

        def run():
            try:
                self.enter_capture_ns()
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # re-raised in the caller
                box["error"] = exc

        t = threading.Thread(target=run)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def replay(self, pcap: Path, pps: int | None = PPS, mbps: float | None = None,
               timeout: float = 600) -> dict:
        """tcpreplay the capture out of ws-b; returns its counters (packets sent...)."""
        rate = [f"--mbps={mbps}"] if mbps else [f"--pps={pps}"]
        proc = subprocess.run(["ip", "netns", "exec", self.gen_ns, "tcpreplay", "-q",
                               "-i", GEN_IF, *rate, str(pcap)],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"tcpreplay {pcap.name}: {proc.stderr.strip()[-2000:]}")
        return parse_tcpreplay(proc.stdout)

    def ns_cmd(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.cap_ns, *argv]


def parse_tcpreplay(text: str) -> dict:
    out = {}
    m = re.search(r"Actual: (\d+) packets", text)
    out["sent"] = int(m.group(1)) if m else -1
    m = re.search(r"Failed packets:\s+(\d+)", text)
    out["failed"] = int(m.group(1)) if m else -1
    m = re.search(r"Rated: [\d.]+ Bps, ([\d.]+) Mbps, ([\d.]+) pps", text)
    if m:
        out["mbps"], out["pps"] = float(m.group(1)), float(m.group(2))
    return out


@pytest.fixture
def open_dir():
    """A fresh directory every user can reach (pytest's tmp_path sits under a 0700
    directory, which a dropped user could not traverse)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="wirescore-live-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wire_up(tag: str) -> Wire:
    """A built veth wire with namespaces named by tag; skips the test, with the reason,
    when live capture cannot be tested here or the pair cannot be built."""
    if WHY_NOT:
        pytest.skip(WHY_NOT)
    w = Wire(tag)
    try:
        w.up()
    except RuntimeError as exc:
        w.down()
        pytest.skip(f"cannot build the veth pair in network namespaces: {exc}")
    return w


@pytest.fixture(scope="module")
def wire():
    w = wire_up(str(os.getpid()))
    yield w
    w.down()


# ---------------------------------------------------------------------- flows

def config(**extra):
    from wirescore.config import Config

    return Config.load(overrides={"detect.enabled": False, **extra})


def directional_totals(events) -> Counter:
    """{(vlan, proto, endpoint A, endpoint B, 'A>B'|'B>A', 'pkts'|'bytes'): n} with A < B,
    summed over every flow event of the 5-tuple."""
    out: Counter = Counter()
    for e in events:
        if e.get("event_type", "flow") != "flow":
            continue
        a = (e["src_ip"], e.get("src_port", 0))
        b = (e["dest_ip"], e.get("dest_port", 0))
        lo, hi = sorted((a, b))
        key = (tuple(e.get("vlan", ())), e["proto"], lo, hi)
        f = e["flow"]
        fwd = "A>B" if a == lo else "B>A"
        rev = "B>A" if fwd == "A>B" else "A>B"
        out[key + (fwd, "pkts")] += f["pkts_toserver"]
        out[key + (rev, "pkts")] += f["pkts_toclient"]
        out[key + (fwd, "bytes")] += f["bytes_toserver"]
        out[key + (rev, "bytes")] += f["bytes_toclient"]
    return +out


def flow_key(e) -> tuple:
    a = (e["src_ip"], e.get("src_port", 0))
    b = (e["dest_ip"], e.get("dest_port", 0))
    return (tuple(e.get("vlan", ())), e["proto"], *sorted((a, b)))


def file_run(pcap: Path, tmp: Path):
    """(flow events, summary) of Engine.run on the file."""
    from wirescore.engine import Engine

    events: list = []
    summary = Engine(config(), tmp / f"file-{pcap.stem}",
                     on_flow=lambda records, evs: events.extend(evs)).run(str(pcap))
    return events, summary


def diff(expected: Counter, got: Counter, limit: int = 8) -> str:
    keys = sorted(set(expected) | set(got), key=repr)
    bad = [f"{k}: file {expected.get(k, 0)} live {got.get(k, 0)}" for k in keys
           if expected.get(k, 0) != got.get(k, 0)]
    return f"{len(bad)} differences:\n" + "\n".join(bad[:limit])


class LiveRun:
    """Engine.run_source(LiveSource) in a thread inside the capture namespace."""

    def __init__(self, wire: Wire, logdir: Path, **source_kwargs):
        self.wire, self.logdir, self.kwargs = wire, logdir, source_kwargs
        self.events: list = []
        self.ready = threading.Event()
        self.summary = self.error = self.stats = self.engine = self.source = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from wirescore.engine import Engine
        from wirescore.live import LiveSource

        try:
            self.wire.enter_capture_ns()
            self.source = LiveSource(CAP_IF, **self.kwargs)
            self.engine = Engine(config(), self.logdir,
                                 on_flow=lambda records, evs: self.events.extend(evs))
            self.ready.set()
            self.summary = self.engine.run_source(self.source)
            self.stats = self.source.stats()
        except BaseException as exc:  # reported by stop()
            self.error = exc
            self.ready.set()

    def __enter__(self) -> "LiveRun":
        self.thread.start()
        assert self.ready.wait(30), "live source did not open"
        if self.error:
            raise self.error
        return self

    def stop(self, timeout: float = 30):
        self.engine.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "engine did not stop after engine.stop()"
        if self.error:
            raise self.error

    def __exit__(self, *exc):
        if self.thread.is_alive() and self.engine is not None:
            self.engine.stop()
            self.thread.join(30)


def replay_list() -> list:
    params = [pytest.param(FIXTURES / name, id=f"fixture:{name}") for name in FIXTURE_REPLAYS]
    for rel in SHARED_REPLAYS:
        path = SHARED_DATA / "pcaps" / rel
        params.append(pytest.param(path, id=f"shared:{Path(rel).name}",
                                   marks=pytest.mark.skipif(
                                       not path.is_file(),
                                       reason=f"shared capture {path} not present")))
    return params


# ---------------------------------------------------------------------- one handle

@live
@pytest.mark.live
@pytest.mark.parametrize("pcap", replay_list())
def test_live_flows_equal_file_flows(wire, pcap, tmp_path):
    expected_events, file_summary = file_run(pcap, tmp_path)
    frames = file_summary.counters["decoder.pkts"]
    with LiveRun(wire, tmp_path / "live") as run:
        sent = wire.replay(pcap)
        time.sleep(GRACE_S)
        run.stop()
    assert sent["sent"] == frames and sent["failed"] == 0, sent
    assert run.stats["kernel_drops"] == 0, run.stats
    assert run.stats["kernel_packets"] == frames, (run.stats, frames)
    assert run.summary.packets == frames
    expected, got = directional_totals(expected_events), directional_totals(run.events)
    assert expected, "the file gave no flows: nothing compared"
    assert got == expected, diff(expected, got)
    # the EVE file says the same as the callback, and its final stats count the capture
    lines = (tmp_path / "live" / "eve.json").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert directional_totals(events) == expected
    final = [e for e in events if e["event_type"] == "stats"][-1]["stats"]["capture"]
    assert final["kernel_packets"] == frames and final["kernel_drops"] == 0
    assert all(e.get("in_iface") == (None if e["event_type"] == "stats" else CAP_IF)
               for e in events)


@live
@pytest.mark.live
def test_quiet_interface_yields_empty_batches_and_stops(wire, tmp_path):
    from wirescore.live import LiveSource

    def sample():
        with LiveSource(CAP_IF, timeout_ms=50, prefetch=0) as src:
            t0, shapes, lag = time.monotonic(), [], []
            for data, meta, linktype in src.batches():
                shapes.append((len(data), meta.shape, linktype))
                lag.append(abs(src.expiry_clock() - time.time()))
                if time.monotonic() - t0 > 0.5:
                    break
            return shapes, time.monotonic() - t0, max(lag)

    shapes, took, lag = wire.in_capture_ns(sample)
    assert took < 1.0
    assert lag < 1.0          # flows age on the wall clock: live packets are stamped by it
    assert len(shapes) >= 5, shapes
    assert all(s == (0, (0, 4), 1) for s in shapes), shapes      # Ethernet, empty
    with LiveRun(wire, tmp_path / "quiet", timeout_ms=50) as run:
        time.sleep(0.2)
        t0 = time.monotonic()
        run.stop()
        assert time.monotonic() - t0 < 2.0
    assert run.summary.packets == 0 and run.events == []
    stats = [json.loads(line) for line in (tmp_path / "quiet" / "eve.json").read_text()
             .splitlines()]
    assert [e["event_type"] for e in stats] == ["stats"]


@live
@pytest.mark.live
def test_bpf_applies_live(wire, tmp_path):
    pcap = FIXTURES / "zeek-wikipedia.pcap"
    expected_events, _ = file_run(pcap, tmp_path)
    with LiveRun(wire, tmp_path / "bpf", bpf="udp") as run:
        wire.replay(pcap)
        time.sleep(GRACE_S)
        run.stop()
    want = directional_totals([e for e in expected_events if e["proto"] == "UDP"])
    assert want and directional_totals(run.events) == want


@live
@pytest.mark.live
def test_interface_going_down_is_a_fault_after_everything_read(wire, tmp_path):
    """--exit-on-link-loss: the run ends at the link loss (the default waits for the
    link: test_link_loss.py)."""
    from wirescore.engine import RunFault

    pcap = FIXTURES / "zeek-wikipedia.pcap"
    expected_events, _ = file_run(pcap, tmp_path)
    run = LiveRun(wire, tmp_path / "down", resume_on_link_loss=False)
    try:
        with run:
            wire.replay(pcap)
            time.sleep(GRACE_S)
            _ip("-n", wire.cap_ns, "link", "set", CAP_IF, "down")
            run.thread.join(10)
            assert not run.thread.is_alive(), "the capture did not notice the interface go down"
    finally:
        _ip("-n", wire.cap_ns, "link", "set", CAP_IF, "up")
    assert isinstance(run.error, RunFault), repr(run.error)
    assert str(run.error) == f"{CAP_IF}: the interface went down during the capture"
    assert run.error.summary.packets == 136
    got, want = directional_totals(run.events), directional_totals(expected_events)
    assert got == want, diff(want, got)


@live
@pytest.mark.live
def test_interface_listing_sees_the_wire(wire):
    # in a process of the namespace (`ip netns exec` mounts its /sys, which the
    # descriptions read), as `wirescore interfaces` would run there
    code = ("import dataclasses, json; from wirescore.interfaces import list_interfaces, "
            "format_interfaces; found = list_interfaces(); "
            "print(json.dumps([dataclasses.asdict(i) for i in found])); "
            "print(format_interfaces(found))")
    proc = subprocess.run(wire.ns_cmd(sys.executable, "-c", code), capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    listing, _, text = proc.stdout.partition("\n")
    by_name = {i["name"]: i for i in json.loads(listing)}
    assert CAP_IF in by_name, list(by_name)
    a = by_name[CAP_IF]
    assert a["up"] is True and a["running"] is True and a["addresses"] == [] and a["mac"]
    assert a["description"] == "Ethernet (virtual)"
    assert by_name["lo"]["description"] == "loopback" and by_name["lo"]["up"] is False
    assert by_name["any"]["description"].startswith("pseudo-device")
    assert text.startswith("NAME") and "ADDRESSES" in text.splitlines()[0], text
    assert re.search(rf"^{CAP_IF}\s+up,running\s+Ethernet \(virtual\)$", text, re.M), text
    assert re.search(r"^lo\s+down\s+loopback$", text, re.M), text
    # the command prints the same table
    cli = subprocess.run(wire.ns_cmd(sys.executable, "-m", "wirescore", "interfaces"),
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert cli.returncode == 0, cli.stderr
    assert re.search(rf"^{CAP_IF}\s+up,running\s+Ethernet \(virtual\)$", cli.stdout, re.M), \
        cli.stdout


# ---------------------------------------------------------------------- errors

def _live_error(**kwargs) -> str:
    from wirescore.errors import WirescoreError
    from wirescore.live import LiveSource

    with pytest.raises(WirescoreError) as info:
        LiveSource(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


@live
@pytest.mark.live
def test_error_no_such_interface_lists_the_others(wire):
    msg = wire.in_capture_ns(_live_error, iface="ws-nope")
    assert msg.startswith("ws-nope: no such interface") and CAP_IF in msg, msg


@live
@pytest.mark.live
def test_error_interface_down(wire):
    wire.add_spare_link()
    try:
        msg = wire.in_capture_ns(_live_error, iface="ws-d")
    finally:
        wire.del_spare_link()
    assert msg == "ws-d: interface is down; bring it up first (ip link set ws-d up)"


@live
@pytest.mark.live
def test_error_bad_bpf(wire):
    msg = wire.in_capture_ns(_live_error, iface=CAP_IF, bpf="tcp port")
    assert msg.startswith("--bpf 'tcp port': ") and "syntax error" in msg, msg


@live
@pytest.mark.live
def test_error_fanout_group_taken_by_another_interface(wire):
    from wirescore.live import LiveSource

    wire.add_spare_link(up=True)
    try:
        def clash():
            with LiveSource(CAP_IF, fanout_group=31337):
                return _live_error(iface="ws-d", fanout_group=31337)

        msg = wire.in_capture_ns(clash)
    finally:
        wire.del_spare_link()
    assert msg.startswith("ws-d: fanout group 31337 is used by another capture"), msg


def _in_child(fn) -> str:
    """Run fn() in a forked child; return what it returned (a string) or its error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = fn()
        except BaseException as exc:  # sent to the parent
            out = f"{type(exc).__name__}: {exc}"
        os.write(w, str(out).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        data = os.read(r, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@live
@pytest.mark.live
def test_error_permission_denied_says_how_to_fix():
    import pcapy  # noqa: F401  (imported before dropping: the install may be unreadable)

    import wirescore._core.decode  # noqa: F401
    from wirescore.errors import WirescoreError
    from wirescore.live import LiveSource

    nobody = pwd.getpwnam("nobody")

    def attempt():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
        try:
            LiveSource("lo")
        except WirescoreError as exc:
            return str(exc)
        return "opened"

    msg = _in_child(attempt)
    assert msg.startswith("lo: permission denied opening a live capture: run as root"), msg
    assert "setcap cap_net_raw,cap_net_admin=eip" in msg


class FakeReader:
    """Stands for a pcapy handle whose activate() returns `status`."""

    def __init__(self, status, dlt=1):
        self.status, self.dlt = status, dlt

    def __getattr__(self, name):
        return lambda *a, **k: None

    def activate(self):
        return self.status

    def datalink(self):
        return self.dlt


@pytest.mark.parametrize("status, dlt, expected", [
    (-6, 1, "wlan9: Wi-Fi monitor mode is not supported here"),
    (-7, 1, "wlan9: Wi-Fi monitor mode is not supported here"),
    (0, 127, "wlan9: Wi-Fi monitor mode (link type 127 (IEEE802_11_RADIO (radiotap))) "
             "is not supported"),
    (-8, 1, "wlan9: permission denied opening a live capture: run as root"),
    (-11, 1, "wlan9: permission denied for promiscuous mode"),
    (-9, 1, "wlan9: interface is down"),
    (-1, 1, "wlan9: unable to activate the capture: socket: Address family not supported"),
])
def test_activation_statuses_become_one_line_errors(monkeypatch, status, dlt, expected):
    """libpcap statuses no test machine produces on demand, through a fake handle;
    the generic failure takes libpcap's own text from open_live()."""
    import pcapy

    from wirescore.errors import WirescoreError
    from wirescore.live import LiveSource

    def open_live(name, *args):
        raise pcapy.PcapError(f"{name}: socket: Address family not supported by protocol")

    monkeypatch.setattr(pcapy, "create", lambda name: FakeReader(status, dlt))
    monkeypatch.setattr(pcapy, "open_live", open_live)
    with pytest.raises(WirescoreError) as info:
        LiveSource("wlan9")
    assert str(info.value).startswith(expected), str(info.value)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------- workers

class WorkersProcess:
    """`wirescore run -i ws-a` (python -m wirescore) in the capture namespace, stderr in a
    file: the command a user runs."""

    def __init__(self, wire: Wire, logdir: Path, *args: str, workers: int = 2,
                 detect: bool = False):
        self.logdir = logdir
        self.err_path = logdir.parent / f"{logdir.name}.stderr"
        cmd = wire.ns_cmd(sys.executable, "-m", "wirescore", "run", "-i", CAP_IF, "-l",
                          str(logdir), "--workers", str(workers),
                          "--detect" if detect else "--no-detect", *args)
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._err,
                                     cwd=REPO)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " capturing (" in self.stderr:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"workers exited {self.proc.returncode}:\n{self.stderr}")
            time.sleep(0.05)
        raise AssertionError(f"workers not ready after {timeout} s:\n{self.stderr}")

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._err.close()
        return rc

    def children(self) -> list[int]:
        kids = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            m = re.search(r"^PPid:\s+(\d+)$", text, re.M)
            if m and int(m.group(1)) == self.proc.pid:
                kids.append(int(status.parent.name))
        return kids


def read_lines(path: Path) -> list[dict]:
    """Every line of an EVE file parsed; fails on a partial or broken line."""
    text = path.read_text()
    assert text == "" or text.endswith("\n"), f"{path}: ends in the middle of a line"
    return [json.loads(line) for line in text.splitlines()]


def schema_validator():
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        return None
    if not SCHEMA.is_file():
        return None
    return Draft202012Validator(json.loads(SCHEMA.read_text()))


WORKER_REPLAYS = [p for p in replay_list()
                  if "dns-fragmented" not in p.id]     # fragments: their own test below


@live
@pytest.mark.live
@pytest.mark.parametrize("pcap", WORKER_REPLAYS)
def test_two_workers_report_each_flow_once(wire, pcap, tmp_path):
    expected_events, file_summary = file_run(pcap, tmp_path)
    logdir = tmp_path / "workers"
    run = WorkersProcess(wire, logdir, "--eve-per-worker")
    run.wait_ready()
    sent = wire.replay(pcap)
    time.sleep(GRACE_S)
    assert run.terminate() == 0, run.stderr
    assert sent["sent"] == file_summary.counters["decoder.pkts"]
    per_worker = [read_lines(logdir / f"eve.{n}.json") for n in (1, 2)]
    seen_by: dict = {}
    for n, events in enumerate(per_worker, 1):
        final = [e for e in events if e["event_type"] == "stats"][-1]["stats"]["capture"]
        assert final["kernel_drops"] == 0, (n, final)
        for e in events:
            if e["event_type"] == "flow":
                seen_by.setdefault(flow_key(e), set()).add(n)
    split = {k: v for k, v in seen_by.items() if len(v) > 1}
    assert not split, f"flows split across workers: {list(split)[:5]}"
    got = directional_totals(per_worker[0] + per_worker[1])
    expected = directional_totals(expected_events)
    assert got == expected, diff(expected, got)
    if len(seen_by) >= 20:            # hashing spread the flows (not a test of balance)
        assert {min(v) for v in seen_by.values()} == {1, 2}


@live
@pytest.mark.live
def test_two_workers_fragmented_ipv4_arrives_reassembled(wire, tmp_path):
    """PACKET_FANOUT_FLAG_DEFRAG: the kernel reassembles IPv4 fragments before hashing,
    so each fragmented datagram reaches its flow's worker as one packet. Expected, from
    the independent reference: per 5-tuple, the file's packets minus (fragments - 1)
    per fragmented IPv4 datagram; IPv4 flows reported by exactly one worker."""
    from flowref import decode_packets, read_capture

    pcap = FIXTURES / "nfstream-dns-fragmented.pcap"
    capture = read_capture(pcap)
    fragments: Counter = Counter()           # (key, datagram) -> fragments
    for _, pkt in decode_packets(capture):
        if getattr(pkt, "frag_id", None) is not None and pkt.version == 4:
            fragments[(pkt.key, (pkt.src, pkt.dst, pkt.proto, pkt.frag_id))] += 1
    folded: Counter = Counter()
    for (key, _), n in fragments.items():
        folded[key] += n - 1
    assert sum(folded.values()) > 0, "the fixture has no fragmented IPv4 datagram"
    expected_events, _ = file_run(pcap, tmp_path)
    logdir = tmp_path / "workers"
    run = WorkersProcess(wire, logdir, "--eve-per-worker")
    run.wait_ready()
    wire.replay(pcap)
    time.sleep(GRACE_S)
    assert run.terminate() == 0, run.stderr
    events = read_lines(logdir / "eve.1.json") + read_lines(logdir / "eve.2.json")
    flows = [e for e in events if e["event_type"] == "flow"]

    def ref_key(e):       # flowref's key shape
        pair = sorted(((e["src_ip"], e.get("src_port", 0)), (e["dest_ip"], e.get("dest_port", 0))))
        return (tuple(e.get("vlan", ())), {"UDP": 17, "TCP": 6}.get(e["proto"], -1), tuple(pair))

    def pkts(evs):
        c: Counter = Counter()
        for e in evs:
            c[ref_key(e)] += e["flow"]["pkts_toserver"] + e["flow"]["pkts_toclient"]
        return c

    want = pkts(expected_events)
    for key, n in folded.items():
        want[key] -= n
    assert pkts(flows) == +want
    v4_events = Counter(flow_key(e) for e in flows if ":" not in e["src_ip"])
    v4_file = Counter(flow_key(e) for e in expected_events if ":" not in e["src_ip"])
    assert v4_events == v4_file            # one event per IPv4 flow, as from the file


def _replay_in_background(wire: Wire, pcap: Path, pps: int) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", wire.gen_ns, "tcpreplay", "-q", "-i",
                             GEN_IF, f"--pps={pps}", str(pcap)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@live
@pytest.mark.live
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_mid_run_leaves_whole_lines_and_every_flow(wire, tmp_path, workers):
    pcap = FIXTURES / "ndpi-synscan.pcap"           # 2011 TCP/IPv4 packets
    expected_events, file_summary = file_run(pcap, tmp_path)
    logdir = tmp_path / "merged"
    run = WorkersProcess(wire, logdir, "--stats-interval", "0.5",
                         workers=workers)
    run.wait_ready()
    replay = _replay_in_background(wire, pcap, pps=1000)       # about 2 s
    time.sleep(1.0)
    try:
        rc = run.terminate()
    finally:
        replay.wait(30)
    assert rc == 0, run.stderr
    events = read_lines(logdir / "eve.json")
    validator = schema_validator()
    if validator is not None:
        for e in events:
            errors = sorted(validator.iter_errors(e), key=str)
            assert not errors, f"{e['event_type']} line fails the schema: {errors[0].message}"
    flows = [e for e in events if e["event_type"] == "flow"]
    stats = [e for e in events if e["event_type"] == "stats"]
    assert stats and events[-1]["event_type"] == "stats", "no final stats event"
    final = stats[-1]["stats"]
    assert final["capture"]["kernel_drops"] == 0
    # decoder.pkts: packets the workers took in; the sockets went on receiving the
    # replay until closed (capture.kernel_packets counts those too)
    processed = final["decoder"]["pkts"]
    assert 0 < processed <= final["capture"]["kernel_packets"]
    assert processed < file_summary.counters["decoder.pkts"], \
        f"SIGTERM was not in the middle: {processed} packets processed"
    in_flows = sum(e["flow"]["pkts_toserver"] + e["flow"]["pkts_toclient"] for e in flows)
    assert in_flows == processed
    assert {e["flow"]["reason"] for e in flows} <= {"shutdown", "tcp_fin", "tcp_rst"}
    assert len({e["flow_id"] for e in flows}) == len(flows)
    # a prefix of the replay: no 5-tuple has more than in the file
    got, full = directional_totals(flows), directional_totals(expected_events)
    assert all(v <= full[k] for k, v in got.items()), diff(full, got)
    if workers == 2:      # the parent logs each worker's kernel counters
        assert "worker 1" in run.stderr and "worker 2" in run.stderr


@live
@pytest.mark.live
def test_merged_stream_equals_file_and_sighup_reopens(wire, tmp_path):
    first, second = FIXTURES / "zeek-wikipedia.pcap", FIXTURES / "ndpi-synscan.pcap"
    logdir = tmp_path / "merged"
    short = []                                  # flows of the first replay end before
    for proto, states in (("tcp", ("new", "established", "closed")),   # the rotation
                          ("udp", ("new", "established")), ("icmp", ("new", "established")),
                          ("other", ("new", "established"))):
        short += [a for st in states for a in (f"--flow-timeout-{proto}-{st}", "0.5")]
    run = WorkersProcess(wire, logdir, *short)
    run.wait_ready()
    wire.replay(first)
    time.sleep(GRACE_S + 1.0)
    rotated = logdir / "eve.json.1"
    (logdir / "eve.json").rename(rotated)
    run.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not (logdir / "eve.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (logdir / "eve.json").exists(), "SIGHUP did not reopen eve.json"
    wire.replay(second)
    time.sleep(GRACE_S)
    assert run.terminate() == 0, run.stderr
    before, after = read_lines(rotated), read_lines(logdir / "eve.json")
    assert (logdir / "eve.json").stat().st_mode & 0o777 == 0o640
    # flows still open at the rotation are written at the end, into the new file
    every = directional_totals(before + after)
    want = directional_totals(file_run(first, tmp_path)[0] + file_run(second, tmp_path)[0])
    assert every == want, diff(want, every)
    assert any(e["event_type"] == "flow" for e in before)


@live
@pytest.mark.live
def test_workers_write_redis_and_an_alerts_file_each_its_types(wire, tmp_path):
    """--workers 2 with the main EVE output in a real redis-server (started in the
    capture namespace, on its loopback) and an alerts-only file beside it: the parent
    writes both from the workers' lines. Redis gets every flow (equal to a file run),
    the alerts and the summed stats, whose health names both outputs; the file gets
    exactly Redis's alert lines and nothing else."""
    exe = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if exe is None or cli is None:
        pytest.skip("redis-server / redis-cli not installed (Debian package redis-server)")
    port = "6391"
    _ip("-n", wire.cap_ns, "link", "set", "lo", "up")
    server = subprocess.Popen(wire.ns_cmd(exe, "--port", port, "--bind", "127.0.0.1",
                                          "--save", "", "--appendonly", "no",
                                          "--dir", str(tmp_path)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def redis(*args: str) -> str:
        return subprocess.run(wire.ns_cmd(cli, "-p", port, *args), capture_output=True,
                              text=True, timeout=30).stdout

    try:
        deadline = time.monotonic() + 10
        while redis("PING").strip() != "PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        pcap = FIXTURES / "ndpi-synscan.pcap"
        expected_events, _ = file_run(pcap, tmp_path)
        logdir = tmp_path / "redis"
        run = WorkersProcess(wire, logdir, "--eve-filetype", "redis", "--eve-redis-server",
                             "127.0.0.1", "--eve-redis-port", port, "--eve-redis-mode",
                             "rpush", "--eve-redis-key", "ws",
                             "--eve-also", "regular:alerts.json?types=alert",
                             detect=True)
        run.wait_ready()
        wire.replay(pcap)
        time.sleep(GRACE_S)
        assert run.terminate() == 0, run.stderr
        lines = [x for x in redis("--raw", "LRANGE", "ws", "0", "-1").splitlines() if x]
    finally:
        server.terminate()
        server.wait(timeout=10)
    events = [json.loads(x) for x in lines]
    assert not (logdir / "eve.json").exists()
    flows = [e for e in events if e["event_type"] == "flow"]
    assert directional_totals(flows) == directional_totals(expected_events), \
        diff(directional_totals(expected_events), directional_totals(flows))
    alerts = [x for x, e in zip(lines, events) if e["event_type"] == "alert"]
    assert alerts, "the scan gave no alert"
    assert (logdir / "alerts.json").read_text().splitlines() == alerts
    stats = [e for e in events if e["event_type"] == "stats"]
    assert stats and events[-1]["event_type"] == "stats"
    from wirescore import health

    assert set(health.get(stats[-1])["outputs"]) >= {"regular"}     # the alerts file's


@live
@pytest.mark.live
def test_merged_lines_carry_host_and_no_pcap_filename(wire, tmp_path):
    """--sensor-name with two workers and one eve.json: the workers' relayed lines and
    the parent's summed stats all carry host; a live run has no pcap_filename."""
    logdir = tmp_path / "host"
    run = WorkersProcess(wire, logdir, "--sensor-name", "s1", "--pcap-filename")
    run.wait_ready()
    wire.replay(FIXTURES / "zeek-wikipedia.pcap")
    time.sleep(GRACE_S)
    assert run.terminate() == 0, run.stderr
    events = read_lines(logdir / "eve.json")
    assert {e["event_type"] for e in events} >= {"flow", "stats"}
    assert all(e["host"] == "s1" and "pcap_filename" not in e for e in events)
    # Suricata's in_iface on every line of a live capture but the stats
    assert all(e.get("in_iface") == (None if e["event_type"] == "stats" else CAP_IF)
               for e in events)


@live
@pytest.mark.live
@pytest.mark.parametrize("workers", [1, 2])
def test_workers_drop_to_user(wire, tmp_path, open_dir, workers):
    nobody = pwd.getpwnam("nobody")
    logdir = open_dir / "logs"                      # created by wirescore, for nobody
    # detection on (the default): rules and models are loaded before dropping, since
    # the install (here under /root, mode 0700) may be unreadable to the user
    run = WorkersProcess(wire, logdir, "--user", "nobody", detect=True, workers=workers)
    run.wait_ready()
    uids = {}
    for pid in [run.proc.pid, *run.children()]:
        status = Path(f"/proc/{pid}/status").read_text()
        uids[pid] = (re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split(),
                     re.search(r"^Groups:[ \t]*(.*)$", status, re.M).group(1).split(),
                     re.search(r"^CapEff:\s+(\S+)", status, re.M).group(1))
    pcap = FIXTURES / "zeek-wikipedia.pcap"
    wire.replay(pcap)
    time.sleep(GRACE_S)
    assert run.terminate() == 0, run.stderr
    assert len(uids) == (3 if workers == 2 else 1), uids   # the parent and its workers
    for pid, (ids, groups, caps) in uids.items():
        assert ids == [str(nobody.pw_uid)] * 4, (pid, ids)
        assert groups == [], (pid, groups)
        assert int(caps, 16) == 0, (pid, caps)
    st = (logdir / "eve.json").stat()
    assert (st.st_uid, logdir.stat().st_uid) == (nobody.pw_uid, nobody.pw_uid)
    events = read_lines(logdir / "eve.json")
    assert directional_totals(events) == directional_totals(file_run(pcap, tmp_path)[0])
    assert "wirescore: error" not in run.stderr and "Traceback" not in run.stderr, run.stderr


@live
@pytest.mark.live
def test_workers_die_with_their_parent(wire, tmp_path):
    logdir = tmp_path / "orphans"
    run = WorkersProcess(wire, logdir)
    run.wait_ready()
    kids = run.children()
    assert len(kids) == 2
    run.proc.kill()
    run.proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(Path(f"/proc/{k}").exists() for k in kids):
        time.sleep(0.1)
    alive = [k for k in kids if Path(f"/proc/{k}").exists()
             and "State:\tZ" not in Path(f"/proc/{k}/status").read_text()]
    assert not alive, f"workers outlived their parent: {alive}"
    # a killed parent cannot remove its pipes; the next run on the log dir does
    stale = sorted(p.name for p in logdir.glob(".wirescore-*.pipe"))
    assert stale == [f".wirescore-{run.proc.pid}-1.pipe", f".wirescore-{run.proc.pid}-2.pipe"]
    again = WorkersProcess(wire, logdir)
    again.wait_ready()
    left = sorted(p.name for p in logdir.glob(".wirescore-*.pipe"))
    assert again.terminate() == 0, again.stderr
    assert left == [f".wirescore-{again.proc.pid}-1.pipe", f".wirescore-{again.proc.pid}-2.pipe"]
    assert list(logdir.glob(".wirescore-*")) == []
    read_lines(logdir / "eve.json")


@live
@pytest.mark.live
def test_workers_start_failure_is_one_line(wire, tmp_path):
    proc = subprocess.run(wire.ns_cmd(sys.executable, "-m", "wirescore", "run", "-i",
                                      "ws-nope", "-l", str(tmp_path), "--workers", "2"),
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(
        "wirescore: error: ws-nope: no such interface"), proc.stderr


# ---------------------------------------------------------------------- privileges

@root_only
def test_file_run_drops_to_user(tmp_path, open_dir):
    """-r with --user: the capture is opened as root, then the run goes on as the user;
    eve.json belongs to the user and holds the same flows as a run without --user."""
    nobody = pwd.getpwnam("nobody")
    pcap = open_dir / "capture.pcap"
    shutil.copy(FIXTURES / "zeek-wikipedia.pcap", pcap)
    pcap.chmod(0o600)                                  # readable by root only
    logdir = open_dir / "logs"
    proc = subprocess.run([sys.executable, "-m", "wirescore", "run", "-r", str(pcap), "-l",
                           str(logdir), "--user", "nobody"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert (logdir / "eve.json").stat().st_uid == nobody.pw_uid
    events = read_lines(logdir / "eve.json")
    assert directional_totals(events) == directional_totals(file_run(pcap, tmp_path)[0])


def test_run_needs_exactly_one_source(tmp_path):
    base = [sys.executable, "-m", "wirescore", "run", "-l", str(tmp_path)]
    for extra in ([], ["-r", str(FIXTURES / "ndpi-synscan.pcap"), "-i", "lo"]):
        proc = subprocess.run(base + extra, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2
        assert ("give exactly one source: -r PATH (file or -), -i IFACE, --syscalls "
                "[SCRIPT|ssh://HOST] or --syscalls-file FILE") in proc.stderr
    proc = subprocess.run(base + ["-r", str(FIXTURES / "ndpi-synscan.pcap"), "--workers", "2"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--workers applies to live capture" in proc.stderr
    assert not (tmp_path / "eve.json").exists()


def test_per_worker_eve_files_take_regular_files_only(tmp_path):
    """--eve-per-worker is Suricata's threaded EVE: one file per worker; another filetype
    is one line naming the way out (one stream, which any filetype may be)."""
    proc = subprocess.run([sys.executable, "-m", "wirescore", "run", "-i", "lo", "-l",
                           str(tmp_path / "logs"), "--workers", "2", "--eve-per-worker",
                           "--eve-filetype", "unix_dgram"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "wirescore: error: --eve-per-worker writes one EVE file per worker: "
        "outputs.eve.filetype 'unix_dgram' and outputs.eve.also need one EVE stream "
        "(leave out --eve-per-worker)"]
    assert not (tmp_path / "logs").exists()


@root_only
def test_drop_refuses_when_it_cannot_switch():
    from wirescore import privileges

    nobody = pwd.getpwnam("nobody")

    def attempt():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
        privileges.drop(privileges.Target(0, 0, "root", "root"))
        return "dropped"

    msg = _in_child(attempt)
    assert msg.startswith("WirescoreError: --user/--group root:root: cannot switch: "
                          "operation not permitted"), msg


@root_only
def test_drop_then_unwritable_log_dir_is_refused(open_dir):
    from wirescore import privileges

    logdir = open_dir / "rootonly"
    logdir.mkdir(mode=0o755)                       # exists, owned by root: not ours to chown
    target = privileges.resolve("nobody", None)

    def attempt():
        privileges.prepare_outputs(target, logdir, ["eve.json"])
        privileges.drop(target)
        privileges.check_writable(target, logdir, ["eve.json"])
        return "writable"

    msg = _in_child(attempt)
    assert msg.startswith(f"WirescoreError: {logdir}: not writable by user nobody after "
                          "dropping privileges"), msg


@root_only
def test_drop_sticks_and_prepared_outputs_belong_to_user(open_dir):
    from wirescore import privileges

    logdir = open_dir / "new" / "logs"
    target = privileges.resolve("nobody", None)

    def attempt():
        privileges.prepare_outputs(target, logdir, ["eve.json"])
        privileges.drop(target)
        privileges.check_writable(target, logdir, ["eve.json"])
        with open(logdir / "eve.json", "a") as fh:
            fh.write("{}\n")
        return f"{os.getresuid()} {os.getresgid()} {os.getgroups()}"

    out = _in_child(attempt)
    u, g = target.uid, target.gid
    assert out == f"({u}, {u}, {u}) ({g}, {g}, {g}) []", out
    assert (logdir / "eve.json").stat().st_uid == u
    assert (logdir / "eve.json").stat().st_mode & 0o777 == 0o640


def test_resolve_names_and_errors():
    from wirescore import privileges
    from wirescore.errors import WirescoreError

    assert privileges.resolve(None, None) is None
    nobody = pwd.getpwnam("nobody")
    t = privileges.resolve("nobody", None)
    assert (t.uid, t.gid, t.user) == (nobody.pw_uid, nobody.pw_gid, "nobody")
    assert privileges.resolve(str(nobody.pw_uid), "0").gid == 0
    with pytest.raises(WirescoreError, match="^--user no-such-user-x: no such user$"):
        privileges.resolve("no-such-user-x", None)
    with pytest.raises(WirescoreError, match="^--group no-such-group-x: no such group$"):
        privileges.resolve("nobody", "no-such-group-x")


def test_per_worker_names_and_stats_sum():
    from wirescore.outputs.paths import per_worker_name
    from wirescore.workers.stats import sum_stats

    assert per_worker_name("eve.json", 2) == "eve.2.json"
    assert per_worker_name("out/flows.csv", 1) == "out/flows.1.csv"
    a = {"uptime": 5, "capture": {"kernel_packets": 3, "kernel_drops": 1}}
    b = {"uptime": 7, "capture": {"kernel_packets": 4, "kernel_drops": 0}, "flow": {"tcp": 2}}
    assert sum_stats(a, b) == {"uptime": 7, "capture": {"kernel_packets": 7, "kernel_drops": 1},
                               "flow": {"tcp": 2}}
