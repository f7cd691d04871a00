"""Dora entry point of the plugin: ``dora -P audiocraft_mmd run|grid|launch ...``.

It mirrors ``audiocraft.train`` with the plugin's solver registry (``solver: compression_mmd`` and
every stock audiocraft solver) and the plugin's config tree layered over audiocraft's.
"""
import logging
import os
import sys

from .environment import AudiocraftConfigError, setup_audiocraft_environment, silence_dependency_notices

try:
    setup_audiocraft_environment()
except AudiocraftConfigError as exc:  # offline without a cached config tree: the message says what to do
    sys.exit(f"error: {exc}")
silence_dependency_notices()  # this module is the entry point of `dora -P audiocraft_mmd ...`

from pathlib import Path  # noqa: E402
import typing as tp  # noqa: E402

import flashy  # noqa: E402
import omegaconf  # noqa: E402
from dora import get_xp, is_xp  # noqa: E402
from dora.hydra import HydraMain  # noqa: E402

# Imported on purpose: `audiocraft.utils.checkpoint` resolves //sig/ paths through it.
from audiocraft import train as audiocraft_train  # noqa: E402
from audiocraft.environment import AudioCraftEnvironment  # noqa: E402
from audiocraft.utils.cluster import get_slurm_parameters  # noqa: E402

from . import solvers  # noqa: E402
from .datasource import SPLITS, check_datasource, check_datasource_files  # noqa: E402
from .environment import audiocraft_config_dir, plugin_config_dir  # noqa: E402
from .errors import USER_ERRORS, ConfigurationError, run_checks  # noqa: E402
from .models.checkpoint_files import check_resume_checkpoint  # noqa: E402
from .overrides import compose_checked  # noqa: E402



def get_solver(cfg: omegaconf.DictConfig, xp_folder: tp.Optional[Path] = None):
    """Build the solver of ``cfg`` with per-GPU batch sizes, as `audiocraft.train.get_solver` does.

    Before anything is built: every configuration problem the datasource and the solver's own checks
    find is reported at once, then every file of the manifests the run reads is checked
    (`audiocraft_mmd.datasource.check_datasource_files`; ``xp_folder``, by default the current Dora XP's,
    receives the checked manifests of ``datasource.skip_bad_files=true``).
    """
    if xp_folder is None and is_xp():
        xp_folder = get_xp().folder
    world_size = flashy.distrib.world_size()
    datasource = cfg.get('datasource') or {}
    # a null split has no stage (SkipNullSplitStages): its batch size is never used
    splits = [split for split in SPLITS if not (split in datasource and datasource.get(split) is None)
              and hasattr(cfg.dataset, split) and hasattr(cfg.dataset[split], 'batch_size')]
    for name, node in [('dataset', cfg.dataset), *((f'dataset.{split}', cfg.dataset[split]) for split in splits)]:
        if node.batch_size % world_size:
            raise ConfigurationError(f"{name}.batch_size={node.batch_size} must be divisible by the number of ranks "
                                     f"(GPUs, or CPU processes) ({world_size}).")
        node.batch_size //= world_size
    audiocraft_train.resolve_config_dset_paths(cfg)
    run_checks([lambda: check_datasource(cfg), lambda: solvers.check_config(cfg)])
    check_datasource_files(cfg, xp_folder)
    return solvers.get_solver(cfg, checked=True)


