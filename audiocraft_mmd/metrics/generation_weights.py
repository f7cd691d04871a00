"""Start-of-run checks for the external weights of audiocraft's generation metrics (FAD, KL, CLAP).

AudioCraft builds these evaluators only when the evaluate stage first runs, so a missing weight
used to surface after hours of training. :func:`check_generation_metric_weights` finds every
missing piece up front and names the file and the config key (where each goes: docs/MUSICGEN_MMD.md).
"""
import importlib.util
import os
import typing as tp
from pathlib import Path

import omegaconf

from ..errors import MissingDataError

#: PaSST checkpoints that ``hear21passt`` fetches into ``$TORCH_HOME/hub/checkpoints``, by
#: ``metrics.kld.passt.pretrained_length`` (None: the 10 s model).
PASST_CHECKPOINTS = {
    10: 'passt-s-f128-p16-s10-ap.476-swa.pt',
    20: 'passt-s-f128-20sec-p16-s10-ap.474-swa.pt',
    30: 'passt-s-f128-30sec-p16-s10-ap.473-swa.pt',
}
CLAP_TOKENIZER = 'roberta-base'  # audiocraft's CLAP metric loads this tokenizer from the Hugging Face hub
DOCS = 'docs/MUSICGEN_MMD.md#evaluation-weights'


def resolve_reference_path(path: str) -> Path:
    """``//reference/...`` mapped to audiocraft's reference dir (``$AUDIOCRAFT_REFERENCE_DIR`` or the team file)."""
    from audiocraft.environment import AudioCraftEnvironment
    if str(path).startswith('//reference'):
        return Path(str(AudioCraftEnvironment.get_reference_dir()) + str(path)[len('//reference'):])
    return Path(path)


def passt_checkpoint(pretrained_length: tp.Optional[float]) -> Path:
    """Where hear21passt looks for (and otherwise downloads) the PaSST weights of ``pretrained_length``."""
    import torch
    length = int(pretrained_length) if pretrained_length in (20, 30) else 10
    return Path(torch.hub.get_dir()) / 'checkpoints' / PASST_CHECKPOINTS[length]


def _offline() -> bool:
    return any(os.environ.get(key, '').lower() in ('1', 'true', 'yes')
               for key in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'))


def _missing_module(name: str, install: str) -> tp.List[str]:
    return [] if importlib.util.find_spec(name) else [f"the Python package `{name}` is not installed ({install})"]


def _fad_problems(cfg: omegaconf.DictConfig) -> tp.List[str]:
    tf = cfg.metrics.fad.tf
    problems = []
    if not tf.get('bin'):
        problems.append("metrics.fad.tf.bin is not set: give the folder of a google-research clone that holds "
                        "frechet_audio_distance/ (see audiocraft.metrics.fad)")
    elif not (Path(tf.bin) / 'frechet_audio_distance').is_dir():
        problems.append(f"metrics.fad.tf.bin={tf.bin} has no frechet_audio_distance/ folder")
    model = resolve_reference_path(tf.model_path)
    if not model.exists():
        problems.append(f"metrics.fad.tf.model_path={tf.model_path}: the VGGish checkpoint {model} does not exist")
    python = os.environ.get('TF_PYTHON_EXE')
    if python and not Path(python).exists():
        problems.append(f"TF_PYTHON_EXE={python} (the TensorFlow interpreter FAD runs) does not exist")
    return problems


def _kld_problems(cfg: omegaconf.DictConfig) -> tp.List[str]:
    kld = cfg.metrics.kld
    if kld.model != 'passt':
        return [f"metrics.kld.model={kld.model}: audiocraft only provides 'passt'"]
    problems = _missing_module('hear21passt', "pip install hear21passt")
    weights = passt_checkpoint(kld.passt.get('pretrained_length'))
    if not weights.exists():
        problems.append(f"metrics.kld.passt.pretrained_length={kld.passt.get('pretrained_length')}: the PaSST "
                        f"checkpoint {weights} does not exist (hear21passt would download it mid-run)")
    return problems


def _clap_problems(cfg: omegaconf.DictConfig) -> tp.List[str]:
    text = cfg.metrics.text_consistency
    if text.model != 'clap':
        return [f"metrics.text_consistency.model={text.model}: audiocraft only provides 'clap'"]
    problems = _missing_module('laion_clap', "pip install laion_clap")
    model = resolve_reference_path(text.clap.model_path)
    if not model.exists():
        problems.append(f"metrics.text_consistency.clap.model_path={text.clap.model_path}: the CLAP checkpoint "
                        f"{model} does not exist")
    if _offline():
        from huggingface_hub import try_to_load_from_cache
        if not isinstance(try_to_load_from_cache(CLAP_TOKENIZER, 'vocab.json'), str):
            problems.append(f"the {CLAP_TOKENIZER} tokenizer that the CLAP metric loads is not in the Hugging Face "
                            "cache and the hub is offline")
    return problems


CHECKS: tp.Dict[str, tp.Callable[[omegaconf.DictConfig], tp.List[str]]] = {
    'fad': _fad_problems,
    'kld': _kld_problems,
    'text_consistency': _clap_problems,
}


def check_generation_metric_weights(cfg: omegaconf.DictConfig) -> None:
    """Raise :class:`MissingDataError` listing every missing weight of the metrics ``evaluate.metrics`` enables.

    Each line names the config key and the file; disable a metric with ``evaluate.metrics.<name>=false``.
    """
    enabled = cfg.get('evaluate', {}).get('metrics', {})
    problems = [f"evaluate.metrics.{name}=true, but {problem}"
                for name, check in CHECKS.items() if enabled.get(name) for problem in check(cfg)]
    on = [name for name in CHECKS if enabled.get(name)]
    if on and cfg.get('datasource', {}).get('evaluate') is None:
        problems.append(f"evaluate.metrics.{on[0]}=true, but datasource.evaluate is null: the metrics compare "
                        "generations with that split (give it, or disable the metrics)")
    if problems:
        raise MissingDataError("The generation metrics cannot run:\n  - " + "\n  - ".join(problems) +
                               f"\nPlace the weights as {DOCS} says, or disable a metric with "
                               "evaluate.metrics.<name>=false.")
