"""`wirescore train` and `wirescore eval`: thin click commands over wirescore.train and
wirescore.evaluate. Registered on the main group at the end of wirescore/cli.py; heavy
libraries (scikit-learn, onnxruntime, matplotlib) are imported inside the commands.
"""
from __future__ import annotations

import json
import logging

from pathlib import Path

import click

from wirescore.cli_error import CliError
from wirescore.errors import WirescoreError

log = logging.getLogger("wirescore")

EPILOG_TRAIN = """\b
Examples:
  # unsupervised, on traffic taken as normal (the first 8 minutes of a capture)
  wirescore train -r normal.pcap --until 2024-01-01T00:08:00Z -o models/site-iforest
  # the same from a flow export; One-Class SVM
  wirescore run -r normal.pcap -l logs/ --no-detect --export flows.csv
  wirescore train --flows flows.csv --model ocsvm -o models/site-ocsvm
  # supervised, with a labels file (format: ../shared/data/eval/README.md)
  wirescore train -r capture.pcap --labels labels.csv --model rf -o models/site-rf
  # then
  wirescore rules check models/site-iforest.yaml
  wirescore run -r new.pcap -l logs/ --rules rules/,models/site-iforest.yaml

\b
Writes PREFIX.onnx (the model: float32 input [rows, features] after the
profile's transform; ocsvm has a StandardScaler inside), PREFIX.json (the
sidecar: feature columns, preprocessing, SHA-256 of the input file, labels and
training matrix, validation metrics, threshold, library versions) and
PREFIX.yaml (a profile that uses the model, with a fixed threshold).
Needs: pip install 'wirescore[train]'.
"""

EPILOG_EVAL = """\b
Examples:
  wirescore eval -r mix-public.pcap --labels mix-public.labels.csv
  wirescore eval -r mix-public.pcap --labels mix-public.labels.csv \\
      --rules rules/flow-context-hst.yaml,models/mix-iforest.yaml \\
      --after 1704067680 --plots plots/ --json > eval.json

\b
Reports, per flow profile, on the flows that end after --after:
  ROC AUC, average precision, recall at --fpr false-positive rate (from the
  profile's per-flow scores); the confusion matrix at the profile's threshold
  (score > threshold when it is fixed; the flows that raised an alert when it is
  adaptive); recall per attack type. Then the flow profiles combined, ranked as
  benchmarks/eval_mix.py ranks them (each flow's highest percentile over the
  profiles), with the flows any profile predicts. Alert counts cover the whole run;
  window profiles have no per-flow score and only count their alerts.
  Labels join flows by protocol, the two endpoints (addresses only for ICMP) and
  time overlap within 1 s. Metrics need numpy only; --plots needs matplotlib.
"""


def _fail(exc: WirescoreError) -> CliError:
    return CliError(str(exc))


def _split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _params(pairs) -> dict:
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise WirescoreError(f"--param {pair!r}: write KEY=VALUE, e.g. n_estimators=300")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise WirescoreError(f"--param {pair!r}: VALUE is not a number, word or "
                                 "true/false") from None
    return out


@click.command("train", epilog=EPILOG_TRAIN)
@click.option("-r", "--read", "read_path", metavar="CAPTURE",
              type=click.Path(exists=True, dir_okay=False),
              help="Capture (pcap/pcapng) to take flows from; it is run through the flow "
                   "core with the settings of -c. Give this or --flows.")
@click.option("--flows", "flows_path", metavar="EXPORT",
              type=click.Path(exists=True, dir_okay=False),
              help="A flow export (`wirescore run --export`, .csv or .parquet) instead of a "
                   "capture.")
@click.option("-o", "--out", "out_prefix", required=True, metavar="PREFIX",
              help="Where to write: PREFIX.onnx, PREFIX.json, PREFIX.yaml (folders are "
                   "created).")
@click.option("--labels", "labels_path", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="Labels CSV (proto, endpoint_a, endpoint_b, first_ts, last_ts, attack; "
                   "the format of ../shared/data/eval). With it the default model is "
                   "supervised (rf); an unsupervised model then fits the benign flows only. "
                   "Validation metrics use it.")
