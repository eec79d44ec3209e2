"""The network interfaces wirescore can capture from: what `wirescore interfaces` lists.

Each device libpcap can open (and every interface the system knows, with or without
permission to capture), with its state (up / down, running when the link has carrier),
addresses, MAC and what capture would see there (loopback, Wi-Fi, bridge, ...). Read from
libc's getifaddrs(), SIOCGIFFLAGS and /sys/class/net; nothing here needs privileges.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

# net/if.h interface flags
IFF_UP, IFF_BROADCAST, IFF_LOOPBACK, IFF_POINTOPOINT = 0x1, 0x2, 0x8, 0x10
IFF_RUNNING, IFF_PROMISC = 0x40, 0x100
SIOCGIFFLAGS = 0x8913


def interface_flags(name: str) -> int | None:
    """SIOCGIFFLAGS of an interface in the calling thread's network namespace, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            req = struct.pack("16sh14x", name.encode()[:15], 0)
            out = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req)
    except OSError:
        return None
    return struct.unpack("16sh14x", out)[1] & 0xFFFF


def is_wireless(name: str) -> bool:
    base = Path("/sys/class/net") / name
    return (base / "wireless").exists() or (base / "phy80211").exists()


@dataclass
class Interface:
    """One capture device: what `wirescore interfaces` prints."""

    name: str
    description: str
    addresses: list = field(default_factory=list)   # "10.0.0.2/24", "fe80::1/64"
    mac: str | None = None
    up: bool | None = None
    running: bool | None = None
    loopback: bool = False
    wireless: bool = False

    @property
    def state(self) -> str:
        if self.up is None:
            return "-"
        return ",".join(["up" if self.up else "down"] + (["running"] if self.running else []))


_PSEUDO = {
    "any": "pseudo-device: all interfaces, not promiscuous",
    "nflog": "netfilter log (NFLOG group)",
    "nfqueue": "netfilter queue (not supported)",
    "bluetooth-monitor": "Bluetooth monitor (not supported)",
    "dbus-system": "D-Bus system bus (not supported)",
    "dbus-session": "D-Bus session bus (not supported)",
}


def _describe(name: str, flags: int | None) -> str:
    if name in _PSEUDO:
        return _PSEUDO[name]
    if name.startswith("usbmon"):
        return "USB bus monitor (not supported)"
    base = Path("/sys/class/net") / name
    if flags is not None and flags & IFF_LOOPBACK:
        return "loopback"
    if is_wireless(name):
        return "Wi-Fi"
    kinds = [("bridge", "bridge"), ("bonding", "bond"), ("tun_flags", "TUN/TAP")]
    for entry, label in kinds:
        if (base / entry).exists():
            return label
    try:
        uevent = (base / "uevent").read_text()
    except OSError:
        uevent = ""
    for line in uevent.splitlines():
        if line.startswith("DEVTYPE="):
            return {"vlan": "VLAN", "wlan": "Wi-Fi", "bridge": "bridge", "bond": "bond",
                    "wireguard": "WireGuard tunnel"}.get(line[8:], line[8:])
    try:
        driver = os.path.basename(os.readlink(base / "device" / "driver"))
    except OSError:
        driver = ""
    if driver:
        return f"Ethernet ({driver})"
    try:
        iftype = int((base / "type").read_text())
    except (OSError, ValueError):
        iftype = None
    if iftype == 1:
        return "Ethernet (virtual)"
    if iftype in (65534, 776, 778, 768, 769):
        return "tunnel (raw IP)"
    return "network interface" if iftype is not None else "capture device"


class _sockaddr(ctypes.Structure):
    _fields_ = [("sa_family", ctypes.c_ushort), ("sa_data", ctypes.c_ubyte * 126)]


class _ifaddrs(ctypes.Structure):
    pass


