"""Statistical dependence between the codebooks of a multi-codebook codec, from code indices.

The paper's figure ``I`` (Fig. 2, Tables 3-4) is, for a pair of codebooks (i, j), their mutual information over
their joint entropy, in %, averaged over pairs (the paper draws five random pairs; `DependenceResult.tc_percent`
averages all K(K-1)/2, the expectation of that draw). Appendix E's MI between each codebook and all the others is
`DependenceResult.mi_vs_rest_bits`; the total correlation is ``sum_k H(c_k) - H(c_1, ..., c_K)`` (>= 0; the
paper's eq. (2) prints the difference the other way round). Entropies are in bits.

``codes`` [B, K, T] become N aligned K-tuples with the MMD loss's alignment (`audiocraft_mmd.alignment`):
``parallel`` (c_1[t], ..., c_K[t]), N = B * T; ``delay`` (c_1[t], c_2[t-1], ..., c_K[t-K+1]), the tuples MusicGen's
delay pattern predicts in one step, N = B * max(T - K + 1, 0); ``pattern``: one set of tuples per group of codes an
AudioCraft codebooks pattern predicts together (`GroupedDependence`).

Counting is sparse (a tuple is hashed into one int64 mixed-radix key, counted with ``np.bincount`` or
``np.unique``; no dense m^K table), and entropies depend only on the multiset of counts, so relabelling the codes of
any codebook changes no figure. The plug-in estimates are biased far above 0 when the histograms have more cells
than samples; ``correction`` (`CORRECTIONS`: ``'shuffle'``, the default, subtracts the same plug-in figure on codes
shuffled independently per codebook; ``'miller_madow'``; ``'none'``, the paper's raw figure) and why ``'shuffle'``
is the default, with its measured errors, are in docs/DEPENDENCE.md. Corrected figures of (near-)independent codes
can be slightly negative; they are never clamped, so averages over pairs or runs stay unbiased.
"""
import dataclasses
import itertools
import math
import typing as tp

import numpy as np
import torch

from ..alignment import CodeGroup, PatternConfig, code_groups, group_weights

CORRECTIONS: tp.Tuple[str, ...] = ("shuffle", "miller_madow", "none")
"""Valid ``correction`` values, see the module docstring."""

DEFAULT_CORRECTION = "shuffle"

Cardinality = tp.Union[int, tp.Sequence[int]]
CodesLike = tp.Union[torch.Tensor, np.ndarray]
GeneratorLike = tp.Optional[tp.Union[torch.Generator, int]]
Subset = tp.Tuple[int, ...]

_LOG2E = 1.0 / math.log(2.0)
_INT64_MAX = np.iinfo(np.int64).max
_LOW_COVERAGE = 0.5  # format_table warns below this joint coverage


