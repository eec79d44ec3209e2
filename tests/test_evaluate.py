"""`wirescore eval`: metrics by hand and against scikit-learn, the labels join, the command.

The metrics are numpy only; scikit-learn (the training extra) is only the reference.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA, run_wirescore, shared_available
from wirescore.evaluate import (average_precision, confusion, precision_recall_curve,
                                recall_at_fpr, roc_auc, roc_curve)
from wirescore.errors import WirescoreError
from wirescore.flowset import parse_time, read_export
from wirescore.labels import Labels

MIXED = FIXTURES / "zeek-wikipedia.pcap"          # TCP and UDP flows
EVAL = SHARED_DATA / "eval"
PROFILE = """\
id: 4400001
name: eval test
features: [flow.bytes_toserver, flow.duration, flow.pkts_toclient]
model: {name: hst, params: {n_trees: 5, height: 4, window_size: 5, seed: 1}}
threshold: {fixed: 0.5}
warmup: 5
suppress: {seconds: 0}
"""

# scores and labels worked out by hand:
#   positives 0.9, 0.8; negatives 0.8, 0.3, 0.1
#   ROC AUC: 0.9 beats 3 negatives, 0.8 ties one (1/2) and beats 2 -> 5.5 / 6
#   AP: threshold 0.9 -> P 1, R 1/2; threshold 0.8 -> P 2/3, R 1 -> 1/2 * 1 + 1/2 * 2/3
S = [0.9, 0.8, 0.8, 0.3, 0.1]
Y = [1, 0, 1, 0, 0]


def test_metrics_by_hand():
    assert roc_auc(S, Y) == pytest.approx(5.5 / 6)
    assert average_precision(S, Y) == pytest.approx(0.5 + 0.5 * 2 / 3)
    fpr, tpr, thr = roc_curve(S, Y)
    assert fpr.tolist() == pytest.approx([0, 0, 1 / 3, 2 / 3, 1])
    assert tpr.tolist() == pytest.approx([0, 0.5, 1, 1, 1])
    assert thr[0] == math.inf and thr[1:].tolist() == [0.9, 0.8, 0.3, 0.1]
    precision, recall, _ = precision_recall_curve(S, Y)
    assert precision.tolist() == pytest.approx([1, 2 / 3, 2 / 4, 2 / 5])
    assert recall.tolist() == pytest.approx([0.5, 1, 1, 1])
    # 3 negatives: fpr 0 allows none above the threshold -> t = 0.8, only 0.9 is above
    assert recall_at_fpr(S, Y, 0.0) == (0.5, 0.8)
    # fpr 0.34 allows one (0.8) -> t = 0.3
    assert recall_at_fpr(S, Y, 0.34) == (1.0, 0.3)
    assert recall_at_fpr(S, Y, 1.0) == (1.0, -math.inf)
    assert confusion([True, True, False, False, True], Y) == {"tp": 1, "fp": 2, "fn": 1,
                                                              "tn": 1}


def test_metrics_edge_cases():
    assert math.isnan(roc_auc([0.1, 0.2], [0, 0]))
    assert math.isnan(average_precision([0.1, 0.2], [0, 0]))
    assert roc_auc([0.5, 0.5, 0.5], [0, 1, 0]) == 0.5            # all tied: chance
    assert all(math.isnan(v) for v in recall_at_fpr([0.3], [1]))
    with pytest.raises(ValueError):
        roc_auc([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError):
        roc_auc([0.1, 0.2], [0, 2])


def test_metrics_equal_sklearn():
    metrics = pytest.importorskip("sklearn.metrics",
                                  reason="scikit-learn is the reference here "
                                         "(pip install 'wirescore[train]')")
    rng = np.random.default_rng(7)
    for n, ties in ((50, 5), (2000, 40), (3000, 3000)):
        y = (rng.random(n) < 0.15).astype(int)
        s = np.round(rng.random(n) + 0.5 * y, 3) if ties == 3000 else \
            rng.integers(0, ties, n) + 0.7 * y * rng.random(n)
        assert roc_auc(s, y) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
        assert average_precision(s, y) == pytest.approx(
            metrics.average_precision_score(y, s), abs=1e-12)
        fpr, tpr, _ = metrics.roc_curve(y, s, drop_intermediate=False)
        ours_fpr, ours_tpr, _ = roc_curve(s, y)
        np.testing.assert_allclose(ours_fpr, fpr)
        np.testing.assert_allclose(ours_tpr, tpr)
        # recall at 1 % FPR: the best recall on sklearn's ROC curve with fpr <= 1 %
        rec, _ = recall_at_fpr(s, y, 0.01)
        assert rec == pytest.approx(tpr[fpr <= 0.01].max())


def test_parse_time():
    assert parse_time("1704067680") == 1704067680.0
    assert parse_time("2024-01-01T00:08:00Z") == 1704067680.0
    assert parse_time("2024-01-01T01:08:00.5+01:00") == 1704067680.5
    assert parse_time("2024-01-01T00:08:00.000000+0000") == 1704067680.0
    with pytest.raises(WirescoreError, match="--after 'soon'"):
        parse_time("soon", "--after")


# ---------------------------------------------------------------- labels

@pytest.fixture(scope="module")
def wiki_flows(tmp_path_factory):
    out = tmp_path_factory.mktemp("wiki") / "flows.csv"
    run_wirescore("run", "-r", MIXED, "-l", out.parent / "logs", "--no-detect",
                  "--export", out)
    return read_export(out)


def label_rows(flows, picks, shift=0.0):
    """Label CSV text for the flows at indices picks, endpoints swapped (b first), ICMP
    with port 0 as in mix-public.labels.csv."""
    lines = ["flow_id,proto,endpoint_a,endpoint_b,first_ts,last_ts,packets,bytes,label,"
             "attack,source_file,instance,community_id,bg_collision"]

    def ep(ip, port):
        ip = f"[{ip}]" if ":" in ip else ip
        return f"{ip}:{max(port, 0) if flows.proto[i] in (6, 17, 132) else 0}"

    for n, (i, attack) in enumerate(picks, 1):
        a = ep(flows.dest_ip[i], int(flows.dest_port[i]))
        b = ep(flows.src_ip[i], int(flows.src_port[i]))
        lines.append(f"{n},{flows.proto[i]},{a},{b},{flows.start[i] + shift:.6f},"
                     f"{flows.end[i] + shift:.6f},1,1,1,{attack},x.pcap,1,,0")
    return "\n".join(lines) + "\n"


def pick(flows):
    """Two TCP flows and one UDP flow of the capture (it holds no ICMP)."""
    tcp = np.flatnonzero(flows.proto == 6)
    udp = np.flatnonzero(flows.proto == 17)
    return [(int(tcp[0]), "web"), (int(tcp[-1]), "web"), (int(udp[0]), "dns")]


def test_icmp_labels_match_on_addresses_only(tmp_path):
    """ICMP label rows carry port 0 and no community_id: the address pair and the time
    decide, whatever type/code the flow has; IPv6 in brackets, any spelling."""
    from wirescore.flowset import FlowSet

    flows = FlowSet("synthetic", np.array([1, 2, 3], dtype=np.uint64), np.array([1, 58, 6]),
                    ["10.0.0.1", "2001:db8::1", "10.0.0.1"], np.array([-1, -1, 80]),
                    ["10.0.0.128", "2001:db8::2", "10.0.0.128"], np.array([-1, -1, 443]),
                    ["", "", ""], np.array([100.0, 100.0, 100.0]), np.array([101.0] * 3))
    path = tmp_path / "l.csv"
    path.write_text("proto,endpoint_a,endpoint_b,first_ts,last_ts,attack\n"
                    "1,10.0.0.128:0,10.0.0.1:0,100.5,101.5,sweep\n"
                    "58,[2001:0db8:0:0:0:0:0:2]:0,[2001:db8::1]:0,99,100.2,tunnel\n"
                    "6,10.0.0.128:443,10.0.0.1:81,100,101,scan\n")
    assert Labels(path).attacks(flows) == ["sweep", "tunnel", ""]     # port 81 != 80


def test_labels_join_by_key_and_time(tmp_path, wiki_flows):
    path = tmp_path / "labels.csv"
    picks = pick(wiki_flows)
    path.write_text(label_rows(wiki_flows, picks))
    labels = Labels(path)
    attacks = labels.attacks(wiki_flows)
    for i, attack in picks:
        assert attacks[i] == attack
    assert len(labels.matched_rows) == 3 == labels.rows
    # the same rows 5 s later match nothing (beyond the 1 s slack)
    path.write_text(label_rows(wiki_flows, picks, shift=5.0))
    assert not any(Labels(path).attacks(wiki_flows))


def test_bad_labels_are_one_line(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("proto,endpoint_a\n6,1.2.3.4:5\n")
    with pytest.raises(WirescoreError, match=r"l\.csv: labels lack column\(s\) endpoint_b"):
        Labels(path)
    path.write_text("proto,endpoint_a,endpoint_b,first_ts,last_ts,attack\n"
                    "tcp,1.2.3.4:5,5.6.7.8:9,1,2,x\n")
    with pytest.raises(WirescoreError, match=r"l\.csv:2: bad proto"):
        Labels(path)


# ---------------------------------------------------------------- the command

def test_eval_command_json_matches_the_export(tmp_path, wiki_flows):
    labels = tmp_path / "labels.csv"
    picks = pick(wiki_flows)
    labels.write_text(label_rows(wiki_flows, picks))
    rules = tmp_path / "p.yaml"
    rules.write_text(PROFILE)
    proc = run_wirescore("eval", "-r", MIXED, "--labels", labels, "--rules", rules, "--json",
                         "-l", tmp_path / "logs")
    result = json.loads(proc.stdout)
    assert result["flows"] == len(wiki_flows) and result["attack_flows"] == 3
    assert result["label_rows_matched"] == 3
    (p,) = result["profiles"]
    assert p["id"] == 4400001 and set(p["per_attack"]) == {"web", "dns"}
    assert p["per_attack"]["web"]["flows"] == 2
    # the same numbers from a plain run's export
    export = tmp_path / "x.csv"
    run_wirescore("run", "-r", MIXED, "-l", tmp_path / "l2", "--rules", rules, "--export",
                  export)
    flows = read_export(export)
    y = Labels(labels).y(Labels(labels).attacks(flows))
    s = flows.columns["score.4400001"]
    assert p["roc_auc"] == pytest.approx(round(roc_auc(s, y), 4))
    assert p["average_precision"] == pytest.approx(round(average_precision(s, y), 4))
    assert p["confusion"] == confusion(s > 0.5, y)
    assert p["confusion_basis"].startswith("score > 0.5")
    c = p["confusion"]
    assert sum(c.values()) == len(flows)
    # --after keeps only the flows ending after it
    cut = float(np.median(flows.end))
    later = json.loads(run_wirescore("eval", "-r", MIXED, "--labels", labels, "--rules", rules,
                                     "--json", "--after", repr(cut)).stdout)
    assert later["scored_flows"] == int((flows.end > cut).sum())


def test_eval_table_and_plots(tmp_path, wiki_flows):
    labels = tmp_path / "labels.csv"
    labels.write_text(label_rows(wiki_flows, pick(wiki_flows)))
    rules = tmp_path / "p.yaml"
    rules.write_text(PROFILE)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        proc = run_wirescore("eval", "-r", MIXED, "--labels", labels, "--rules", rules,
                             "--plots", tmp_path / "plots", check=False)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1
        assert "--plots needs matplotlib" in proc.stderr
        return
    proc = run_wirescore("eval", "-r", MIXED, "--labels", labels, "--rules", rules,
                         "--plots", tmp_path / "plots")
    assert "ROC AUC" in proc.stdout and "4400001" in proc.stdout
    for name in ("roc.png", "pr.png"):
        data = (tmp_path / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_eval_errors_are_one_line(tmp_path):
    rules = tmp_path / "p.yaml"
    rules.write_text(PROFILE)
    bad = tmp_path / "labels.csv"
    bad.write_text("nothing,useful\n1,2\n")
    for args, fragment in (
            (["--labels", bad, "--rules", rules], "labels lack column(s)"),
            (["--labels", bad, "--rules", rules, "--after", "later"], "--after 'later'"),
    ):
        proc = run_wirescore("eval", "-r", MIXED, *args, check=False)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("wirescore: error:") and fragment in proc.stderr


def test_help_explains_every_option():
    for command in ("train", "eval"):
        out = run_wirescore(command, "--help").stdout
        assert "Examples:" in out
        options = [line.split()[0] for line in out.splitlines()
                   if line.strip().startswith("-")]
        assert len(options) >= 8
        # every option line carries help text (click puts it on the same or next line)
        assert "  -r, --read" in out and "--labels" in out


def test_window_profiles_count_their_alerts(tmp_path, wiki_flows):
    from conftest import read_eve

    labels = tmp_path / "labels.csv"
    labels.write_text(label_rows(wiki_flows, pick(wiki_flows)))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "flow.yaml").write_text(PROFILE)
    (rules / "window.yaml").write_text("""\
