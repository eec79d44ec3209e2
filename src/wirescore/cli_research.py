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


EPILOG_EXPORT = """\b
Examples:
  # scikit-learn: a fitted Pipeline saved with joblib
  wirescore model export pipe.joblib --feature-set unsw-nb15 \\
      --sample UNSW_NB15_training-set.csv -o models/pipe
  # PyTorch, TorchScript: torch.jit.script(model).save("mlp.pt"); one logit per row,
  # trained on standardised columns (scaler.json: {"mean": [...], "std": [...]})
  wirescore model export mlp.pt --feature-set unsw-nb15 --scaler scaler.json \\
      --activation sigmoid --sample flows.csv -o models/mlp
  # PyTorch, weights only: torch.save(model.state_dict(), "mlp.pth") and a function
  # make_mlp() in mlp.py that builds the untrained module; two class logits
  wirescore model export mlp.pth --factory mlp.py:make_mlp --features \\
      flow.duration,flow.pkts_toserver,flow.bytes_toserver --activation softmax \\
      --column 1 --sample flows.csv -o models/mlp
  # then
  wirescore run -r capture.pcap -l logs/ --rules models/mlp.yaml
"""


@model_group.command("export", epilog=EPILOG_EXPORT)
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out_prefix", required=True, metavar="PREFIX",
              help="Write PREFIX.onnx and PREFIX.yaml (a profile running it).")
@click.option("--sample", "sample_path", required=True, metavar="CSV",
              type=click.Path(exists=True, dir_okay=False),
              help="Rows to check the ONNX model on: a CSV naming the feature columns "
                   "(e.g. `wirescore run --export FILE.csv [--feature-set NAME]`).")
@click.option("--feature-set", metavar="NAME",
              help="The model's columns are this set's model columns, in order.")
@click.option("--features", "features_text", metavar="A,B,...",
              help="Or catalogue columns, in the model's order.")
@click.option("--framework", type=click.Choice(["auto", "sklearn", "torch"]), default="auto",
              show_default=True,
              help="What MODEL is; auto: torch for .pt/.pth/.ts files, torch.save's and "
                   "torch.jit.save's zip archives, or any torch option below; else "
                   "scikit-learn (joblib/pickle).")
@click.option("--factory", metavar="MODULE:CALLABLE",
              help="torch: for a state dict, the function (no arguments) that builds the "
                   "untrained module; MODULE may be a FILE.py.")
@click.option("--scaler", "scaler_path", metavar="JSON", type=click.Path(exists=True,
                                                                       dir_okay=False),
              help='torch: standardise inside the graph, (x - mean) / std: {"mean": [...], '
                   '"std": [...]} in the column order (or keyed by feature name).')
@click.option("--activation", type=click.Choice(["none", "sigmoid", "softmax"]),
              help="torch: turns the output into the score: sigmoid for one logit per "
                   "row, softmax for class logits (with --column). Default: none.")
@click.option("--column", type=click.IntRange(0), default=None,
              help="torch: the output column that is the score (an output with several; "
                   "1 for the attack class of two).")
@click.option("--id", "profile_id", type=click.IntRange(1, 2**31 - 1), default=9200201,
              show_default=True, help="The profile's id.")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Alert at this score (an attack probability for a classifier).")
@click.option("--force", is_flag=True, help="Overwrite existing PREFIX.* files.")
def export_cmd(model_path, out_prefix, sample_path, feature_set, features_text, framework,
               factory, scaler_path, activation, column, profile_id, threshold, force):
    """Export a fitted scikit-learn Pipeline or a PyTorch model to ONNX, preprocessing
    inside, and write a profile that runs it.

    scikit-learn (joblib/pickle): imputer, scaler, one-hot encoder, PCA and the
    classifier go into one graph, checked against predict_proba on the sample rows.

    PyTorch: a TorchScript file (torch.jit.script / trace, then .save), a state dict
    (torch.save(model.state_dict())) with --factory, or a whole torch.save'd module
    (its class importable). The module takes float32 [rows, features] in the order of
    --feature-set / --features; --scaler standardises first, --activation and --column
    make its output the score. Checked against torch's own output on the sample rows.

    The check fails the export when ONNX and the original differ by more than 1e-5.
    Loading a pickle (a joblib file, a whole torch module) runs code from it: export
    only files you trust.
    """
    from wirescore.torch_export import is_torch_file

    features = [f.strip() for f in (features_text or "").split(",") if f.strip()]
    torch_options = [name for name, value in (("--factory", factory), ("--scaler", scaler_path),
                                              ("--activation", activation),
                                              ("--column", column)) if value is not None]
    if framework == "auto":
        framework = "torch" if torch_options or is_torch_file(model_path) else "sklearn"
    try:
        if framework == "torch":
            from wirescore.torch_export import export_torch

            got = export_torch(model_path, out_prefix, sample_path, feature_set, features,
                               factory=factory, scaler=scaler_path,
                               activation=activation or "none", column=column,
                               profile_id=profile_id, threshold=threshold, force=force)
            compared = "torch"
        else:
            if torch_options:
                raise WirescoreError(f"{', '.join(torch_options)}: only for a PyTorch model")
            from wirescore.pipeline_export import export_pipeline
            from wirescore.train import need_training_libraries

            need_training_libraries()
            got = export_pipeline(model_path, out_prefix, sample_path, feature_set,
                                  features, profile_id, threshold, force)
            compared = "original"
    except WirescoreError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"{' -> '.join(got['steps'])}: checked on {got['rows']} rows, max |onnx - "
               f"{compared}| = {got['max_abs_diff']:.3g}")
    click.echo(f"wrote {got['onnx']}\nwrote {got['profile']}")
