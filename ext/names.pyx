# cython: freethreading_compatible = False
"""The core's name lists for Python, read from the C tables (includes/counters.h,
includes/enums.h) where each name sits beside its value, once; and the few sizes of the
core that its documentation quotes (catalog.py).

Importing this module is cheap (no numpy), so outputs/eve.py, config.py and the CLI take
their names from here at import time. Every tuple is indexed by the C value: a counter's
slot, a flow.reason, a flow.state, a tcp.state, an idle-timeout class, a window kind.
"""
from slots cimport ws_slot
from counters cimport N_COUNTERS, ws_counter_slots
from enums cimport (N_REASONS, N_STATES, N_TCP_STATES, N_TC, WIN_KINDS, N_TCP_FLAGS,
                    N_PROTOS, ws_reasons, ws_states, ws_tcp_states, ws_timeout_classes,
                    ws_timeout_defaults, ws_window_kinds, ws_tcp_flags, ws_protos,
                    ws_proto_ports)
from scans cimport SCAN_BITS as _SCAN_BITS
from windows cimport WIN_BITS as _WIN_BITS
from clock cimport CLOCK_REACH as _CLOCK_REACH


cdef list _rows(const ws_slot* table, int n):
    """(enum name, C value, name) of each row of a list, in list order."""
    return [(table[i].id.decode(), table[i].value, table[i].name.decode()) for i in range(n)]


#: every list as its C rows (enum name, value, name): what tests check slot by slot
SLOTS = {
    "counters": _rows(ws_counter_slots, N_COUNTERS),
    "reasons": _rows(ws_reasons, N_REASONS),
    "states": _rows(ws_states, N_STATES),
    "tcp_states": _rows(ws_tcp_states, N_TCP_STATES),
    "timeout_classes": _rows(ws_timeout_classes, N_TC),
    "window_kinds": _rows(ws_window_kinds, WIN_KINDS),
    "tcp_flags": _rows(ws_tcp_flags, N_TCP_FLAGS),
    "protos": _rows(ws_protos, N_PROTOS),
}

#: counter names by slot (FlowMeter.counters is in this order)
COUNTER_NAMES = tuple(name for _, _, name in SLOTS["counters"])
#: EVE flow.reason by FlowRecord.reason
REASON_NAMES = tuple(name for _, _, name in SLOTS["reasons"])
#: EVE flow.state by FlowRecord.state
STATE_NAMES = tuple(name for _, _, name in SLOTS["states"])
#: EVE tcp.state by FlowRecord.tcp_state
TCP_STATE_NAMES = tuple(name for _, _, name in SLOTS["tcp_states"])
#: idle-timeout classes in FlowMeter(timeouts=...) order; settings flow.timeouts.<name>
TIMEOUT_CLASSES = tuple(name for _, _, name in SLOTS["timeout_classes"])
#: their defaults, seconds (Suricata's flow-timeouts)
TIMEOUT_DEFAULTS = tuple(ws_timeout_defaults[i] for i in range(N_TC))
#: traffic window keys by WindowRecord.kind
WINDOW_KINDS = tuple(name for _, _, name in SLOTS["window_kinds"])
#: (bit, EVE name) of each TCP flag, lowest bit first
TCP_FLAG_NAMES = tuple((bit, name) for _, bit, name in SLOTS["tcp_flags"])
#: EVE proto name by IP protocol number (others are written as the number)
PROTO_NAMES = {number: name for _, number, name in SLOTS["protos"]}
#: IP protocols whose flows have ports
PORT_PROTOS = tuple(ws_protos[i].value for i in range(N_PROTOS) if ws_proto_ports[i])

#: bits of the scan tables' item maps (linear counting; scans.pxd)
SCAN_BITS = _SCAN_BITS
#: bits of a traffic window's distinct-count maps (linear counting; windows.pxd)
WINDOW_BITS = _WIN_BITS
#: rows the context tables' clock hand looks at for one holding nothing live before it
#: replaces a live key (clock.pxd): the tables fill before they replace anything
CLOCK_REACH = _CLOCK_REACH
