"""EnCodec-MMD at 32 kHz: the codec experiments of the paper, 8 GPUs per XP.

    AUDIOCRAFT_MMD_DSET=audio/<your_music_dset> dora -P audiocraft_mmd grid mmd.encodec_32khz

The dataset config (``config/dset/audio/<name>.yaml`` in a config dir Hydra sees) is read from
``$AUDIOCRAFT_MMD_DSET``; without it every XP stops at start asking for one.
"""
from audiocraft.environment import AudioCraftEnvironment

from ._codecs import PAPER_WEIGHT, TABLE2_CODECS, codec_binding
from ._explorers import CompressionMMDExplorer

WEIGHTS = [0, 10, 100, PAPER_WEIGHT, 1e4]  # Fig. 2: 0 is the baseline EnCodec, 1e3 the paper's choice
ABLATION_KERNELS = ['squared_inverse', 'linear', 'quadratic']  # Table 3, beside multiscale_gaussian


@CompressionMMDExplorer
def explorer(launcher):
    partitions = AudioCraftEnvironment.get_slurm_partitions(['team', 'global'])
    launcher.slurm_(gpus=8, partition=partitions)
    launcher.bind_(codec_binding())  # the solver, and $AUDIOCRAFT_MMD_DSET when set

    # Fig. 2: MMD weight sweep, delay alignment, multi-scale Gaussian kernel.
    with launcher.job_array():
        for weight in WEIGHTS:
            launcher({'mmd.weight': weight})

    # The paper's sample count (5 aligned frames per clip, 1280 samples per GPU) against every frame of
    # each clip (47, 12,032 samples per GPU: a lower-variance MMD at ~88x the kernel evaluations).
    launcher({'mmd.weight': PAPER_WEIGHT, 'mmd.frames_per_item': None})

    # Table 2 codecs: MMD matched to the delay pattern (above, at 1e3) vs parallel matching
    # (mmd.musicgen_small trains an LM on each).
    launcher(TABLE2_CODECS['mmd_parallel'])

    # Table 3: kernel ablation at the paper's weight (the paper adapts the weight per kernel so the
    # MMD magnitudes stay comparable: adjust mmd.weight here after a first look at the mmd column).
    with launcher.job_array():
        for kernel in ABLATION_KERNELS:
            launcher({'mmd.weight': PAPER_WEIGHT, 'mmd.kernel': kernel})