@click.option("--model", "kind", type=click.Choice(["iforest", "ocsvm", "rf", "gbt"]),
              help="iforest: IsolationForest; ocsvm: One-Class SVM (RBF) - both "
                   "unsupervised, fitted on traffic taken as normal; rf: random forest; "
                   "gbt: gradient-boosted trees - both supervised, need --labels. "
                   "Default: rf with --labels, else iforest.")
@click.option("--like", "like_path", metavar="PROFILE",
              type=click.Path(exists=True, dir_okay=False),
              help="Profile whose feature columns, transform, category, suppression and "
                   "allowlist the new profile copies. Default: the shipped "
                   "flow-context-hst.yaml.")
@click.option("--features", "features_text", metavar="A,B,...",
              help="Feature columns (names from `wirescore features`), comma-separated; "
                   "overrides those of --like.")
@click.option("--since", metavar="TIME",
              help="Train on flows ending at or after TIME (epoch seconds or ISO 8601, e.g. "
                   "2024-01-01T00:00:00Z). Default: from the start.")
@click.option("--until", metavar="TIME",
              help="Train on flows ending at or before TIME, e.g. the end of a period known "
                   "to be clean. Default: to the end.")
@click.option("--validation", type=click.FloatRange(0, 1, max_open=True), default=0.2,
              show_default=True,
              help="Share of the rows held out for validation: the last ones by flow end.")
@click.option("--threshold-quantile", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.995, show_default=True,
              help="Unsupervised models: the profile's fixed threshold is this quantile of "
                   "the held-out (benign) scores, i.e. about 1 - q of normal flows alert.")
@click.option("--threshold", type=float,
              help="Fixed threshold for the profile instead (a score: -decision_function "
                   "for iforest/ocsvm, attack probability for rf/gbt; default 0.5 there).")
@click.option("--id", "profile_id", type=click.IntRange(1, 2**31 - 1), default=9200001,
              show_default=True, help="The profile's id (alert.signature_id); unique among "
                                      "the profiles you load together.")
@click.option("--name", help="The profile's name (alert.signature). Default: names the model "
                             "and the input.")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Seed of the estimator and of any sampling: same input, same model.")
@click.option("--param", "param_pairs", multiple=True, metavar="KEY=VALUE",
              help="Estimator parameter (scikit-learn's name), repeatable, e.g. "
                   "--param n_estimators=300 --param nu=0.05.")
@click.option("--max-rows", type=click.IntRange(100), default=20000, show_default=True,
              help="ocsvm only: fit on at most this many rows (seeded sample); its cost "
                   "grows with the square of the rows.")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Settings YAML (`wirescore config`) for the flow core when reading a "
                   "capture: use the same as the runs that will score with the model.")
@click.option("--force", is_flag=True, help="Overwrite existing PREFIX.* files.")
@click.option("--csv", "csv_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              help="A public dataset's CSV in its own layout (e.g. UNSW_NB15_training-set."
                   "csv) instead of a capture: needs --feature-set and --label-column; the "
                   "profile written computes the same columns from packets.")
@click.option("--feature-set", "feature_set", metavar="NAME",
              help="The feature set to train on (`wirescore features --set`), e.g. "
                   "unsw-nb15: the CSV's columns with --csv; computed from the packets "
                   "with -r.")
@click.option("--label-column", metavar="COLUMN",
              help="With --csv: the label column (0 / normal / benign = benign).")
def train_cmd(read_path, flows_path, out_prefix, labels_path, kind, like_path, features_text,
              since, until, validation, threshold_quantile, threshold, profile_id, name, seed,
              param_pairs, max_rows, config_path, force, csv_path=None, feature_set=None,
              label_column=None):
    """Fit a model on flows and write it as ONNX, with a sidecar and a profile.

    Unsupervised (iforest, ocsvm): learns what the given traffic looks like and
    scores flows by how far they fall from it; give traffic you take as normal.
    Supervised (rf, gbt): learns attack vs benign from a labels file. Features
    are the profile's columns after its transform; the split between fit and
    validation is by time. The written profile runs with `wirescore run --rules`.
    """
    try:
        if csv_path:
            _report(_train_csv(csv_path, feature_set, label_column, out_prefix, kind,
                               validation, threshold, profile_id, name, seed, param_pairs,
                               force))
            return
        _train(read_path, flows_path, out_prefix, labels_path, kind, like_path, features_text,
               since, until, validation, threshold_quantile, threshold, profile_id, name, seed,
               param_pairs, max_rows, config_path, force, feature_set)
    except WirescoreError as exc:
        raise _fail(exc) from None


