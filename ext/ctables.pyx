# cython: freethreading_compatible = False
"""The compiled core's name tables and sizes as its C code sees them (names.h, which
setup.py generates from wirescore/core_names.py): what tests/test_names.py checks slot by
slot against that list, and what the fuzz target asks of the core it loads. Python code
takes its names from wirescore.core_names, which needs no compiled core."""
from slots cimport ws_slot
from counters cimport N_COUNTERS, ws_counter_slots, ws_app_counters
from enums cimport (N_REASONS, N_STATES, N_TCP_STATES, N_TC, WIN_KINDS, N_TCP_FLAGS,
                    N_PROTOS, N_APP_PROTOS, N_APP_EVENTS, N_DNS_RRTYPES, N_DNS_RCODES, ws_reasons, ws_states,
                    ws_tcp_states, ws_timeout_classes, ws_timeout_defaults, ws_window_kinds,
                    ws_tcp_flags, ws_protos, ws_proto_ports, ws_proto_name, ws_app_protos, ws_app_events,
                    ws_dns_rrtypes, ws_dns_rcodes,
                    SCAN_BITS as _SCAN_BITS, WIN_BITS as _WIN_BITS,
                    CLOCK_REACH as _CLOCK_REACH, APP_HOLD, APP_PROBE, DNS_NAME, DNS_ANSWERS,
                    DNS_RDATA, DNS_TEXT)


cdef tuple _rows(const ws_slot* table, int n):
    """(enum name, C value, name) of each row of a table, in table order."""
    return tuple((table[i].id.decode(), table[i].value, table[i].name.decode())
                 for i in range(n))


#: every table as its C rows (enum name, value, name)
ROWS = {
    "counters": _rows(ws_counter_slots, N_COUNTERS),
    "reasons": _rows(ws_reasons, N_REASONS),
    "states": _rows(ws_states, N_STATES),
    "tcp_states": _rows(ws_tcp_states, N_TCP_STATES),
    "timeout_classes": _rows(ws_timeout_classes, N_TC),
    "window_kinds": _rows(ws_window_kinds, WIN_KINDS),
    "tcp_flags": _rows(ws_tcp_flags, N_TCP_FLAGS),
    "protos": _rows(ws_protos, N_PROTOS),
    "app_protos": _rows(ws_app_protos, N_APP_PROTOS),
    "app_events": _rows(ws_app_events, N_APP_EVENTS),
    "dns_rrtypes": _rows(ws_dns_rrtypes, N_DNS_RRTYPES),
    "dns_rcodes": _rows(ws_dns_rcodes, N_DNS_RCODES),
}
#: the timeout classes' defaults (seconds) and which protocols have ports, as in C
TIMEOUT_DEFAULTS = tuple(ws_timeout_defaults[i] for i in range(N_TC))
PORT_PROTOS = tuple(ws_protos[i].value for i in range(N_PROTOS) if ws_proto_ports[i])
#: EVE's proto name of each IP protocol number that has one, as the formatters write it
PROTO_NAMES = {p: ws_proto_name(p).decode() for p in range(256) if ws_proto_name(p) != NULL}
#: the sizes the documentation quotes, as the rooms use them
SCAN_BITS = _SCAN_BITS
WINDOW_BITS = _WIN_BITS
CLOCK_REACH = _CLOCK_REACH
#: the application layer's sizes (core_names.APP_SIZES order)
APP_SIZES = (APP_HOLD, APP_PROBE, DNS_NAME, DNS_ANSWERS, DNS_RDATA, DNS_TEXT)


def app_counter_slot(int proto, int udp, int kind):
    """The counter slot the core counts (app protocol, 0 tcp / 1 udp, kind) in, or -1."""
    if not (0 <= proto < N_APP_PROTOS and udp in (0, 1) and 0 <= kind < 4):
        raise ValueError("no such (protocol, transport, kind)")
    return ws_app_counters[proto][udp][kind]
