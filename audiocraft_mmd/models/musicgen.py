"""MusicGen-MMD: load a MusicGen LM (and its tokenizer) from an export folder, a ``//sig/`` or a checkpoint."""
import typing as tp
from pathlib import Path

import omegaconf
import torch
from audiocraft.models import CompressionModel, LMModel, MusicGen

from ..environment import setup_audiocraft_environment
from ..errors import ConfigurationError, MissingDataError
from .checkpoint_files import read_checkpoint
from .compression import EXPORTED_COMPRESSION_FILE, load_compression_model

EXPORTED_LM_FILE = 'state_dict.bin'  # the name MusicGen.get_pretrained(dir) reads
LM_SOLVERS = ('musicgen', 'musicgen_mmd')
_FORMS = (f"a folder written by `audiocraft-mmd export` ({EXPORTED_LM_FILE} + {EXPORTED_COMPRESSION_FILE}), "
          "//sig/SIG of a MusicGen XP, its checkpoint.th, or an exported state_dict.bin")


def read_lm_package(name: tp.Union[str, Path]) -> tp.Tuple[Path, dict]:
    """``(file, package)`` of an LM named like :class:`MusicGenMMD` accepts, in the exported layout.

    The package has ``best_state`` (the LM's state dict) and ``xp.cfg`` (its config as a YAML string),
    what ``audiocraft.utils.export.export_lm`` writes; for a training checkpoint it is built the same way.

    Raises:
        MissingDataError: nothing at ``name``.
        ConfigurationError: the file is not a MusicGen LM checkpoint.
    """
    setup_audiocraft_environment()
    from audiocraft.utils import checkpoint
    name = str(name)
    if Path(name).is_dir():
        path: tp.Optional[Path] = Path(name) / EXPORTED_LM_FILE
    else:
        resolved = checkpoint.resolve_checkpoint_path(name, use_fsdp=False)
        path = Path(resolved) if resolved is not None else None
    if path is None or not path.is_file():
        where = f" (looked for {path})" if path is not None else ""
        raise MissingDataError(f"No MusicGen LM at {name}{where}; expected {_FORMS}.")
    state = read_checkpoint(path, _FORMS)
    if not isinstance(state, dict) or 'xp.cfg' not in state or 'best_state' not in state:
        raise ConfigurationError(f"{path} holds no LM (no 'xp.cfg' and 'best_state'); expected {_FORMS}.")
    solver = omegaconf.OmegaConf.create(state['xp.cfg']).get('solver')  # exported: the config as YAML
    best = state['best_state'] if state.get('exported') else state.get('fsdp_best_state') or state['best_state']
    if solver not in LM_SOLVERS or not (state.get('exported') or 'model' in best):
        raise ConfigurationError(f"{path} is the checkpoint of a '{solver}' XP, not of a MusicGen LM; "
                                 f"expected {_FORMS}.")
    if state.get('exported'):
        return path, state
    return path, {'best_state': best['model'], 'xp.cfg': omegaconf.OmegaConf.to_yaml(state['xp.cfg'])}


def lm_from_package(package: dict, device: tp.Union[str, torch.device] = 'cpu') -> LMModel:
    """The LM of an exported-layout package in eval mode, as ``audiocraft.models.loaders.load_lm_model`` builds it."""
    from audiocraft.models import builders
    cfg = omegaconf.OmegaConf.create(package['xp.cfg'])
    cfg.device = str(device)
    cfg.dtype = 'float32' if cfg.device == 'cpu' else 'float16'
    omegaconf.OmegaConf.set_struct(cfg, False)
    for key in ('merge_text_conditions_p', 'drop_desc_p'):  # training-only keys the builder rejects
        if key in cfg.conditioners.get('args', {}):
            del cfg.conditioners.args[key]
    omegaconf.OmegaConf.set_struct(cfg, True)
    model = builders.get_lm_model(cfg)
    model.load_state_dict(package['best_state'])
    model.eval()
    model.cfg = cfg
    return model


