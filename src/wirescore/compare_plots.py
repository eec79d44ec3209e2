"""The benchmark's PNGs (matplotlib, Agg backend; the research extra):

- confusion.png: each classifier's confusion matrix on the held-out rows (counts);
- roc.png: the ROC curves, one line a classifier, AUC in the legend;
- importance.png: the best classifier's top features: its own importances (trees,
  boosted trees), |coefficient| on standardised features (logistic regression), or
  permutation importance (F1 drop, 3 repeats, seeded) when it has neither (KNN);
- comparison.png: F1, precision, recall and ROC AUC side by side.

write_plots(results, chosen, X_test, y_test, features, folder) -> the paths written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from wirescore.errors import WirescoreError

TOP = 15                  # features shown in importance.png


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise WirescoreError("plots need matplotlib: pip install 'wirescore[research]'"
                             ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def importances(model, X: np.ndarray, y: np.ndarray, seed: int = 42) -> tuple[np.ndarray, str]:
    """(importance per feature, how it was measured) of a fitted classifier."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(final, "feature_importances_"):
        return np.asarray(final.feature_importances_, dtype=np.float64), "model importance"
    if hasattr(final, "coef_"):
        return np.abs(np.ravel(final.coef_)), "|coefficient| (standardised features)"
    from sklearn.inspection import permutation_importance

    rows = min(len(X), 2000)
    got = permutation_importance(model, X[:rows], y[:rows], scoring="f1", n_repeats=3,
                                 random_state=seed, n_jobs=1)
    return np.asarray(got.importances_mean), "permutation importance (F1 drop)"


def write_plots(results: Sequence, chosen, X_test: np.ndarray, y_test: np.ndarray,
                features: Sequence[str], folder: Path) -> list[Path]:
    """The four PNGs in folder (module docstring)."""
    from sklearn.metrics import confusion_matrix, roc_curve

    plt = _pyplot()
    folder = Path(folder)
    out = []
    cols = 4
    rows = (len(results) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, r in zip(axes.ravel(), results):
        cm = confusion_matrix(y_test, r.pred, labels=[0, 1])
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center")
        ax.set_title(f"{r.name}{' (best)' if r is chosen else ''}")
        ax.set_xticks([0, 1], ["benign", "attack"])
        ax.set_yticks([0, 1], ["benign", "attack"])
        ax.set_xlabel("predicted")
    for ax in axes.ravel()[len(results):]:
        ax.axis("off")
    out.append(_save(fig, folder / "confusion.png", plt))

    fig, ax = plt.subplots(figsize=(6, 5))
    for r in results:
        fpr, tpr, _ = roc_curve(y_test, r.proba)
        ax.plot(fpr, tpr, label=f"{r.name} (AUC {r.roc_auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=8)
    out.append(_save(fig, folder / "roc.png", plt))

    imp, how = importances(chosen.model, X_test, y_test)
    top = np.argsort(-imp, kind="stable")[:TOP][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(top) + 1.2))
    ax.barh([features[i] for i in top], imp[top])
    ax.set_title(f"{chosen.name}: {how}")
    out.append(_save(fig, folder / "importance.png", plt))

    fig, ax = plt.subplots(figsize=(8, 4))
    names = [r.name for r in results]
    width = 0.2
    for k, metric in enumerate(("f1", "precision", "recall", "roc_auc")):
        ax.bar(np.arange(len(names)) + (k - 1.5) * width,
               [getattr(r, metric) for r in results], width, label=metric)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, ncol=4)
    out.append(_save(fig, folder / "comparison.png", plt))
    return out


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
