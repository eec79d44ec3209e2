"""DNS names as the first-seen tables key them: a name's registered domain and the part
of the name under it.

registered_domain(name) is the last two labels of the name, or the last three when the
last two are a public suffix under which registrars sell names (co.uk, com.au...: the
short table below, from the Public Suffix List's ICANN section,
https://publicsuffix.org/list/public_suffix_list.dat, its most used second-level
entries). A name whose last label is not a possible top-level domain (letters only, or
"xn--" IDNA, 2 to 63 characters: RFC 1123 2.1 and the root zone's practice) has no
registered domain on the public DNS: its domain is NO_DOMAIN, so the names a tunnel sends
straight to its own server ("dnscat.<hex>.<hex>") stay under one key instead of each
being a domain of its own. A single-label name ("isatap", "wpad") is its own domain.
"""
from __future__ import annotations

#: the domain of names with no public top-level domain
NO_DOMAIN = b"(no public suffix)"

#: second-level public suffixes (Public Suffix List, ICANN section): names are sold one
#: label below them, so the registered domain takes three labels
TWO_LEVEL_SUFFIXES = frozenset(s.encode() for s in (
    "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk", "nhs.uk",
    "com.au", "net.au", "org.au", "edu.au", "gov.au", "co.nz", "org.nz", "net.nz",
    "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "co.kr", "or.kr", "co.in", "net.in",
    "org.in", "gov.in", "ac.in", "com.br", "net.br", "org.br", "gov.br", "com.cn",
    "net.cn", "org.cn", "gov.cn", "edu.cn", "com.tw", "org.tw", "com.hk", "com.sg",
    "com.my", "com.mx", "com.ar", "com.tr", "com.ru", "co.za", "org.za", "co.il",
    "org.il", "ac.il", "com.ua", "com.pl", "net.pl", "org.pl", "co.id", "or.id",
    "ac.id", "com.vn", "com.ph", "com.pk", "com.eg", "com.sa", "co.th", "ac.th",
    "in.th",
))


def _tld_like(label: bytes) -> bool:
    if label.startswith(b"xn--"):
        return 4 < len(label) <= 63
    return 2 <= len(label) <= 63 and label.isalpha() and label.isascii()


def split_name(name: bytes) -> tuple[bytes, bytes]:
    """(registered domain, the part of the name under it) of a dotted name, lower case,
    without a trailing dot (see the module docstring); the part is b"" when the name is
    its domain."""
    name = name.rstrip(b".").lower()
    labels = name.split(b".")
    if len(labels) == 1:
        return name, b""
    if not _tld_like(labels[-1]):
        return NO_DOMAIN, name
    take = 3 if b".".join(labels[-2:]) in TWO_LEVEL_SUFFIXES and len(labels) >= 3 else 2
    domain = b".".join(labels[-take:])
    return domain, b".".join(labels[:-take])


def entropy_bits(data: bytes) -> float:
    """Shannon entropy of the bytes' distribution, bits per byte (0 for b""):
    -sum(p * log2(p)) over the distinct bytes, summed in the order each first occurs
    (computed in the core, wirescore._core.entropy, which also measures whole batches)."""
    from wirescore._core.entropy import entropy_one

    return entropy_one(data)
