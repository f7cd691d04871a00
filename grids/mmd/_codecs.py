"""The codec XPs of mmd.encodec_32khz that the LM grid tokenizes with, and their Dora signatures."""
import os
import typing as tp

CODEC_SOLVER = 'compression/encodec_mmd_32khz'
PAPER_WEIGHT = 1e3

#: Table 2 tokenizers: the baseline EnCodec (MMD weight 0), EnCodec-MMD matched to the delay pattern
#: (the paper's) and EnCodec-MMD matched to the parallel pattern.
TABLE2_CODECS: tp.Dict[str, dict] = {
    'baseline': {'mmd.weight': 0},
    'mmd_delay': {'mmd.weight': PAPER_WEIGHT},
    'mmd_parallel': {'mmd.weight': PAPER_WEIGHT, 'mmd.alignment': 'parallel'},
}


def codec_dset() -> tp.Optional[str]:
    """The codec grid's dataset config, from ``$AUDIOCRAFT_MMD_DSET``."""
    return os.environ.get('AUDIOCRAFT_MMD_DSET') or None


def codec_binding() -> dict:
    """What mmd.encodec_32khz binds for every XP (the solver, then the dataset when given)."""
    dset = codec_dset()
    return {'solver': CODEC_SOLVER, **({'dset': dset} if dset else {})}


def codec_signature(overrides: dict) -> str:
    """Dora signature of the mmd.encodec_32khz XP with ``overrides`` (the same argv the codec grid launches)."""
    from audiocraft_mmd.train import main
    argv = main.value_to_argv(codec_binding()) + main.value_to_argv(overrides)
    return main.get_xp(argv).sig
