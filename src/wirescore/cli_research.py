"""`wirescore model ...`: research commands over trained models (compare, export; heavy
imports happen inside the commands)."""
from __future__ import annotations

import click

from wirescore.cli_error import CliError
from wirescore.errors import WirescoreError

EPILOG_COMPARE = """\b
Examples:
  wirescore model compare --csv UNSW_NB15_training-set.csv --feature-set unsw-nb15 \\
      --label-column label -o bench/
  wirescore model compare -r ../shared/data/eval/mix-public.pcap \\
      --labels ../shared/data/eval/mix-public.labels.csv --feature-set unsw-nb15 -o bench/
"""


@click.group("model")
def model_group():
    """Research on trained models: benchmark classifiers, export pipelines."""


@model_group.command("compare", epilog=EPILOG_COMPARE)
@click.option("--csv", "csv_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              help="A dataset CSV in its own layout (with --feature-set, --label-column).")
@click.option("-r", "--read", "capture", metavar="CAPTURE",
              type=click.Path(exists=True, dir_okay=False),
              help="A capture instead, with --labels.")
@click.option("--labels", "labels_path", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="With -r: the attack flows (the format of ../shared/data/eval).")
@click.option("--feature-set", metavar="NAME", help="The feature set (`wirescore features "
                                                    "--set`); with -r, computed from packets.")
@click.option("--label-column", metavar="COLUMN", help="With --csv: the label column.")
@click.option("--features", "features_text", metavar="A,B,...",
              help="With -r and no --feature-set: catalogue columns (default: the shipped "
                   "flow-context-hst profile's).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for NAME.onnx, compare.json/.txt, the PNGs and best.yaml.")
@click.option("--models", "models_text", metavar="A,B,...",
              default="xgboost,lightgbm,rf,gbt,dtree,knn,logreg", show_default=True,
              help="The classifiers to compare.")
@click.option("--test-share", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.3, show_default=True, help="Share of rows held out (stratified).")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--no-plots", is_flag=True, help="Skip the PNGs.")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Settings YAML for the flow core when reading a capture.")
def compare_cmd(csv_path, capture, labels_path, feature_set, label_column, features_text,
                out_dir, models_text, test_share, seed, no_plots, config_path):
    """Benchmark seven classifiers side by side on one split; the best by F1.

    XGBoost, LightGBM, random forest, gradient boosting, decision tree, KNN and
    logistic regression: F1, precision, recall, ROC AUC, fit time; each exported to
    ONNX and checked against the library within 1e-5 (an error otherwise); plots.
    """
    from wirescore.compare_run import load_table, run_compare
    from wirescore.train import need_training_libraries

    names = [m.strip() for m in models_text.split(",") if m.strip()]
    features = [f.strip() for f in (features_text or "").split(",") if f.strip()]
    try:
        need_training_libraries()
        table = load_table(csv_path, feature_set, label_column, capture, labels_path,
                           features or None, config_path)
        report = run_compare(table, out_dir, names, test_share, seed, plots=not no_plots)
    except WirescoreError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"{report['source']}: {report['rows']} rows ({report['attack_rows']} attack), "
               f"{len(report['features'])} features; {report['split']}")
    click.echo(report["table"])
    click.echo(f"best by F1: {report['best']}; wrote {out_dir}/ (compare.json, "
               f"{', '.join(report.get('plots', []))}, {report['profile']})")


@model_group.command("export")
@click.argument("model_path", metavar="PIPELINE", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out_prefix", required=True, metavar="PREFIX",
              help="Write PREFIX.onnx and PREFIX.yaml (a profile running it).")
@click.option("--sample", "sample_path", required=True, metavar="CSV",
              type=click.Path(exists=True, dir_okay=False),
              help="Rows to check the ONNX model on: a CSV naming the feature columns.")
@click.option("--feature-set", metavar="NAME",
              help="The pipeline's columns are this set's model columns, in order.")
@click.option("--features", "features_text", metavar="A,B,...",
              help="Or catalogue columns, in the pipeline's order.")
@click.option("--id", "profile_id", type=click.IntRange(1, 2**31 - 1), default=9200201,
              show_default=True, help="The profile's id.")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Alert at this attack probability.")
@click.option("--force", is_flag=True, help="Overwrite existing PREFIX.* files.")
def export_cmd(model_path, out_prefix, sample_path, feature_set, features_text, profile_id,
               threshold, force):
    """Export a fitted scikit-learn Pipeline (joblib/pickle) to ONNX, preprocessing inside.

    Imputer, scaler, one-hot encoder, PCA and the classifier go into one graph, checked
    against the original's predict_proba on the sample rows (1e-5). Loading a pickle
    runs code from it: export only pipelines you trust.
    """
    from wirescore.pipeline_export import export_pipeline
    from wirescore.train import need_training_libraries

    features = [f.strip() for f in (features_text or "").split(",") if f.strip()]
    try:
        need_training_libraries()
        got = export_pipeline(model_path, out_prefix, sample_path, feature_set, features,
                              profile_id, threshold, force)
    except WirescoreError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"{' -> '.join(got['steps'])}: checked on {got['rows']} rows, max |onnx - "
               f"original| = {got['max_abs_diff']:.3g}")
    click.echo(f"wrote {got['onnx']}\nwrote {got['profile']}")
