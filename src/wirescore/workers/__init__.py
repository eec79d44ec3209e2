"""Live capture by several worker processes on one interface (--workers N).

    pool      WorkerPool: forks the workers, watches them, stops them (signals), and
              turns their output into one run
    body      what each forked worker runs: open its capture, drop privileges, run
    relay     one eve.json from N workers: complete lines from each worker's pipe
    stats     the workers' counters (sent as data) summed into stats events and a Summary

wirescore.session starts a pool for `wirescore run -i IFACE --workers N`.
"""
