"""The tiny CPU codec with and without the MMD, about a minute per XP: the Slurm workflow on a workstation.

    audiocraft-mmd slurm-local up            # or any Slurm with a partition of CPU nodes
    AUDIOCRAFT_MMD_DATA=egs dora -P audiocraft_mmd grid mmd.debug_cpu

``$AUDIOCRAFT_MMD_DATA`` is a folder with ``train/``, ``valid/`` and ``evaluate/`` manifests (each made with
``audiocraft-mmd manifest AUDIO_DIR OUT_DIR``); without it every XP stops at start asking for the data.
Each job asks for what ``solver=compression/encodec_mmd_debug`` says in its ``slurm`` block (one CPU,
4 GB), not Dora's per-GPU defaults. Preempted jobs (USR2) are requeued and resume exactly.
"""
import os
import typing as tp
from pathlib import Path

from audiocraft.environment import AudioCraftEnvironment

from audiocraft_mmd.slurm import xp_slurm_resources

from ._explorers import CompressionMMDExplorer

SOLVER = 'compression/encodec_mmd_debug'
SPLITS = ('train', 'valid', 'evaluate')
#: 2 epochs of 8 updates, an MMD step every 4 batches; the evaluate stage runs after the last epoch.
SCHEDULE = {'optim.epochs': 2, 'optim.updates_per_epoch': 8, 'mmd.num_batches': 4}
WEIGHTS = [0, 1e3]  # the baseline (MMD measured, not trained) and the paper's weight


def data_binding() -> tp.Dict[str, str]:
    """``datasource.<split>`` for every split found under ``$AUDIOCRAFT_MMD_DATA``."""
    root = os.environ.get('AUDIOCRAFT_MMD_DATA')
    if not root:
        return {}
    return {f'datasource.{split}': str(Path(root).resolve() / split) for split in SPLITS}


@CompressionMMDExplorer
def explorer(launcher):
    partitions = AudioCraftEnvironment.get_slurm_partitions(['team', 'global'])
    launcher.slurm_(**xp_slurm_resources({'solver': SOLVER}), partition=partitions)
    launcher.bind_({'solver': SOLVER, **data_binding(), **SCHEDULE})
    with launcher.job_array():
        for weight in WEIGHTS:
            launcher({'mmd.weight': weight})