@dataclasses.dataclass(eq=False)
class DependenceResult:
    """Dependence figures of K codebooks estimated from ``num_samples`` aligned K-tuples.

    Entropies are in bits; matrices are float64 arrays [K, K] and vectors [K].

    - Entropies (``marginal_entropy_bits``, ``pairwise_joint_entropy_bits``,
      ``joint_entropy_bits``) are plug-in under ``correction='none'`` and Miller-Madow otherwise.
    - ``pairwise_mi_bits``, ``pair_tc_percent``, ``tc_percent``, ``mi_vs_rest_bits`` and
      ``total_correlation_bits`` are the corrected figures (see the module docstring). The diagonal
      of ``pairwise_mi_bits`` and ``pairwise_joint_entropy_bits`` holds the marginal entropies
      (I(X; X) = H(X, X) = H(X)), that of ``pair_tc_percent`` 100; ``tc_percent`` averages the
      off-diagonal pairs i < j only. A pair whose joint entropy is 0 gets 0 %.
    - ``raw_*`` are the plug-in figures (the paper's), equal to the corrected ones under 'none'.
    - ``pairwise_coverage`` [K, K] (diagonal: marginals) and ``joint_coverage`` (all K) are the
      Good-Turing coverage 1 - f1 / N of each histogram (f1: bins seen exactly once), the share of
      probability mass in observed bins. Near 0 means nearly every tuple is seen once: the
      histogram is saturated and no correction can recover the figures built on it
      (``mi_vs_rest_bits`` and ``total_correlation_bits`` rely on the joint of all K).
    - ``null_*`` are the same plug-in figures on codes where each codebook is shuffled
      independently across samples, averaged over ``permutations`` shuffles; None when
      ``permutations`` is 0. ``null_tc_percent_std`` is their standard deviation over shuffles
      (None for fewer than 2).
    """
    num_samples: int
    num_codebooks: int
    cardinality: tp.Tuple[int, ...]
    alignment: str
    correction: str
    permutations: int
    marginal_entropy_bits: np.ndarray
    joint_entropy_bits: float
    pairwise_joint_entropy_bits: np.ndarray
    pairwise_mi_bits: np.ndarray
    pair_tc_percent: np.ndarray
    tc_percent: float
    mi_vs_rest_bits: np.ndarray
    total_correlation_bits: float
    raw_pairwise_mi_bits: np.ndarray
    raw_pair_tc_percent: np.ndarray
    raw_tc_percent: float
    raw_mi_vs_rest_bits: np.ndarray
    raw_total_correlation_bits: float
    pairwise_coverage: np.ndarray
    joint_coverage: float
    null_pairwise_mi_bits: tp.Optional[np.ndarray] = None
    null_pair_tc_percent: tp.Optional[np.ndarray] = None
    null_tc_percent: tp.Optional[float] = None
    null_tc_percent_std: tp.Optional[float] = None
    null_mi_vs_rest_bits: tp.Optional[np.ndarray] = None
    null_total_correlation_bits: tp.Optional[float] = None
    codebooks: tp.Optional[tp.Tuple[int, ...]] = None
    """Which codebooks of the codec these K are (None: all, in order)."""

    def to_dict(self) -> tp.Dict[str, tp.Any]:
        """Every field as JSON-serialisable values (lists, floats, ints, str, None)."""
        out: tp.Dict[str, tp.Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, (np.floating, np.integer)):
                value = value.item()
            out[field.name] = value
        return out

    def format_table(self, precision: int = 4) -> str:
        """Readable report: settings, pairwise MI matrix, I (%) with raw and null, MI vs rest, TC."""
        K = self.num_codebooks
        names = [f"cb{k}" for k in (self.codebooks or range(K))]
        card = self.cardinality[0] if len(set(self.cardinality)) == 1 else list(self.cardinality)
        perm = f", {self.permutations} permutation{'s' if self.permutations != 1 else ''}"
        lines = [f"Codebook dependence: {K} codebooks, cardinality {card}, {self.num_samples:,} samples "
                 f"({self.alignment} alignment), correction '{self.correction}'{perm}"]

        width = max(10, precision + 7)
        lines.append(f"Pairwise mutual information (bits, '{self.correction}'; diagonal: marginal entropy)")
        lines.append(" " * 6 + "".join(f"{name:>{width}}" for name in names))
        for k in range(K):
            row = "".join(f"{v:>{width}.{precision}f}" for v in self.pairwise_mi_bits[k])
            lines.append(f"{names[k]:<6}{row}")

        def fmt(value: tp.Optional[float], unit: str = "") -> str:
            return "n/a" if value is None else f"{value:.{precision}g}{unit}"

        lines.append(f"I = MI / joint entropy, mean over {K * (K - 1) // 2} pairs: {fmt(self.tc_percent, ' %')}"
                     f"   raw plug-in: {fmt(self.raw_tc_percent, ' %')}"
                     f"   null (shuffled, plug-in): {fmt(self.null_tc_percent, ' %')}")
        lines.append(f"{'MI vs rest (bits)':<22}" + "".join(f"{name:>{width}}" for name in names))
        rows = [(self.correction, self.mi_vs_rest_bits), ("raw", self.raw_mi_vs_rest_bits),
                ("null", self.null_mi_vs_rest_bits)]
        for label, values in rows:
            if values is not None:
                lines.append(f"  {label:<20}" + "".join(f"{v:>{width}.{precision}f}" for v in values))
        lines.append(f"Total correlation (bits): {fmt(self.total_correlation_bits)}"
                     f"   raw: {fmt(self.raw_total_correlation_bits)}"
                     f"   null: {fmt(self.null_total_correlation_bits)}")
        lines.append("Marginal entropies (bits): "
                     + ", ".join(f"{v:.{precision}f}" for v in self.marginal_entropy_bits)
                     + f"; joint entropy of all {K}: {self.joint_entropy_bits:.{precision}f}")
        lines.append(f"Good-Turing coverage: pairs min {self.pairwise_coverage[np.triu_indices(K, k=1)].min():.3f}, "
                     f"joint of all {K} {self.joint_coverage:.3f}")
        if self.joint_coverage < _LOW_COVERAGE:
            lines.append(f"warning: the joint histogram of all {K} codebooks is saturated (coverage "
                         f"{self.joint_coverage:.3f} < {_LOW_COVERAGE}): MI vs rest and total correlation are "
                         f"unreliable at this sample count; the pairwise figures only use pair histograms.")
        lines.append(f"num_samples: {self.num_samples:,}   correction: {self.correction}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


def _check_correction(correction: str, permutations: int) -> None:
    if correction not in CORRECTIONS:
        raise ValueError(f"Unknown correction {correction!r}; expected one of {', '.join(map(repr, CORRECTIONS))}.")
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 0:
        raise ValueError(f"permutations must be a non-negative integer, got {permutations!r}.")
    if correction == "shuffle" and permutations < 1:
        raise ValueError("correction='shuffle' needs permutations >= 1 (the null it subtracts).")


def _normalize_cardinality(cardinality: Cardinality, num_codebooks: int) -> tp.Tuple[int, ...]:
    if isinstance(cardinality, (int, np.integer)) and not isinstance(cardinality, bool):
        cards = (int(cardinality),) * num_codebooks
    else:
        cards = tuple(int(m) for m in cardinality)
        if len(cards) != num_codebooks:
            raise ValueError(f"cardinality has {len(cards)} entries for {num_codebooks} codebooks.")
    for k, m in enumerate(cards):
        if m < 1:
            raise ValueError(f"cardinality of codebook {k} must be >= 1, got {m}.")
    return cards


def _storage_dtype(cards: tp.Sequence[int]) -> np.dtype:
    """Smallest signed integer type holding codes in [0, max(cards))."""
    top = max(cards) - 1
    for dtype in (np.int16, np.int32):
        if top <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _as_numpy_codes(codes: CodesLike) -> np.ndarray:
    """Integer codes [B, K, T] as a numpy array (torch tensors are detached and moved to CPU)."""
    if isinstance(codes, torch.Tensor):
        if codes.dtype == torch.bool or codes.dtype.is_floating_point or codes.dtype.is_complex:
            raise ValueError(f"codes must be integer code indices, got dtype {codes.dtype}.")
        codes = codes.detach().cpu().numpy()
    array = np.asarray(codes)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"codes must be integer code indices, got dtype {array.dtype}.")
    if array.ndim != 3:
        raise ValueError(f"codes must be 3-D [B, K, T], got shape {tuple(array.shape)}.")
    return array


