"""The training report: report.json (figures), report.md (for people), plots."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen needed
import matplotlib.pyplot as plt  # noqa: E402


def plot_history(history: dict, path: Path) -> None:
    """Training curves: loss and validation accuracy per epoch, float then QAT."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for phase in ("float", "qat"):
        for key, ax in (("train_loss", axes[0]), ("val_loss", axes[0]), ("val_acc", axes[1])):
            values = history.get(f"{phase}_{key}")
            if values:
                ax.plot(values, label=f"{phase} {key.replace('_', ' ')}")
    axes[0].set_title("loss")
    axes[1].set_title("validation accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(matrix: list[list[int]], classes: list[str], title: str, path: Path) -> None:
    """A confusion matrix with counts in the cells."""
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(classes), 1 + 0.6 * len(classes)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(out: Path, report: dict, history: dict) -> None:
    """Write report.json, report.md and the plots into `out`."""
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    test = report["test"]
    plot_history(history, out / "training.png")
    plot_confusion(test["confusion_int8"], test["classes"], "int8 (test)", out / "confusion_int8.png")
    if test.get("confusion_float"):
        plot_confusion(test["confusion_float"], test["classes"], "float (test)", out / "confusion_float.png")
    lines = [
        f"# Training report: {report['model']} on {report['data']}",
        "",
        f"- target: micro:bit {report.get('target', 'v1').upper()}",
        f"- held-out test windows: {test['n']} (split by recording: {report['split']})",
        f"- accuracy float: {test['accuracy_float']:.4f}",
        f"- accuracy int8: {test['accuracy_int8']:.4f}",
        f"- argmax agreement float vs int8: {test['agreement']:.4f}",
        f"- quantization: {report['quantization']} (int8 validation accuracy {report['quantization_candidates']})",
        f"- unknown-gesture threshold: {report['threshold']}% confidence, calibrated on validation: "
        f"it flags {_pct(report.get('threshold_val_flagged'))} of validation windows (all known gestures) "
        "unknown; a higher threshold flags more unknown gestures and more known ones "
        "(measure both with 'mbnn eval MODEL DATA --unknown CLASS')",
        f"- parameters: {report['params']}, weight bytes: {report['weight_bytes']}, MACs per inference: {report['macs']}",
        f"- training seconds: {report['train_seconds']:.1f}",
        "",
        "| class | n | float | int8 |",
        "| --- | --- | --- | --- |",
    ]
    for name, row in test["per_class"].items():
        lines.append(f"| {name} | {row['n']} | {row.get('accuracy_float', float('nan')):.3f} | {row['accuracy_int8']:.3f} |")
    lines += _selection_lines(report.get("selection"))
    lines += ["", "![training curves](training.png)", "", "![int8 confusion](confusion_int8.png)", ""]
    (out / "report.md").write_text("\n".join(lines))


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _selection_lines(sel: dict | None) -> list[str]:
    """The model choice: the candidates' fold scores and the reason."""
    if not sel:
        return []
    lines = ["", "## Model choice", "", f"{sel['winner']}: {sel['reason']}."]
    if not sel.get("candidates"):
        return lines
    lines += ["", f"Cross-validation: {sel['folds']} folds by {sel['fold_by']} "
              f"({sel['plan']['epochs']} float epochs each), {sel['seconds']:.1f} s.", "",
              "| candidate | fold int8 accuracy | mean | MACs | weight bytes | budget |",
              "| --- | --- | --- | --- | --- | --- |"]
    for c in sel["candidates"]:
        folds = ", ".join(f"{f:.3f}" for f in c["folds"])
        lines.append(f"| {c['name']} | {folds} | {c['mean']:.3f} | {c['macs']} | {c['weight_bytes']} | {c['budget']} |")
    for r in sel.get("rejected", []):
        lines.append(f"| {r['name']} | not tried | | {r['macs']} | {r['weight_bytes']} | {r['budget']} |")
    return lines
