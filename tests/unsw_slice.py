"""A small CSV in UNSW_NB15_training-set.csv's layout (its real header), made from
labelled shared captures by `wirescore run --export --feature-set unsw-nb15`: a SYN
scan's flows (label 1, attack_cat Reconnaissance) and CIC-IDS2017 Monday traffic
(documented benign, label 0), interleaved."""
from __future__ import annotations

import csv

from conftest import run_wirescore

HEADER = ("id,dur,proto,service,state,spkts,dpkts,sbytes,dbytes,rate,sttl,dttl,sload,dload,"
          "sloss,dloss,sinpkt,dinpkt,sjit,djit,swin,stcpb,dtcpb,dwin,tcprtt,synack,ackdat,"
          "smean,dmean,trans_depth,response_body_len,ct_srv_src,ct_state_ttl,ct_dst_ltm,"
          "ct_src_dport_ltm,ct_dst_sport_ltm,ct_dst_src_ltm,is_ftp_login,ct_ftp_cmd,"
          "ct_flw_http_mthd,ct_src_ltm,ct_srv_dst,is_sm_ips_ports,attack_cat,label").split(",")


def export_set(tmp_path, pcap, tag):
    out = tmp_path / f"{tag}.csv"
    run_wirescore("run", "-r", pcap, "-l", tmp_path / f"logs-{tag}", "--no-detect",
                  "--export", out, "--feature-set", "unsw-nb15")
    with open(out, newline="") as fh:
        return list(csv.DictReader(fh))


def make_slice(tmp_path, shared):
    labeled = shared / "pcaps" / "labeled"
    attack = export_set(tmp_path, labeled / "scans/ndpi-synscan.pcap", "attack")
    benign = export_set(tmp_path, labeled / "netml-cicids2017-demo/demo.pcap", "benign")
    path = tmp_path / "UNSW_NB15_training-set.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        rows = [(r, "Reconnaissance", 1) for r in attack] + [(r, "Normal", 0) for r in benign]
        rows.sort(key=lambda t: hash(t[0]["flow_id"]) % 97)     # classes interleaved
        for i, (r, cat, label) in enumerate(rows, 1):
            w.writerow([i, *(r[c] for c in HEADER[1:-2]), cat, label])
    return path, len(attack), len(benign)