def _resolve_generator(generator: GeneratorLike) -> tp.Optional[torch.Generator]:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise ValueError(f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}.")


def _random_permutation(n: int, generator: tp.Optional[torch.Generator]) -> np.ndarray:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randperm(n, generator=generator, device=device).cpu().numpy()


def _joint_keys(columns: tp.Sequence[np.ndarray], cards: tp.Sequence[int]) -> tp.Tuple[np.ndarray, int]:
    """One int64 key per sample for the tuple of ``columns`` (each [N], values in [0, m)).

    Returns the keys and the size of the key space. When the mixed-radix key would overflow, the
    partial key is first re-ranked to [0, number of distinct values).
    """
    key = columns[0].astype(np.int64, copy=False)
    span = int(cards[0])
    for column, m in zip(columns[1:], cards[1:]):
        if span > _INT64_MAX // m:
            uniques, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64, copy=False).reshape(-1)
            span = len(uniques)
        key = key * m + column
        span *= m
    return key, span


def _count_profile(keys: np.ndarray, span: int) -> np.ndarray:
    """Counts of counts: entry v is the number of distinct keys seen exactly v times (v >= 1)."""
    if span <= 2 * len(keys):
        counts = np.bincount(keys, minlength=span)
    else:
        counts = np.unique(keys, return_counts=True)[1]
    profile = np.bincount(counts)
    profile[0] = 0
    return profile