class PluginMain(HydraMain):
    """Dora main of the plugin. Misspelt override keys and config names get a one-line error with the
    nearest valid one (`audiocraft_mmd.overrides`); XP names show an LM's tokenizer by its codec XP's MMD
    settings."""

    def _get_config_noinit(self, overrides: tp.List[str] = []) -> omegaconf.DictConfig:
        return compose_checked(super()._get_config_noinit, overrides,
                               config_dirs=[plugin_config_dir(), audiocraft_config_dir()])

    def short_name_part(self, key: str, value) -> str:
        """``compression_model_checkpoint=//sig/SIG`` reads ``tokenizer=SIG[mmd WEIGHT ALIGNMENT]``
        (``[no mmd]`` for a codec trained without the loss: a stock compression XP)."""
        if key == 'compression_model_checkpoint' and isinstance(value, str) and value.startswith('//sig/'):
            sig = value[len('//sig/'):]
            try:
                codec = self.get_xp_from_sig(sig)
            except RuntimeError:  # the codec XP is not in this Dora dir (yet)
                return f"tokenizer={sig}"
            mmd = codec.cfg.get('mmd')
            label = f"mmd {mmd.weight:g} {mmd.alignment}" if mmd is not None else "no mmd"
            return f"tokenizer={sig}[{label}]"
        return super().short_name_part(key, value)


def distributed_backend() -> str:
    """NCCL on GPUs, gloo on CPU (`flashy.distrib.init` asks for NCCL, which asserts without CUDA)."""
    import torch
    return 'nccl' if torch.cuda.is_available() else 'gloo'


def check_slurm_tasks(world_size: int) -> None:
    """Refuse a Slurm step of several tasks in which each task runs one rank on its own (``srun -n 2 dora run``:
    Dora reads the world size from submitit only, so each task would train its own copy into the same XP)."""
    tasks = int(os.environ.get('SLURM_STEP_NUM_TASKS') or 1)  # set inside an srun step only
    if tasks > 1 and world_size == 1:
        raise ConfigurationError(
            f"this Slurm step has {tasks} tasks but each runs a single rank: they would train {tasks} copies into "
            "the same XP folder. Run several ranks with `dora run -d --ddp_workers N` in one task, or schedule "
            "through `dora grid` / `dora launch` (one task per GPU).")


def main(cfg):
    audiocraft_train.init_seed_and_system(cfg)
    log_name = '%s.log.{rank}' % cfg.execute_only if cfg.execute_only else 'solver.log.{rank}'
    flashy.setup_logging(level=str(cfg.logging.level).upper(), log_name=log_name)
    logging.captureWarnings(True)  # e.g. the MMD's "kernel sees no signal" lands in the XP's log too
    flashy.distrib.init(backend=distributed_backend())
    try:
        check_slurm_tasks(flashy.distrib.world_size())
        if is_xp():
            check_resume_checkpoint(get_xp().folder)
        solver = get_solver(cfg)
    except ConfigurationError as exc:  # the user's input: its message says what to change
        sys.exit(f"error: {exc}")
    if cfg.show:
        solver.show()
        return
    try:
        if cfg.execute_only:
            if not (cfg.execute_inplace or cfg.continue_from is not None):
                raise ConfigurationError("execute_only needs continue_from=<sig_or_path> or execute_inplace=true.")
            solver.restore(replay_metrics=False)
            solver.run_one_stage(cfg.execute_only)
            return
        return solver.run()
    except USER_ERRORS as exc:  # e.g. a non-finite loss: the message names the step and the last good checkpoint
        sys.exit(f"error: {exc}")


def _print_configuration_error(exc_type, exc, tb, _default=sys.excepthook) -> None:
    """Uncaught `ConfigurationError`s (e.g. from Dora composing an XP's config) and `NonFiniteLossError`s print one
    message, no traceback."""
    if issubclass(exc_type, USER_ERRORS):
        print(f"error: {exc}", file=sys.stderr)
        return
    _default(exc_type, exc, tb)


sys.excepthook = _print_configuration_error

# As @hydra_main does; the module attribute `main` must be the wrapped object (Dora pickles it by name).
main = PluginMain(main, config_name='config', config_path='config', version_base='1.1')
main.dora.dir = AudioCraftEnvironment.get_dora_dir()
main._base_cfg.slurm = get_slurm_parameters(main._base_cfg.slurm)

if main.dora.shared is not None and not os.access(main.dora.shared, os.R_OK):
    print("No read permission on dora.shared folder, ignoring it.", file=sys.stderr)
    main.dora.shared = None

if __name__ == '__main__':
    main()