def check_lm_matches_codec(lm_cfg: omegaconf.DictConfig, codec: CompressionModel, codec_name: str) -> None:
    """Raise :class:`ConfigurationError` when the LM of ``lm_cfg`` cannot model the tokens of ``codec``."""
    n_q = lm_cfg.get('compression_model_n_q') or codec.num_codebooks
    pairs = [('transformer_lm.card', lm_cfg.transformer_lm.card, 'cardinality', codec.cardinality),
             ('transformer_lm.n_q', lm_cfg.transformer_lm.n_q, 'codebooks', n_q),
             ('sample_rate', lm_cfg.sample_rate, 'sample rate', codec.sample_rate),
             ('channels', lm_cfg.channels, 'channels', codec.channels)]
    mismatches = [f"{key}={ours} but the tokenizer has {theirs} ({what})"
                  for key, ours, what, theirs in pairs if ours != theirs]
    if mismatches:
        raise ConfigurationError(f"The LM does not fit the tokenizer {codec_name}: " + "; ".join(mismatches) +
                                 ". Set these keys to the tokenizer's values, or use the tokenizer the LM was "
                                 "trained on.")


class MusicGenMMD(MusicGen):
    """MusicGen over an EnCodec-MMD tokenizer, loaded from what this plugin trains or exports.

    ``get_pretrained`` takes an export folder, the ``//sig/`` of a ``solver=musicgen/mmd*`` XP or its
    checkpoint. Generation defaults (sampling, top-k, guidance strength) are the LM's training config;
    ``set_generation_params`` changes only what it is given.
    """

    def __init__(self, name: str, compression_model: CompressionModel, lm: LMModel,
                 max_duration: tp.Optional[float] = None):
        super().__init__(name, compression_model, lm, max_duration)
        assert self.cfg is not None
        lm_cfg = self.cfg.generate.lm
        self._defaults = {
            'use_sampling': bool(lm_cfg.use_sampling), 'top_k': int(lm_cfg.top_k), 'top_p': float(lm_cfg.top_p),
            'temperature': float(lm_cfg.temp), 'cfg_coef': float(self.cfg.classifier_free_guidance.inference_coef),
            'two_step_cfg': False, 'duration': min(15., self.max_duration),
            'extend_stride': min(18., self.max_duration / 2),
        }
        self.set_generation_params()

    @staticmethod
    def get_pretrained(name: str, device: tp.Optional[tp.Union[str, torch.device]] = None) -> 'MusicGenMMD':
        """Load the LM and its tokenizer: from the folder itself, or the LM's ``compression_model_checkpoint``."""
        if device is None:
            device = 'cuda' if torch.cuda.device_count() else 'cpu'
        _, package = read_lm_package(name)
        lm = lm_from_package(package, device)
        exported_codec = Path(str(name)) / EXPORTED_COMPRESSION_FILE
        if Path(str(name)).is_dir() and exported_codec.is_file():
            codec_name = str(exported_codec)
        else:
            codec_name = lm.cfg.get('compression_model_checkpoint')
            if not codec_name:
                raise ConfigurationError(f"{name}: the LM names no compression_model_checkpoint; export it with "
                                         "`audiocraft-mmd export --compression C --lm L OUT_DIR` and load OUT_DIR.")
        codec = load_compression_model(codec_name, device=device)
        check_lm_matches_codec(lm.cfg, codec, codec_name)
        return MusicGenMMD(str(name), codec, lm)

    def set_generation_params(self, use_sampling: tp.Optional[bool] = None, top_k: tp.Optional[int] = None,
                              top_p: tp.Optional[float] = None, temperature: tp.Optional[float] = None,
                              duration: tp.Optional[float] = None, cfg_coef: tp.Optional[float] = None,
                              two_step_cfg: tp.Optional[bool] = None, extend_stride: tp.Optional[float] = None):
        """As ``MusicGen.set_generation_params``; a parameter left to None keeps the LM's training default."""
        if not hasattr(self, '_defaults'):  # MusicGen.__init__'s own call: __init__ sets the defaults after it
            return
        given = dict(use_sampling=use_sampling, top_k=top_k, top_p=top_p, temperature=temperature,
                     duration=duration, cfg_coef=cfg_coef, two_step_cfg=two_step_cfg, extend_stride=extend_stride)
        params = {key: self._defaults[key] if value is None else value for key, value in given.items()}
        if params['use_sampling'] and not params['top_p'] and not 0 < params['top_k'] <= self.lm.card:
            raise ValueError(f"top_k={params['top_k']} must be in [1, {self.lm.card}] (the LM's cardinality).")
        if params['duration'] <= 0:
            raise ValueError(f"duration={params['duration']} must be positive (seconds).")
        super().set_generation_params(**params)