def _entropy_bits(profile: np.ndarray, num_samples: int) -> tp.Tuple[float, int, float]:
    """Plug-in entropy (bits), number of observed bins and Good-Turing coverage from a count profile."""
    values = np.flatnonzero(profile)
    multiplicity = profile[values].astype(np.float64)
    v = values.astype(np.float64)
    weighted = float(np.dot(multiplicity * v, np.log2(v)))
    entropy = math.log2(num_samples) - weighted / num_samples
    singletons = int(profile[1]) if len(profile) > 1 else 0
    return entropy, int(profile.sum()), 1.0 - singletons / num_samples


class _Entropies:
    """Plug-in entropies (and observed bin counts) of codebook subsets, computed on demand."""

    def __init__(self, columns: tp.Sequence[np.ndarray], cards: tp.Sequence[int]):
        self.columns = columns
        self.cards = cards
        self.num_samples = len(columns[0])
        self._cache: tp.Dict[Subset, tp.Tuple[float, int, float]] = {}

    def __call__(self, subset: Subset) -> tp.Tuple[float, int, float]:
        if subset not in self._cache:
            keys, span = _joint_keys([self.columns[k] for k in subset], [self.cards[k] for k in subset])
            self._cache[subset] = _entropy_bits(_count_profile(keys, span), self.num_samples)
        return self._cache[subset]

    def plugin(self, subset: Subset) -> float:
        return self(subset)[0]

    def coverage(self, subset: Subset) -> float:
        return self(subset)[2]

    def miller_madow(self, subset: Subset) -> float:
        entropy, bins, _ = self(subset)
        return entropy + (bins - 1) / (2 * self.num_samples) * _LOG2E


@dataclasses.dataclass
class _Figures:
    """Dependence figures derived from one set of entropies."""
    marginal: np.ndarray          # [K]
    pair_joint: np.ndarray        # [K, K], diagonal = marginal
    pair_mi: np.ndarray           # [K, K], diagonal = marginal
    mi_vs_rest: np.ndarray        # [K]
    joint: float
    total_correlation: float


def _figures(entropy: tp.Callable[[Subset], float], K: int) -> _Figures:
    """Pairwise MI, MI vs rest and total correlation from the entropy of each needed subset."""
    everything = tuple(range(K))
    marginal = np.array([entropy((k,)) for k in range(K)])
    pair_joint = np.diag(marginal).astype(np.float64)
    pair_mi = np.diag(marginal).astype(np.float64)
    for i, j in itertools.combinations(range(K), 2):
        h_ij = entropy((i, j))
        pair_joint[i, j] = pair_joint[j, i] = h_ij
        pair_mi[i, j] = pair_mi[j, i] = marginal[i] + marginal[j] - h_ij
    joint = entropy(everything)
    rest = np.array([entropy(tuple(k2 for k2 in everything if k2 != k)) for k in range(K)])
    mi_vs_rest = marginal + rest - joint
    return _Figures(marginal, pair_joint, pair_mi, mi_vs_rest, joint, float(marginal.sum() - joint))


