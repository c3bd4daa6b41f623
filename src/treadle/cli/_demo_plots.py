"""Figures and data splits for the demo (matplotlib without pyplot: no GUI backend, thread safe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Split:
    """Scaled train / validation / test parts of one dataset."""

    x_train: Any
    x_val: Any
    x_test: Any
    y_train: Any
    y_val: Any
    y_test: Any

    @staticmethod
    def of(x: Any, y: Any, seed: int, stratify: bool) -> Split:
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        strat = y if stratify else None
        x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=strat)
        strat = y_rest if stratify else None
        x_train, x_val, y_train, y_val = train_test_split(
            x_rest, y_rest, test_size=0.25, random_state=seed, stratify=strat
        )
        scaler = StandardScaler().fit(x_train)
        return Split(
            scaler.transform(x_train), scaler.transform(x_val), scaler.transform(x_test), y_train, y_val, y_test
        )


def confusion_figure(matrix: Any, labels: list[str], title: str) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.4, 3.8), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    ticks = list(range(len(labels)))
    ax.set_xticks(ticks, labels, rotation=30, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i, j in np.ndindex(matrix.shape):
        color = "white" if matrix[i, j] > threshold else "black"
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color)
    fig.colorbar(image, ax=ax)
    return fig


def scatter_figure(actual: Any, predicted: Any, title: str) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.4, 4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(actual, predicted, s=12, alpha=0.7)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(title)
    return fig
