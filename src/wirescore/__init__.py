"""wirescore: real-time network anomaly detection beside Suricata and Zeek.

Heavy modules (numpy, pcapy, the compiled core) are imported lazily by the
submodules that need them, so `wirescore --help` starts fast.
"""
__version__ = "0.1.0"