def _percent(pair_mi: np.ndarray, pair_joint: np.ndarray) -> np.ndarray:
    """100 * MI / joint entropy per pair (0 where the joint entropy is 0), diagonal 100."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(pair_joint > 0, 100.0 * pair_mi / pair_joint, 0.0)
    np.fill_diagonal(pct, 100.0)
    return pct


def _mean_off_diagonal(matrix: np.ndarray) -> float:
    i, j = np.triu_indices(matrix.shape[0], k=1)
    return float(matrix[i, j].mean())


def _estimate(samples: np.ndarray, cards: tp.Tuple[int, ...], alignment: str, correction: str,
              permutations: int, generator: tp.Optional[torch.Generator],
              codebooks: tp.Optional[tp.Tuple[int, ...]] = None) -> DependenceResult:
    """All figures from aligned samples [N, K]."""
    N, K = samples.shape
    columns = [np.ascontiguousarray(samples[:, k], dtype=np.int64) for k in range(K)]
    entropies = _Entropies(columns, cards)
    raw = _figures(entropies.plugin, K)
    raw_pct = _percent(raw.pair_mi, raw.pair_joint)
    coverage = np.array([[entropies.coverage(tuple(sorted({i, j}))) for j in range(K)] for i in range(K)])

    nulls: tp.List[_Figures] = []
    for _ in range(permutations):
        shuffled = [column[_random_permutation(N, generator)] for column in columns]
        null_entropies = _Entropies(shuffled, cards)
        # Shuffling leaves the marginals unchanged: reuse the exact same values.
        null_entropies._cache.update({(k,): entropies((k,)) for k in range(K)})
        nulls.append(_figures(null_entropies.plugin, K))

    null_kwargs: tp.Dict[str, tp.Any] = {}
    if nulls:
        null_pcts = [_percent(n.pair_mi, n.pair_joint) for n in nulls]
        null_tcs = [_mean_off_diagonal(p) for p in null_pcts]
        null_kwargs = dict(
            null_pairwise_mi_bits=np.mean([n.pair_mi for n in nulls], axis=0),
            null_pair_tc_percent=np.mean(null_pcts, axis=0),
            null_tc_percent=float(np.mean(null_tcs)),
            null_tc_percent_std=float(np.std(null_tcs, ddof=1)) if len(nulls) > 1 else None,
            null_mi_vs_rest_bits=np.mean([n.mi_vs_rest for n in nulls], axis=0),
            null_total_correlation_bits=float(np.mean([n.total_correlation for n in nulls])),
        )

    fig = raw if correction == "none" else _figures(entropies.miller_madow, K)
    pair_mi, mi_vs_rest, total_correlation = fig.pair_mi, fig.mi_vs_rest, fig.total_correlation
    if correction == "shuffle":  # plug-in minus the mean plug-in value of the null
        pair_mi = raw.pair_mi - null_kwargs["null_pairwise_mi_bits"]
        np.fill_diagonal(pair_mi, fig.marginal)
        mi_vs_rest = raw.mi_vs_rest - null_kwargs["null_mi_vs_rest_bits"]
        total_correlation = raw.total_correlation - null_kwargs["null_total_correlation_bits"]
    pct = _percent(pair_mi, fig.pair_joint)

    return DependenceResult(
        num_samples=N, num_codebooks=K, cardinality=cards, alignment=alignment, correction=correction,
        permutations=permutations,
        marginal_entropy_bits=fig.marginal, joint_entropy_bits=float(fig.joint),
        pairwise_joint_entropy_bits=fig.pair_joint, pairwise_mi_bits=pair_mi,
        pair_tc_percent=pct, tc_percent=_mean_off_diagonal(pct),
        mi_vs_rest_bits=mi_vs_rest, total_correlation_bits=float(total_correlation),
        raw_pairwise_mi_bits=raw.pair_mi, raw_pair_tc_percent=raw_pct, raw_tc_percent=_mean_off_diagonal(raw_pct),
        raw_mi_vs_rest_bits=raw.mi_vs_rest, raw_total_correlation_bits=float(raw.total_correlation),
        pairwise_coverage=coverage, joint_coverage=entropies.coverage(tuple(range(K))),
        codebooks=codebooks, **null_kwargs)


@dataclasses.dataclass(eq=False)
class GroupedDependence:
    """Dependence within each group of codes a pattern's steps predict together (``pattern`` alignment).

    Attributes:
        pattern: the codebooks pattern config.
        groups: the groups (:func:`audiocraft_mmd.alignment.code_groups`), with their steps per frame.
        results: one :class:`DependenceResult` per group, over the group's codebooks only.
    """
    pattern: tp.Dict[str, tp.Any]
    groups: tp.Tuple[CodeGroup, ...]
    results: tp.Tuple[DependenceResult, ...]
    alignment: str = "pattern"

    @property
    def weights(self) -> tp.List[float]:
        """Each group's share of the steps that predict several codes (the MMD loss's weights)."""
        return group_weights(self.groups)

    @property
    def tc_percent(self) -> float:
        """I (%) of the pairs predicted in the same step: each group's mean over its pairs, weighted by its share."""
        return float(sum(w * r.tc_percent for w, r in zip(self.weights, self.results)))

    @property
    def raw_tc_percent(self) -> float:
        """Same as :attr:`tc_percent` from the plug-in figures."""
        return float(sum(w * r.raw_tc_percent for w, r in zip(self.weights, self.results)))

    @property
    def total_correlation_bits_per_frame(self) -> float:
        """Bits per frame of audio that an LM predicting each group as a product of marginals cannot model:
        each group's total correlation times its steps per frame."""
        return float(sum(g.steps_per_frame * r.total_correlation_bits for g, r in zip(self.groups, self.results)))

    @property
    def num_samples(self) -> int:
        """The fewest tuples over the groups."""
        return min(r.num_samples for r in self.results)

    def to_dict(self) -> tp.Dict[str, tp.Any]:
        """JSON-serialisable: the pattern, the summary figures and each group with its full result."""
        return {'alignment': self.alignment, 'pattern': self.pattern, 'num_samples': self.num_samples,
                'tc_percent': self.tc_percent, 'raw_tc_percent': self.raw_tc_percent,
                'total_correlation_bits_per_frame': self.total_correlation_bits_per_frame,
                'groups': [{'codebooks': list(g.codebooks), 'offsets': list(g.offsets),
                            'steps_per_frame': g.steps_per_frame, 'weight': w, 'result': r.to_dict()}
                           for g, w, r in zip(self.groups, self.weights, self.results)]}

    def format_table(self, precision: int = 4) -> str:
        """The summary, then each group's :meth:`DependenceResult.format_table`."""
        lines = [f"Codes predicted together by pattern {self.pattern.get('modeling')} ({self.pattern}): "
                 f"{len(self.groups)} group(s); I over their pairs {self.tc_percent:.{precision}g} % "
                 f"(raw {self.raw_tc_percent:.{precision}g} %), total correlation "
                 f"{self.total_correlation_bits_per_frame:.{precision}g} bits per frame"]
        for group, weight, result in zip(self.groups, self.weights, self.results):
            lines.append(f"\nGroup {group.describe()}: {group.steps_per_frame:g} step(s) per frame, "
                         f"weight {weight:.3g}")
            lines.append(result.format_table(precision))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


