"""Figures of codebook dependence."""
import itertools
import typing as tp
from pathlib import Path

import numpy as np

from ..plotting import pyplot, save_figure
from .dependence import DependenceResult, GroupedDependence


def plot_dependence(results: tp.Mapping[str, tp.Union[DependenceResult, GroupedDependence]],
                    path: tp.Union[str, Path], title: str = '') -> Path:
    """One heatmap per alignment (per group of codes for a pattern) of the per-pair I (MI over joint
    entropy, %), with the null beside it."""
    plt = pyplot()
    panels: tp.Dict[str, DependenceResult] = {}
    for name, result in results.items():
        if isinstance(result, GroupedDependence):
            panels.update({f'{name} {group.describe()}': r for group, r in zip(result.groups, result.results)})
        else:
            panels[name] = result
    results = panels
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.4), squeeze=False)
    for ax, (alignment, result) in zip(axes[0], results.items()):
        matrix = np.array(result.pair_tc_percent, dtype=float)
        np.fill_diagonal(matrix, np.nan)
        image = ax.imshow(matrix, cmap='magma')
        K = matrix.shape[0]
        bright = np.nanmin(matrix) + 0.6 * (np.nanmax(matrix) - np.nanmin(matrix))
        for i, j in itertools.permutations(range(K), 2):  # the cells off the diagonal
            color = 'k' if matrix[i, j] > bright else 'w'  # readable on light and dark cells
            ax.text(j, i, f'{matrix[i, j]:.3f}', ha='center', va='center', color=color, fontsize=8)
        names = [f'cb{k}' for k in (result.codebooks or range(K))]  # as in DependenceResult.format_table
        ax.set_xticks(range(K), names)
        ax.set_yticks(range(K), names)
        null = '' if result.null_tc_percent is None else f', raw null {result.null_tc_percent:.3f}%'
        ax.set_title(f'{alignment}: I = {result.tc_percent:.3f}% ({result.correction}{null})\n'
                     f'{result.num_samples} samples', fontsize=9)
        fig.colorbar(image, ax=ax, label='I (%)')
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
