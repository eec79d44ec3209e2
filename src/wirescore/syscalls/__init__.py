"""System calls beside packets: `wirescore run --syscalls [SCRIPT | ssh://HOST]` and
`--syscalls-file FILE`.

    wirescore.bt   the shipped bpftrace script (tracepoints only; its output format)
    parse.py       one output line -> one event (or a counted bad line)
    source.py      where lines come from: bpftrace here, over ssh, or a recording
    windows.py     per-second process and host windows (catalog.PROCESS_FEATURES)
    alerts.py      process profiles (rules with unit: process) and their EVE alerts
    run.py         the run: lines -> windows -> profiles -> EVE outputs and callbacks
"""