_ifaddrs._fields_ = [("ifa_next", ctypes.POINTER(_ifaddrs)), ("ifa_name", ctypes.c_char_p),
                     ("ifa_flags", ctypes.c_uint), ("ifa_addr", ctypes.POINTER(_sockaddr)),
                     ("ifa_netmask", ctypes.POINTER(_sockaddr)),
                     ("ifa_ifu", ctypes.POINTER(_sockaddr)), ("ifa_data", ctypes.c_void_p)]


def _getifaddrs() -> dict:
    """{name: (flags, [addr/prefix...], mac)} from libc getifaddrs() ({} if unavailable)."""
    out: dict = {}
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        head = ctypes.POINTER(_ifaddrs)()
        if libc.getifaddrs(ctypes.byref(head)) != 0:
            return out
    except (OSError, AttributeError):
        return out
    try:
        node = head
        while node:
            ifa = node.contents
            name = ifa.ifa_name.decode(errors="replace")
            entry = out.setdefault(name, [int(ifa.ifa_flags), [], None])
            entry[0] = int(ifa.ifa_flags)
            if ifa.ifa_addr:
                fam = ifa.ifa_addr.contents.sa_family
                raw = bytes(ctypes.cast(ifa.ifa_addr, ctypes.POINTER(ctypes.c_ubyte * 28))
                            .contents)
                mask = (bytes(ctypes.cast(ifa.ifa_netmask, ctypes.POINTER(ctypes.c_ubyte * 28))
                              .contents) if ifa.ifa_netmask else None)
                if fam == socket.AF_INET:
                    prefix = _prefix(mask[4:8]) if mask else 32
                    entry[1].append(f"{socket.inet_ntop(socket.AF_INET, raw[4:8])}/{prefix}")
                elif fam == socket.AF_INET6:
                    prefix = _prefix(mask[8:24]) if mask else 128
                    entry[1].append(f"{socket.inet_ntop(socket.AF_INET6, raw[8:24])}/{prefix}")
                elif fam == getattr(socket, "AF_PACKET", 17):
                    halen = raw[11]
                    if halen == 6 and any(raw[12:18]):
                        entry[2] = ":".join(f"{b:02x}" for b in raw[12:18])
            node = ifa.ifa_next
    finally:
        libc.freeifaddrs(head)
    return out


def _prefix(mask: bytes) -> int:
    return sum(bin(b).count("1") for b in mask)


def list_interfaces() -> list[Interface]:
    """Every device libpcap can capture on, with what the system says about it
    (addresses, MAC, up/running), in libpcap's order (up and running first)."""
    import pcapy

    try:
        names = list(pcapy.findalldevs())
    except pcapy.PcapError:
        names = []
    info = _getifaddrs()
    for name in info:                      # interfaces libpcap skipped (no permission...)
        if name not in names:
            names.append(name)
    out = []
    for name in names:
        flags, addrs, mac = info.get(name, (None, [], None))
        if flags is None and name not in _PSEUDO:
            flags = interface_flags(name)
        out.append(Interface(
            name=name, description=_describe(name, flags), addresses=list(addrs), mac=mac,
            up=None if flags is None else bool(flags & IFF_UP),
            running=None if flags is None else bool(flags & IFF_RUNNING),
            loopback=bool(flags and flags & IFF_LOOPBACK), wireless=is_wireless(name)))
    return out


def format_interfaces(interfaces: list[Interface]) -> str:
    """The table `wirescore interfaces` prints: name, state, description, addresses
    (state: up / down, and running when the link has carrier; - for pseudo-devices)."""
    rows = [(i.name, i.state, i.description, ", ".join(i.addresses)) for i in interfaces]
    w_name = max([len(r[0]) for r in rows] + [4])
    w_state = max([len(r[1]) for r in rows] + [5])
    w_desc = max([len(r[2]) for r in rows] + [4])
    lines = [f"{'NAME':<{w_name}}  {'STATE':<{w_state}}  {'KIND':<{w_desc}}  ADDRESSES"]
    for name, state, desc, addrs in rows:
        lines.append(f"{name:<{w_name}}  {state:<{w_state}}  {desc:<{w_desc}}  {addrs}".rstrip())
    return "\n".join(lines)
