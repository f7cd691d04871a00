"""What a checkpoint must hold so that a resumed run continues exactly as an uninterrupted one (same
thread count): every rank's global generator states and the balancer's moving averages, neither of
which AudioCraft 1.3 checkpoints."""
import inspect
import logging
import random
import typing as tp

import flashy
import numpy as np
import torch

logger = logging.getLogger(__name__)


def global_rng_state() -> tp.Dict[str, tp.Any]:
    """The states of Python's, NumPy's and torch's global generators (CUDA's when present), as tensors and
    plain values that ``torch.load(weights_only=True)`` reads."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {'python': {'version': version, 'internal': torch.tensor(internal, dtype=torch.int64), 'gauss': gauss},
             'numpy': {'name': name, 'keys': torch.from_numpy(keys.astype(np.int64)), 'pos': int(pos),
                       'has_gauss': int(has_gauss), 'cached': float(cached)},
             'torch': torch.get_rng_state()}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: tp.Dict[str, tp.Any]) -> None:
    """Restore the generators from a `global_rng_state`."""
    python = state['python']
    random.setstate((python['version'], tuple(int(v) for v in python['internal'].tolist()), python['gauss']))
    numpy = state['numpy']
    np.random.set_state((numpy['name'], numpy['keys'].numpy().astype(np.uint32), numpy['pos'], numpy['has_gauss'],
                         numpy['cached']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class GlobalRNGStates:
    """Every rank's global generator states at the end of the last epoch: a checkpointed solver component.

    AudioCraft seeds the global generators once per process, so a run resumed at epoch e would draw its
    data (the sampler's order, the dataset's crops and file draws through Python's ``random``, the
    dataloader workers' seeds) and the model's own draws (quantizer dropout, dead-code replacement) from
    the seed instead of from the state an uninterrupted run reached. `capture` (all ranks, end of each
    epoch) and the checkpoint carry that state; loading restores this rank's.
    """

    def __init__(self) -> None:
        self.ranks: tp.Optional[tp.List[tp.Dict[str, tp.Any]]] = None

    def capture(self) -> None:
        """Gather every rank's states (a collective: all ranks call it)."""
        local = global_rng_state()
        if flashy.distrib.is_distributed():
            gathered: tp.List[tp.Any] = [None] * flashy.distrib.world_size()
            torch.distributed.all_gather_object(gathered, local)
            self.ranks = gathered
        else:
            self.ranks = [local]

    def state_dict(self) -> tp.Dict[str, tp.Any]:
        return {'ranks': self.ranks} if self.ranks is not None else {}

    def load_state_dict(self, state: tp.Dict[str, tp.Any]) -> None:
        ranks = state.get('ranks')
        world_size, rank = flashy.distrib.world_size(), flashy.distrib.rank()
        if not ranks:
            logger.warning("The checkpoint holds no generator states (saved before they were checkpointed): the "
                           "resumed run continues, but not exactly as an uninterrupted run would.")
            return
        if len(ranks) != world_size:
            logger.warning("The checkpoint holds the generator states of %d rank(s), this run has %d: the resumed "
                           "run continues, but not exactly as an uninterrupted run would.", len(ranks), world_size)
            return
        self.ranks = list(ranks)
        set_global_rng_state(ranks[rank])


class CheckpointedAverager:
    """``flashy.averager(beta)`` (the exponential moving average audiocraft's `Balancer` keeps of the
    gradient norms) as an object whose state a checkpoint holds: same arithmetic, same key order."""

    def __init__(self, beta: float = 1.) -> None:
        self.beta = beta
        self.fix: tp.Dict[str, float] = {}
        self.total: tp.Dict[str, float] = {}

    def __call__(self, metrics: tp.Dict[str, tp.Any], weight: float = 1) -> tp.Dict[str, float]:
        for key, value in metrics.items():
            self.total[key] = self.total.get(key, 0.) * self.beta + weight * float(value)
            self.fix[key] = self.fix.get(key, 0.) * self.beta + weight
        return {key: total / self.fix[key] for key, total in self.total.items()}

    def state_dict(self) -> tp.Dict[str, tp.Any]:
        return {'beta': self.beta, 'fix': dict(self.fix), 'total': dict(self.total)}

    def load_state_dict(self, state: tp.Dict[str, tp.Any]) -> None:
        self.beta, self.fix, self.total = float(state['beta']), dict(state['fix']), dict(state['total'])


class ExactResume:
    """Mixin for an audiocraft ``StandardSolver``: a resumed run continues exactly as an uninterrupted one
    (same thread count). The checkpoint gets every rank's global generator states (`GlobalRNGStates`,
    captured after the epoch's last stage, just before AudioCraft saves it) and, for a solver with a
    `Balancer`, its moving average of the gradient norms (`CheckpointedAverager` in place of its
    ``averager``, a public attribute)."""

    def __init__(self, cfg) -> None:
        super().__init__(cfg)  # type: ignore
        self.rng_states = GlobalRNGStates()
        self.register_stateful('rng_states')  # type: ignore
        balancer = getattr(self, 'balancer', None)
        if balancer is not None:
            default = inspect.signature(type(balancer)).parameters['ema_decay'].default
            self.balancer_averages = CheckpointedAverager(cfg.balancer.get('ema_decay', default) or 1.)
            balancer.averager = self.balancer_averages
            self.register_stateful('balancer_averages')  # type: ignore

    def run_epoch(self):
        super().run_epoch()  # type: ignore
        self.rng_states.capture()
