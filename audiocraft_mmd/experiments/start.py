"""The start codec every fine-tuned codec starts from: shipped with the package, trained on the user's data
(``--start train``), or any compression model given by name; or none (``--start scratch``: every codec trains
from scratch). A tiny codec only transmits music after ~2000 steps, more than a CPU run can afford per codec, so
the commands fine-tune from a working one by default."""
import typing as tp
from pathlib import Path

from ..errors import ConfigurationError, choice_problem
from .recipes import QUANTIZER_TYPE, QUANTIZERS, START_SEED, START_STEPS, start_argv
from .runner import train_xps
from .xp import UPDATES_PER_EPOCH, XP, locate_xps

START_CODEC = Path(__file__).parents[1] / 'demo' / 'start_codec.th'  # `start_argv` on the demo music
SCRATCH = 'scratch'  # --start scratch: no start codec


def start_problems(start: str, start_steps: int, quantizer: str) -> tp.List[str]:
    """What is wrong with ``--start``, ``--start-steps`` and ``--quantizer`` together (every problem, one phrase
    each)."""
    problems = []
    if start_steps < UPDATES_PER_EPOCH or start_steps % UPDATES_PER_EPOCH:
        problems.append(f"--start-steps must be a positive multiple of {UPDATES_PER_EPOCH} (epochs of "
                        f"{UPDATES_PER_EPOCH} updates), got {start_steps}")
    elif start_steps != START_STEPS and start != 'train':
        problems.append(f"--start-steps {start_steps} trains a start codec: it needs --start train "
                        f"(--start {start} is already trained)")
    if start == 'shipped' and not START_CODEC.is_file():
        problems.append(f"the shipped start codec {START_CODEC} is missing: reinstall the package or pass "
                        "--start train")
    if (problem := choice_problem('--quantizer', quantizer, QUANTIZERS, sep=' ')) is not None:
        problems.append(problem.rstrip('.'))
    elif (problem := _start_quantizer_problem(start, start_steps, quantizer)) is not None:
        problems.append(problem)
    return problems


def _start_quantizer_problem(start: str, start_steps: int, quantizer: str) -> tp.Optional[str]:
    """Why the start codec cannot start a ``quantizer`` codec (another quantizer type), or None. Reads only a
    named codec's config."""
    wanted = QUANTIZER_TYPE[quantizer]
    if start in ('train', SCRATCH):
        return None
    if start == 'shipped':
        have, what = 'rvq', f"the shipped start codec {START_CODEC.name}"
    else:
        from ..models.compression import locate_compression_model
        try:
            source = locate_compression_model(start)
        except ConfigurationError as exc:  # reported as it is, with the other problems
            return f"--start {start}: {str(exc).rstrip('.')}"
        if source.state is None:  # an audiocraft release: an RVQ EnCodec (a DAC is refused when fine-tuned)
            have = 'rvq'
        else:
            from omegaconf import OmegaConf
            have = OmegaConf.create(source.state['xp.cfg']).get('encodec', {}).get('quantizer')
        what = f"--start {start}"
    if have == wanted:
        return None
    return (f"--quantizer {quantizer} needs a start codec with encodec.quantizer={wanted}, but {what} has "
            f"{have}: pass --start train (trains a {quantizer} start codec, {start_steps} steps) or a "
            f"{wanted} codec")


def start_xp(manifests: tp.Mapping[str, Path], start_steps: int, quantizer: str) -> XP:
    """The XP of ``--start train``: `start_argv` of ``start_steps``, the ``quantizer`` overrides and the data.
    At the default steps its argv is `START_ARGV`'s, so its signature is the shipped codec's recipe's."""
    return XP('start codec', 0., START_SEED, [*start_argv(start_steps), *QUANTIZERS[quantizer],
                                              f'datasource.train={manifests["train"]}',
                                              f'datasource.valid={manifests["valid"]}'],
              start_steps, start_steps // UPDATES_PER_EPOCH)


def resolve_start(start: str, start_steps: int, quantizer: str, manifests: tp.Mapping[str, Path],
                  out: Path) -> tp.Tuple[tp.Optional[str], str]:
    """The start codec as a ``continue_from`` value, and a description of it.

    ``scratch``: None (no start codec). ``shipped``: the package's codec. ``train``: trains `start_argv` of
    ``start_steps`` with the ``quantizer`` overrides on the data (about 20 minutes on one core at the default 2000
    steps) and exports it to ``out/start_codec_<sig>.th``. Anything else names a compression model.
    """
    from audiocraft.utils.export import export_encodec
    from ..compat import allow_audiocraft_checkpoints
    from ..models.compression import locate_compression_model
    if start == SCRATCH:
        return None, 'no start codec: every codec trained from scratch'
    if start == 'shipped':
        return f'//pretrained/{START_CODEC}', f"shipped start codec {START_CODEC.name} (demo music, {START_STEPS} steps)"
    if start == 'train':
        xp = start_xp(manifests, start_steps, quantizer)
        locate_xps([xp], out / 'dora')
        assert xp.folder is not None
        if xp.finished:
            print(f"Reusing the {quantizer} start codec trained on {manifests['train']}: "
                  f"{start_steps} steps (XP {xp.folder.name})", flush=True)
        else:
            resumed = f", resuming at epoch {xp.epochs_done + 1} of {xp.epochs}" if xp.epochs_done else ''
            print(f"Training the start codec ({quantizer}) on {manifests['train']}: "
                  f"{start_steps} steps{resumed}", flush=True)
        train_xps([xp], out / 'dora', 1)
        exported = out / f'start_codec_{xp.folder.name}.th'  # named by its XP: other data, another file
        if not exported.is_file():
            allow_audiocraft_checkpoints()  # export_encodec's torch.load reads the XP's OmegaConf config
            export_encodec(xp.folder / 'checkpoint.th', exported)
        return (f'//pretrained/{exported.resolve()}',
                f"{quantizer} start codec trained on {manifests['train']}, {start_steps} steps "
                f"(XP {xp.folder.name})")
    source = locate_compression_model(start)
    if source.kind == 'checkpoint':
        return str(source.path), f"start codec {start}"
    return f'//pretrained/{source.path or source.name}', f"start codec {start}"