id: 4400101
name: window eval test
unit: window
window: {seconds: 1, key: src}
features: [window.distinct_dports, window.syn_ratio, window.packets]
model: {name: hst, params: {n_trees: 5, height: 4, window_size: 2, seed: 1}}
threshold: {fixed: 0.0}
warmup: 0
suppress: {seconds: 0}
""")
    result = json.loads(run_wirescore("eval", "-r", MIXED, "--labels", labels, "--rules",
                                      rules, "--json", "-l", tmp_path / "logs").stdout)
    (w,) = result["window_profiles"]
    written = [e for e in read_eve(tmp_path / "logs") if e["event_type"] == "alert"
               and e["alert"]["signature_id"] == 4400101]
    assert w["id"] == 4400101 and w["alerts"] == len(written) > 0
    assert [p["id"] for p in result["profiles"]] == [4400001]


def test_eval_leaves_out_a_disabled_profile(tmp_path, wiki_flows):
    """A profile with enabled: false among --rules is checked, not run, and not in the
    result (it has no scores), beside one that runs."""
    labels = tmp_path / "labels.csv"
    labels.write_text(label_rows(wiki_flows, pick(wiki_flows)))
    on, off = tmp_path / "on.yaml", tmp_path / "off.yaml"
    on.write_text(PROFILE)
    off.write_text(PROFILE.replace("id: 4400001", "id: 4400002") + "enabled: false\n")
    proc = run_wirescore("eval", "-r", MIXED, "--labels", labels, "--rules", f"{on},{off}",
                         "--json", "-l", tmp_path / "logs")
    assert [p["id"] for p in json.loads(proc.stdout)["profiles"]] == [4400001]
    assert "4400002" in proc.stderr and "enabled: false" in proc.stderr


@pytest.mark.skipif(not shared_available(), reason="needs ../shared/data/eval")
def test_eval_reports_the_profiles_combined_as_eval_mix_and_the_readme(tmp_path):
    """`wirescore eval` on the public mix after its training period: each shipped flow
    profile and the profiles combined get the numbers benchmarks/eval_mix.py gives, and
    the combined ones are those the README quotes."""
    import re
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "benchmarks"))
    import eval_mix

    want = eval_mix.evaluate_mix(EVAL)
    train_end = json.loads((EVAL / "mix-public.summary.json").read_text())["train_end_ts"]
    args = ("eval", "-r", EVAL / "mix-public.pcap", "--labels", EVAL / "mix-public.labels.csv",
            "--after", repr(train_end))
    got = json.loads(run_wirescore(*args, "--json").stdout)
    rows = {f"score.{p['id']}": p for p in got["profiles"]}
    rows["combined"] = got["combined"]
    assert sorted(rows) == sorted(want["profiles"])
    assert got["combined"]["profiles"] == [9100002, 9100004, 9100003]
    for col, m in want["profiles"].items():
        assert rows[col]["roc_auc"] == m["roc_auc"], col
        assert rows[col]["average_precision"] == m["average_precision"], col
        assert rows[col]["recall_at_fpr"] == m["recall_at_1pct_fpr"], col
    # the combined confusion: the flows over any fixed threshold (eval_mix's operating point)
    c = got["combined"]["confusion"]
    assert round(c["tp"] / (c["tp"] + c["fn"]), 4) == want["over_a_threshold"]["recall"]
    assert round(c["fp"] / (c["fp"] + c["tn"]), 5) == \
        want["over_a_threshold"]["false_positive_rate"]
    table = run_wirescore(*args).stdout
    assert re.search(r"^combined\s+max pct\s+0\.\d{3}", table, re.M)
    readme = (REPO / "README.md").read_text()
    quoted = re.search(r"combined reach ROC AUC ([\d.]+), average precision ([\d.]+) and\s+"
                       r"recall ([\d.]+) at 1 %", readme)
    assert quoted, "README quotes the shipped profiles' combined figures"
    combined = got["combined"]
    assert [float(x) for x in quoted.groups()] == [
        round(combined["roc_auc"], 3), round(combined["average_precision"], 3),
        round(combined["recall_at_fpr"], 3)]
