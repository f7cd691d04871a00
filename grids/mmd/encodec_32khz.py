"""EnCodec-MMD at 32 kHz: the codec experiments of the paper, 8 GPUs per XP.

    AUDIOCRAFT_MMD_DSET=audio/<your_music_dset> dora -P audiocraft_mmd grid mmd.encodec_32khz

The dataset config (``config/dset/audio/<name>.yaml`` in a config dir Hydra sees) is read from
``$AUDIOCRAFT_MMD_DSET``; without it every XP stops at start asking for one.
"""
from audiocraft.environment import AudioCraftEnvironment

from audiocraft_mmd.slurm import xp_slurm_resources

from ._codecs import PAPER_WEIGHT, TABLE2_CODECS, codec_binding
from ._explorers import CompressionMMDExplorer

WEIGHTS = [0, 10, 100, PAPER_WEIGHT, 1e4]  # Fig. 2: 0 is the baseline EnCodec, 1e3 the paper's choice
# Table 3, beside multiscale_gaussian at 1e3. The paper adapts each kernel's weight "so that the magnitudes of
# the losses stayed approximately consistent across kernels": these give each kernel the mean |MMD| of the
# multi-scale Gaussian at 1e3, measured on the demo's small codec with the paper's 1280 samples (10 draws):
#   uv run python benchmarks/kernel_magnitudes.py --model audiocraft_mmd/demo/start_codec.th \
#       --manifest ~/.cache/audiocraft-mmd/demo-data/sectoid-16000hz/egs/train
# Magnitudes depend on the latent's scale: re-measure on your baseline XP (--model //sig/SIG) and set them here.
ABLATION_WEIGHTS = {'squared_inverse': 1.59e3, 'linear': 0.288, 'quadratic': 1.28e-3}


@CompressionMMDExplorer
def explorer(launcher):
    partitions = AudioCraftEnvironment.get_slurm_partitions(['team', 'global'])
    # 8 GPUs per XP, from the solver config's slurm block
    launcher.slurm_(**xp_slurm_resources(codec_binding()), partition=partitions)
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

    # Table 3: kernel ablation, each kernel at the weight that matches the Gaussian's loss magnitude (above).
    with launcher.job_array():
        for kernel, weight in ABLATION_WEIGHTS.items():
            launcher({'mmd.weight': weight, 'mmd.kernel': kernel})