def _train(read_path, flows_path, out_prefix, labels_path, kind, like_path, features_text,
           since, until, validation, threshold_quantile, threshold, profile_id, name, seed,
           param_pairs, max_rows, config_path, force, feature_set=None):
    from wirescore.flowset import flows_from_capture, parse_time, read_export
    from wirescore.rules import default_rules_dir, load_file

    if bool(read_path) == bool(flows_path):
        raise WirescoreError("give one input: -r CAPTURE or --flows EXPORT")
    from wirescore.train import need_training_libraries, sha256_file, train

    need_training_libraries()            # before a long capture run
    params = _params(param_pairs)
    t_since = parse_time(since, "--since") if since else None
    t_until = parse_time(until, "--until") if until else None
    like_file = like_path or str(default_rules_dir() / "flow-context-hst.yaml")
    like = next((p for p in load_file(like_file) if p.unit == "flow"), None)
    if like is None:
        raise WirescoreError(f"{like_file}: no flow profile to copy features from")
    features = _split_list(features_text) or list(like.features)
    from wirescore.catalog import BY_NAME

    transform = like.transform
    if feature_set:                      # the set's columns, computed from the packets
        from wirescore.csvtrain import model_features

        if not read_path:
            raise WirescoreError("--feature-set trains from a capture (-r) or a CSV (--csv)")
        features, transform = model_features(feature_set), "none"
    unknown = [f for f in features if f not in BY_NAME and not feature_set]
    if unknown:
        raise WirescoreError(f"--features: unknown flow feature column {unknown[0]!r} "
                             "(see `wirescore features`)")
    labels = None
    if labels_path:
        from wirescore.labels import Labels

        labels = Labels(labels_path)
    source = read_path or flows_path
    if read_path:
        flows, summary = flows_from_capture(read_path, config_path,
                                            columns=None if feature_set else features,
                                            feature_set=feature_set)
        log.info("%s", summary.line())
    else:
        flows = read_export(flows_path)
    result = train(flows, features, out_prefix, kind=kind or ("rf" if labels else "iforest"),
                   labels=labels, transform=transform, since=t_since, until=t_until,
                   validation=validation, threshold_quantile=threshold_quantile,
                   threshold=threshold, profile_id=profile_id, name=name, seed=seed,
                   params=params, max_rows=max_rows, like=like,
                   source_sha256=sha256_file(source), force=force)
    _report(result)


def _train_csv(csv_path, feature_set, label_column, out_prefix, kind, validation, threshold,
               profile_id, name, seed, param_pairs, force):
    """train --csv: a dataset CSV's set columns (wirescore.csvtrain), supervised."""
    if not feature_set or not label_column:
        raise WirescoreError(f"{csv_path}: --csv needs --feature-set NAME and "
                             "--label-column COLUMN")
    if kind in ("iforest", "ocsvm"):
        raise WirescoreError(f"--model {kind}: --csv trains a classifier (rf or gbt)")
    from wirescore.csvtrain import read_dataset_csv
    from wirescore.rules import default_rules_dir, load_file
    from wirescore.train import need_training_libraries, train

    need_training_libraries()
    flows, labels, features = read_dataset_csv(csv_path, feature_set, label_column)
    like = next((p for p in load_file(default_rules_dir() / "flow-context-hst.yaml")
                 if p.unit == "flow"), None)
    return train(flows, features, out_prefix, kind=kind or "rf", labels=labels,
                 transform="none", validation=validation, threshold=threshold,
                 profile_id=profile_id, seed=seed, params=_params(param_pairs),
                 name=name or f"WIRESCORE {kind or 'rf'} model trained on "
                              f"{Path(csv_path).name} ({feature_set})",
                 like=like, source_sha256=labels.sha256, force=force)


