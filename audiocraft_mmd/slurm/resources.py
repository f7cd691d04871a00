"""The Slurm resources of an XP, from its config's ``slurm`` block, for the grids' ``launcher.slurm_``.

Dora's own defaults are per GPU (40 GB and 10 CPUs per GPU); a CPU job (``slurm.gpus: 0``) must say how
much memory and how many CPUs it needs. Each plugin solver config says it (e.g.
``config/solver/compression/encodec_mmd_debug.yaml``); a grid asks `xp_slurm_resources` for them.
With ``gpus: 0`` Dora schedules one task and reads ``mem_per_gpu`` as the job's memory in GB.
"""
import dataclasses
import typing as tp

#: the keys of ``slurm`` that describe what a job needs; the partition and the rest come from the cluster
RESOURCE_KEYS = ('gpus', 'mem_per_gpu', 'cpus_per_gpu', 'cpus_per_task', 'time')


def slurm_resources(slurm_cfg: tp.Mapping[str, tp.Any]) -> tp.Dict[str, tp.Any]:
    """The resource keys set (not null) in a ``slurm`` config block, checked against Dora's `SlurmConfig`."""
    from dora.conf import SlurmConfig
    known = {f.name for f in dataclasses.fields(SlurmConfig)}
    assert set(RESOURCE_KEYS) <= known, f"dora's SlurmConfig lacks {set(RESOURCE_KEYS) - known}"
    return {key: slurm_cfg[key] for key in RESOURCE_KEYS if slurm_cfg.get(key) is not None}


def xp_slurm_resources(overrides: tp.Mapping[str, tp.Any]) -> tp.Dict[str, tp.Any]:
    """The resources of the XP that ``overrides`` (e.g. ``{'solver': 'compression/encodec_mmd_debug'}``) compose to."""
    from ..train import main
    cfg = main.get_xp(main.value_to_argv(dict(overrides))).cfg
    return slurm_resources(cfg.get('slurm') or {})