class DependenceAccumulator:
    """Collects aligned code tuples batch by batch, then estimates their dependence.

    Memory: the aligned tuples are kept as [N, K] chunks of the smallest integer type holding the
    codes (int16 up to 32768 entries: 8 bytes per sample for K=4), whatever the audio size.

    Args:
        num_codebooks: K, at least 2.
        cardinality: number of entries of every codebook, or one per codebook.
        alignment: one of :data:`ALIGNMENTS`; ``delay`` crops K-1 frames per item (batch row).
        pattern: with ``alignment='pattern'``, the codebooks pattern config (one set of tuples per group).
    """

    def __init__(self, num_codebooks: int, cardinality: Cardinality, alignment: str = "parallel",
                 pattern: tp.Optional[PatternConfig] = None):
        self.groups = code_groups(num_codebooks, alignment, pattern)
        self.num_codebooks = int(num_codebooks)
        self.cardinality = _normalize_cardinality(cardinality, self.num_codebooks)
        self.alignment = alignment
        self.pattern = dict(pattern) if alignment == "pattern" and pattern is not None else None
        self._dtype = _storage_dtype(self.cardinality)
        self._chunks: tp.List[tp.List[np.ndarray]] = [[] for _ in self.groups]
        self._items: tp.List[int] = []  # frames of each item (batch row), item after item
        self._merged = False

    @property
    def num_samples(self) -> int:
        """Number of aligned tuples collected so far (the fewest over the groups of a pattern)."""
        return min(sum(map(len, chunks)) for chunks in self._chunks)

    def update(self, codes: CodesLike) -> None:
        """Add a batch of codes [B, K, T] (LongTensor or integer array) in [0, cardinality)."""
        array = _as_numpy_codes(codes)
        if array.shape[1] != self.num_codebooks:
            raise ValueError(f"codes have K={array.shape[1]} codebooks, expected {self.num_codebooks} "
                             f"(shape {tuple(array.shape)}).")
        if self._merged:
            raise RuntimeError("merge_ranks() was called: this accumulator holds every rank's tuples; make a new one.")
        self._check_range(array)
        self._items.extend([array.shape[-1]] * array.shape[0])
        for chunks, group in zip(self._chunks, self.groups):
            samples = group.take(array).transpose(0, 2, 1).reshape(-1, len(group.codebooks))  # [B * T', K_g]
            chunks.append(samples.astype(self._dtype))

    def _check_range(self, codes: np.ndarray) -> None:
        if codes.size == 0:
            return
        low, high = codes.min(axis=(0, 2)), codes.max(axis=(0, 2))
        for k, m in enumerate(self.cardinality):
            for value in (low[k], high[k]):
                if not 0 <= value < m:
                    raise ValueError(f"codebook {k} has code value {int(value)} outside [0, {m}).")

    def merge_ranks(self) -> None:
        """Replace what this rank collected by what every rank collected, clip after clip in the global order
        of an evaluate set sharded as ``flashy.distrib.loader`` shards it (rank r's j-th clip is clip
        ``j * world_size + r``), so that the figures are those of one rank measuring the whole set. A
        collective: every rank calls it once, after its last update. Without a process group: nothing."""
        from ..losses.gather import world
        rank, world_size = world()
        if world_size == 1 or self._merged:
            return
        local = {'items': self._items, 'samples': [self.samples(g) for g in range(len(self.groups))]}
        gathered: tp.List[tp.Any] = [None] * world_size
        torch.distributed.all_gather_object(gathered, local)
        per_item = []  # (global index, [one array per group])
        for r, part in enumerate(gathered):
            offsets = [0] * len(self.groups)
            for j, frames in enumerate(part['items']):
                rows = []
                for g, group in enumerate(self.groups):
                    n = group.length(frames)
                    rows.append(part['samples'][g][offsets[g]:offsets[g] + n])
                    offsets[g] += n
                per_item.append((j * world_size + r, rows))
        per_item.sort(key=lambda item: item[0])
        self._merged = True
        for g in range(len(self.groups)):
            chunks = [rows[g] for _, rows in per_item if len(rows[g])]
            self._chunks[g] = [np.concatenate(chunks)] if chunks else []

    def samples(self, group: int = 0) -> np.ndarray:
        """All tuples of group ``group`` collected so far [N, K_g], in order (K_g = K for delay and parallel)."""
        chunks = self._chunks[group]
        if len(chunks) != 1:
            merged = (np.concatenate(chunks) if chunks
                      else np.empty((0, len(self.groups[group].codebooks)), dtype=self._dtype))
            self._chunks[group] = [merged] if len(merged) else []
            return merged
        return chunks[0]

    def result(self, correction: str = DEFAULT_CORRECTION, permutations: int = 1,
               generator: GeneratorLike = None) -> tp.Union[DependenceResult, GroupedDependence]:
        """Estimate the dependence figures of everything collected so far: a :class:`DependenceResult`
        (``delay``, ``parallel``), or a :class:`GroupedDependence` (``pattern``, groups in order).

        Args:
            correction: one of :data:`CORRECTIONS` (see the module docstring).
            permutations: independent shuffles averaged in the null (>= 1 for 'shuffle'; 0 skips
                the null for the other corrections).
            generator: torch.Generator or int seed drawing the shuffles; None uses torch's global RNG.
        """
        _check_correction(correction, permutations)
        if self.num_samples < 2:
            raise ValueError(f"Measuring dependence needs at least 2 samples, got {self.num_samples} "
                             f"({self.alignment} alignment).")
        rng = _resolve_generator(generator)
        results = []
        for index, group in enumerate(self.groups):
            cards = tuple(self.cardinality[q] for q in group.codebooks)
            codebooks = None if group.codebooks == tuple(range(self.num_codebooks)) else group.codebooks
            results.append(_estimate(self.samples(index), cards, self.alignment, correction, int(permutations),
                                     rng, codebooks))
        if self.alignment != "pattern":
            return results[0]
        assert self.pattern is not None
        return GroupedDependence(self.pattern, self.groups, tuple(results))


def codebook_dependence(codes: CodesLike, cardinality: Cardinality, alignment: str = "parallel",
                        correction: str = DEFAULT_CORRECTION, permutations: int = 1,
                        generator: GeneratorLike = None, pattern: tp.Optional[PatternConfig] = None
                        ) -> tp.Union[DependenceResult, GroupedDependence]:
    """Dependence between the K codebooks of ``codes`` [B, K, T] (code indices in [0, cardinality)).

    Same as one :meth:`DependenceAccumulator.update` followed by :meth:`DependenceAccumulator.result`.
    """
    array = _as_numpy_codes(codes)
    _check_correction(correction, permutations)
    accumulator = DependenceAccumulator(array.shape[1], cardinality, alignment, pattern)
    accumulator.update(array)
    return accumulator.result(correction=correction, permutations=permutations, generator=generator)