def _report(result) -> None:
    """What train wrote and measured, on stdout."""
    s = result.sidecar
    t, v = s["training"], s["validation"]
    click.echo(f"fitted {s['estimator']['class']} on {t['fit_rows']} flows "
               f"({t['fit_on']}), {len(s['features'])} features; held out "
               f"{t['validation_rows']} ({t['split']})")
    line = f"validation: {v['rows']} flows, {v.get('above_threshold', 0):.2%} above threshold " \
           f"{s['threshold']['fixed']:.6g} ({s['threshold']['how']})"
    if "roc_auc" in v:
        line += (f"; attack flows {v['attack_rows']}, ROC AUC {v['roc_auc']}, AP "
                 f"{v['average_precision']}, recall@1%FPR {v['recall_at_1pct_fpr']}")
    click.echo(line)
    click.echo(f"onnx check: {s['onnx_check']['rows']} rows, max |onnx - sklearn| = "
               f"{s['onnx_check']['max_abs_diff']:.3g}")
    for p in (result.onnx_path, result.sidecar_path, result.profile_path):
        click.echo(f"wrote {p}")


@click.command("eval", epilog=EPILOG_EVAL)
@click.option("-r", "--read", "read_path", required=True, metavar="CAPTURE",
              type=click.Path(exists=True, dir_okay=False),
              help="Capture (pcap/pcapng) to run the pipeline over.")
@click.option("--labels", "labels_path", required=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="Labels CSV: one row per attack flow (proto, endpoint_a, endpoint_b, "
                   "first_ts, last_ts, attack), as ../shared/data/eval/mix-public.labels.csv; "
                   "every other flow is benign.")
@click.option("--rules", "rules_text", metavar="PATH[,PATH]",
              help="Profiles to evaluate: YAML files or folders, comma-separated (ids must be "
                   "unique). Default: the shipped profiles.")
@click.option("--after", metavar="TIME",
              help="Count only flows ending after TIME (epoch seconds or ISO 8601), e.g. the "
                   "end of the period a model was trained on. Default: every flow.")
@click.option("--fpr", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="False-positive rate at which recall is reported (0.01 = 1 %).")
@click.option("--plots", "plots_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write DIR/roc.png and DIR/pr.png (needs matplotlib).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (every number, per attack type too) instead of "
                   "the table.")
@click.option("-l", "--log-dir", "log_dir", type=click.Path(file_okay=False),
              help="Keep the run's eve.json here. Default: a temporary folder.")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Settings YAML (`wirescore config`) for the run.")
def eval_cmd(read_path, labels_path, rules_text, after, fpr, plots_dir, as_json, log_dir,
             config_path):
    """Measure detection profiles on a labelled capture.

    Runs the full pipeline (flow core, every profile, as `wirescore run` does) and
    compares each flow profile's scores and alerts, and the profiles combined, with
    the labels.
    """
    try:
        from wirescore.evaluate import evaluate, format_report, plotting_available, write_plots
        from wirescore.flowset import parse_time
        from wirescore.rules import default_rules_dir, load_paths

        if plots_dir:
            plotting_available()          # fail before the run, not after it
        t_after = parse_time(after, "--after") if after else None
        profiles = load_paths(_split_list(rules_text) or [default_rules_dir()])
        if not any(p.unit == "flow" for p in profiles):
            raise WirescoreError(f"{rules_text or default_rules_dir()}: no flow profile to "
                                 "evaluate")
        result, curves = evaluate(read_path, labels_path, profiles, after=t_after, fpr=fpr,
                                  config_path=config_path, log_dir=log_dir)
        if plots_dir:
            result["plots"] = [str(p) for p in write_plots(curves, plots_dir)]
    except WirescoreError as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        click.echo(format_report(result))
        for p in result.get("plots", []):
            click.echo(f"wrote {p}")
