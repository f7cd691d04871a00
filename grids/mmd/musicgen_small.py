"""MusicGen-small LMs of the paper's Table 2, each on the tokens of its mmd.encodec_32khz codec XP.

    AUDIOCRAFT_MMD_DSET=audio/<your_music_dset> dora -P audiocraft_mmd grid mmd.musicgen_small

Train the codecs first (``dora grid mmd.encodec_32khz`` with the same ``$AUDIOCRAFT_MMD_DSET``): each
LM's ``compression_model_checkpoint`` is the ``//sig/`` of its codec XP, computed from that grid's
own overrides. The LM's music dataset (a MusicGen .json beside each audio file) is
``$AUDIOCRAFT_MMD_LM_DSET``, or ``$AUDIOCRAFT_MMD_DSET`` when unset. Add
``evaluate.metrics.fad=true`` etc. once the metric weights are in place (docs/MUSICGEN_MMD.md).
"""
import os

from audiocraft.environment import AudioCraftEnvironment

from audiocraft_mmd.lm_patterns import LM_PATTERNS
from audiocraft_mmd.slurm import xp_slurm_resources

from ._codecs import TABLE2_CODECS, codec_dset, codec_signature
from ._explorers import MusicGenMMDExplorer

#: Table 2 rows: (tokenizer, pattern).
TABLE2 = [
    ('baseline', 'delay'),      # "Delay"
    ('mmd_parallel', 'delay'),  # "Delay w/ MMD-Parallel"
    ('mmd_delay', 'delay'),     # "Delay w/ MMD" (MusicGen-MMD)
    ('baseline', 'flatten'),    # "Flatten"
]


@MusicGenMMDExplorer
def explorer(launcher):
    partitions = AudioCraftEnvironment.get_slurm_partitions(['team', 'global'])
    # 32 GPUs, batch 192, as the paper: the solver config's slurm block
    launcher.slurm_(**xp_slurm_resources({'solver': 'musicgen/mmd'}), partition=partitions)
    launcher.bind_(solver='musicgen/mmd')
    dset = os.environ.get('AUDIOCRAFT_MMD_LM_DSET') or codec_dset()
    if dset:
        launcher.bind_(dset=dset)

    for tokenizer, pattern in TABLE2:
        sig = codec_signature(TABLE2_CODECS[tokenizer])
        launcher({'compression_model_checkpoint': f'//sig/{sig}', **LM_PATTERNS[pattern]})
