"""EnCodec-MMD: the compression solver with the independence-promoting loss (paper Algorithm 1)."""
import time
import typing as tp

import flashy
import omegaconf
import torch
from torch.utils.checkpoint import checkpoint

from audiocraft.models import EncodecModel
from audiocraft.solvers.compression import CompressionSolver

from ..alignment import pattern_problem
from ..compat import safe_checkpoint_state
from ..errors import ConfigurationError, choice_problem, raise_all, run_checks
from ..losses import MMDConfig, MMDConfigError, MMDLoss, SampleBank, ShrinkageWatch
from ..models.compression import locate_compression_model
from ..quantization import SUPPORTED, ProductVectorQuantizer, codebooks_initialised, encode_latent, latent_rms, \
    mmd_vectors
from .finite import describe_non_finite, non_finite_loss_error, non_finite_metrics
from .macro_batch import MacroBatch
from .resume import ExactResume
from .stages import SkipNullSplitStages


class CompressionMMDSolver(ExactResume, SkipNullSplitStages, CompressionSolver):
    """`CompressionSolver` plus an MMD between the joint and factorized distributions of the codebooks.

    Every training step stores its raw audio in a `MacroBatch`. On the step that completes it
    (``mmd.num_batches`` batches, or the last step of the epoch), before the regular step, the stored
    audio is re-encoded with the current weights (encoder under gradient checkpointing), the
    per-codebook vectors of all RVQ stages are taken without touching codebook state, and
    ``mmd.weight * MMD`` is backpropagated in its own backward, outside the balancer. Its gradient
    then joins the regular step's gradient for the same optimizer step.

    With ``mmd.mode: bank`` nothing is re-encoded: at every training step a hook on the encoder takes the
    regular forward's output, computes the MMD over its per-codebook vectors and a `SampleBank` of the
    previous ``mmd.num_batches - 1`` batches' values (`bank_step`), and adds ``mmd.weight`` times the MMD's
    gradient to the gradient that reaches the encoder output in the regular backward, outside the balancer.

    Pending batches never outlive an epoch: each training epoch starts an empty macro-batch (or bank) and
    the last step of an epoch closes a partial one. AudioCraft saves checkpoints between epochs,
    so a checkpoint never holds pending audio and a resumed run continues exactly where the
    schedule was. The MMD draws (permutations, frame subsets, dropout masks) come from a generator
    seeded by (seed, epoch, rank), so they are reproducible across resumes; so do the PVQ's dropout draws
    (another generator, seeded the same way).

    The model is built and loaded as `CompressionSolver` builds and loads it; audiocraft's builder knows the
    plugin's quantizers (`audiocraft_mmd.models.builders`), so ``encodec.quantizer: pvq`` (a
    `ProductVectorQuantizer` from the ``pvq:`` block) trains too.

    A training step whose losses, gradient norms or MMD are NaN or Inf raises `NonFiniteLossError` before its
    optimizer step (`check_finite_step`): nothing is saved, the last checkpoint stays as it was.
    """
    def __init__(self, cfg: omegaconf.DictConfig):
        self.mmd_cfg = MMDConfig.from_cfg(cfg)
        super().__init__(cfg)
        num_codebooks = self._quantizer_codebooks()
        frames_per_clip = int(self.cfg.dataset.segment_duration * self.model.frame_rate)
        self.mmd_cfg.check_model(num_codebooks, frames_per_clip, cfg.dataset.batch_size)
        self.mmd_loss = MMDLoss.from_config(self.mmd_cfg, collapse_check_every=10)
        # warns once if the trained MMD falls tenfold while the scale-free one does not (not checkpointed: after a
        # resume it compares with the resumed run's first MMD steps; it changes no training state)
        self.shrinkage = ShrinkageWatch(self.mmd_cfg.scale)
        self.mmd_rng = torch.Generator()
        self.dropout_rng = torch.Generator()
        self._last_train_step = -1
        self._train_step: tp.Optional[tp.Tuple[int, dict]] = None  # (idx, metrics) of the running training step
        self.optimizer.register_step_pre_hook(self.check_finite_step)
        if self.mmd_cfg.mode == 'bank':
            self.sample_bank = SampleBank(self.mmd_loss, self.mmd_cfg.num_batches)
            self.register_stateful('sample_bank')
        else:
            self.macro_batch = MacroBatch(self.mmd_cfg.num_batches)
            self.register_stateful('macro_batch')
        batches = len(self.dataloaders['train']) if 'train' in self.dataloaders else 0
        if batches and self.train_updates_per_epoch > batches:
            self.logger.warning("optim.updates_per_epoch=%d, but the train set holds %d batches per epoch "
                                "(dataset.train.num_samples / dataset.batch_size): each epoch stops after %d "
                                "updates; set dataset.train.num_samples=%d for %d.", self.train_updates_per_epoch,
                                batches, batches, self.train_updates_per_epoch * self.cfg.dataset.batch_size,
                                self.train_updates_per_epoch)
        if self.mmd_cfg.mode == 'macro_batch' and self.train_updates_per_epoch % self.mmd_cfg.num_batches:
            self.logger.info("optim.updates_per_epoch=%d is not a multiple of mmd.num_batches=%d: the last "
                             "macro-batch of each epoch holds %d batches.", self.train_updates_per_epoch,
                             self.mmd_cfg.num_batches, self.train_updates_per_epoch % self.mmd_cfg.num_batches)

    @classmethod
    def check_config(cls, cfg: omegaconf.DictConfig) -> None:
        """Every problem of the ``mmd:`` block and of the model/data keys it needs, at once, before anything
        is built (`audiocraft_mmd.solvers.get_solver` runs it)."""
        run_checks([lambda: MMDConfig.from_cfg(cfg), lambda: _check_data_shape(cfg), lambda: _check_continue_from(cfg)])

    def _quantizer_codebooks(self) -> int:
        """K of the model's quantizer (an RVQ or a PVQ)."""
        if not isinstance(self.model, EncodecModel) or not isinstance(self.model.quantizer, SUPPORTED):
            raise MMDConfigError(f"compression_model={self.cfg.compression_model} is not supported by the MMD "
                                 "solver: use compression_model=encodec with encodec.quantizer=rvq or pvq.")
        return self.model.quantizer.total_codebooks

    def show(self):
        super().show()
        self.logger.info("MMD: weight=%s, mode=%s over %d batches, %r", self.mmd_cfg.weight, self.mmd_cfg.mode,
                         self.mmd_cfg.num_batches, self.mmd_loss)

    def state_dict(self) -> dict:
        """Solver state with plain containers, so `torch.load(weights_only=True)` reads the checkpoint."""
        return safe_checkpoint_state(super().state_dict())

    def train(self):
        """Train stage: a fresh macro-batch (or sample bank) and MMD generator for each epoch."""
        if self.mmd_cfg.mode == 'bank':
            self.sample_bank.clear()
            self.mmd_loss.calls = self.sample_bank.steps  # one loss call per MMD step, also after a resume
        else:
            self.macro_batch.clear()
            self.mmd_loss.calls = self.macro_batch.completed
        seed = (self.cfg.seed * 1_000_003 + self.epoch) * 1009 + flashy.distrib.rank()
        # mmd.gather: every rank draws the same permutations of the global macro-batch
        self.mmd_rng.manual_seed(seed - flashy.distrib.rank() if self.mmd_cfg.gather else seed)
        if isinstance(self.model.quantizer, ProductVectorQuantizer):
            self.dropout_rng.manual_seed(seed + 1)
            self.model.quantizer.dropout_generator = self.dropout_rng
        updates = self.train_updates_per_epoch
        if not self.cfg.benchmark_no_load:
            updates = min(updates, len(self.dataloaders['train']))
        self._last_train_step = updates - 1
        return super().train()

    def run_step(self, idx: int, batch: torch.Tensor, metrics: dict):
        """Store the batch for the MMD; on a macro-batch's last batch, run the MMD backward first. Bank mode: the
        regular step, with the MMD of its encoder output (`bank_step`)."""
        self._train_step = (idx, metrics) if self.is_training else None
        if self.is_training and self.mmd_cfg.mode == 'bank':
            return self._run_step_with_bank(idx, batch, metrics)
        if self.is_training:
            self.macro_batch.add(batch)
            if (self.macro_batch.full or idx >= self._last_train_step) \
                    and not codebooks_initialised(self.model.quantizer):
                self.macro_batch.clear()  # training from scratch: the k-means init happens in this step's forward
            elif self.macro_batch.full or idx >= self._last_train_step:
                metrics.update(self.mmd_step(self.macro_batch.pop()))
        return super().run_step(idx, batch, metrics)

    def check_finite_step(self, optimizer: torch.optim.Optimizer, args: tp.Any, kwargs: tp.Any) -> None:
        """Optimizer step pre-hook: raise `NonFiniteLossError` when a value the training step logged so far (its
        losses, the gradient norms ``ratio1``/``ratio2``, the MMD's) is NaN or Inf, naming the step."""
        if self._train_step is None:
            return
        idx, metrics = self._train_step
        if found := non_finite_metrics(metrics):
            raise non_finite_loss_error(self, idx, f"non-finite values before the optimizer step "
                                                   f"({describe_non_finite(found)})")

    def mmd_step(self, audio: torch.Tensor) -> tp.Dict[str, float]:
        """Re-encode a macro-batch [B, C, L] and backpropagate ``mmd.weight * MMD``; returns its metrics."""
        start = time.time()
        train = self.mmd_cfg.weight > 0
        with torch.set_grad_enabled(train):
            vectors, rms = self.codebook_vectors(audio.to(self.device))
            loss = self.mmd_loss(vectors, generator=self.mmd_rng)
            if train:
                (self.mmd_cfg.weight * loss).backward()
        num_samples = vectors.shape[0] * self.mmd_cfg.frames_used(vectors.shape[-1], vectors.shape[1])
        if self.mmd_cfg.gather:
            num_samples *= flashy.distrib.world_size()  # ranks hold equal batches
        return self._mmd_metrics(loss, rms, start, num_samples)

    def _run_step_with_bank(self, idx: int, batch: torch.Tensor, metrics: dict):
        """The regular step, with `bank_step` on its encoder output."""
        adders: tp.List[_AddGradientOnce] = []

        def hook(module: torch.nn.Module, args: tp.Any, emb: torch.Tensor) -> None:
            adder = self.bank_step(emb, metrics)
            if adder is not None:
                adders.append(adder)

        # EncodecModel.forward runs `emb = self.encoder(x)` once (the public `encoder` attribute): its output is
        # the one the quantizer, the decoder and every loss of the regular step use.
        handle = self.model.encoder.register_forward_hook(hook)
        try:
            metrics = super().run_step(idx, batch, metrics)
        finally:
            handle.remove()
        if len(adders) > 1 or any(adder.grad is not None for adder in adders):
            raise RuntimeError(f"mmd.mode=bank: the MMD's gradient must join the regular backward once, but the encoder "
                               f"ran {len(adders)} times in the step or no backward reached its output.")
        return metrics

    def bank_step(self, emb: torch.Tensor, metrics: dict) -> tp.Optional['_AddGradientOnce']:
        """``mmd.mode: bank``: the MMD over the regular forward's encoder output ``emb`` [B, D, T] and the sample
        bank, logged into ``metrics``. Returns the hook registered on ``emb`` that adds ``mmd.weight`` times the
        MMD's gradient w.r.t. ``emb`` to the first regular backward through it (None without gradient).

        The per-codebook vectors come from ``emb`` detached (the MMD's own backward stops there, no encoder
        pass), with the codebooks as the quantizer's forward then finds them (before its update). On the very
        first step of a run the codebooks are not initialised yet: no MMD on that step.
        """
        if not codebooks_initialised(self.model.quantizer):
            return None
        start = time.time()
        train = self.mmd_cfg.weight > 0 and emb.requires_grad
        leaf = emb.detach().requires_grad_(train)
        with torch.set_grad_enabled(train):
            loss = self.sample_bank(self.emb_vectors(leaf), generator=self.mmd_rng)
            if train:
                (self.mmd_cfg.weight * loss).backward()
        metrics.update(self._mmd_metrics(loss, latent_rms(emb), start, self.sample_bank.last_num_samples))
        if not train:
            return None
        adder = _AddGradientOnce(leaf.grad)
        emb.register_hook(adder)
        return adder

    def _mmd_metrics(self, loss: torch.Tensor, rms: float, start: float, num_samples: int
                     ) -> tp.Dict[str, tp.Any]:
        # latent_rms beside the MMD: with mmd.scale=fixed a lower MMD can come from a shrinking latent alone
        metrics = {'mmd': loss.detach(), 'latent_rms': rms, 'mmd_time': time.time() - start,
                   'mmd_samples': num_samples}
        diagnostics = self.mmd_loss.last_diagnostics  # what the kernel sees, refreshed every 10 calls
        if diagnostics is not None and self.mmd_loss.checked:  # logged when refreshed, so a resume logs the same
            metrics['mmd_sqdist'] = diagnostics.median_sqdist
            metrics['mmd_kernel_active'] = diagnostics.active_fraction
        if self.mmd_loss.last_scale_free is not None:  # refreshed with the diagnostics, from the same samples
            metrics['mmd_scale_free'] = self.mmd_loss.last_scale_free
            warning = self.shrinkage.update(float(loss.detach()), self.mmd_loss.last_scale_free, rms)
            if warning is not None:
                self.logger.warning(warning)
        return metrics

    def codebook_vectors(self, audio: torch.Tensor) -> tp.Tuple[torch.Tensor, float]:
        """Per-codebook vectors [B, K, D, T] of ``audio`` [B, C, L], gradient to the encoder only, and the
        rms of the encoder output (the latent scale).

        The encoder runs one stored batch at a time, under gradient checkpointing when enabled and
        gradients are on. With quantizer dropout (``rvq.q_dropout`` or ``pvq.q_dropout``: the active
        quantizer's flag), every codebook is used (the codes before dropout) but only those a dropout draw
        keeps for the item carry gradient. PVQ: [B, K, D/K, T].
        """
        checkpointed = self.mmd_cfg.gradient_checkpointing and torch.is_grad_enabled()
        emb = torch.cat([checkpoint(self._encode, chunk, use_reentrant=False) if checkpointed else self._encode(chunk)
                         for chunk in audio.split(self.cfg.dataset.batch_size)], dim=0)
        return self.emb_vectors(emb), latent_rms(emb)

    def emb_vectors(self, emb: torch.Tensor) -> torch.Tensor:
        """Per-codebook vectors [B, K, N, T] of the encoder output ``emb`` [B, D, T] (RVQ: N = D, PVQ: N = D/K),
        codebook state untouched, through `audiocraft_mmd.quantization.mmd_vectors` (the codes before dropout;
        with quantizer dropout and gradients on, only the codebooks a draw of ``mmd_rng`` keeps carry gradient)."""
        return mmd_vectors(self.model.quantizer, emb, self.mmd_cfg.stream, self.mmd_rng)

    def evaluate(self):
        """Evaluate stage: one pass of `audiocraft_mmd.metrics.CodecMeter` over the evaluate set.

        Reports the codebook dependence (``tc_percent_delay``, ``tc_percent_parallel``: the paper's I,
        bias-corrected), ``mmd`` (this XP's MMD, over macro-batches of ``mmd.num_batches x
        dataset.batch_size`` clips with fixed draws, so that epochs and XPs compare), ``mmd_scale_free``,
        ``latent_rms``, ``msspec``, ``sisnr_db``, the code ablation gap and the codebook usage; ``visqol``
        as audiocraft computes it when ``evaluate.metrics.visqol`` is on.
        """
        from audiocraft.solvers.compression import evaluate_audio_reconstruction
        from ..metrics.codec import CodecMeter
        self.model.eval()
        meter = CodecMeter(self.model, self.cfg, macro_clips=self.mmd_cfg.num_batches * self.cfg.dataset.batch_size,
                           seed=self.cfg.seed)
        loader = self.dataloaders['evaluate']
        lp = self.log_progress(f'{self.current_stage} inference', loader, total=len(loader), updates=self.log_updates)
        visqol = flashy.averager()
        visqol_metrics: tp.Dict[str, float] = {}
        for batch in lp:
            y_pred = meter.update(batch.to(self.device))
            if self.cfg.evaluate.metrics.visqol:
                visqol_metrics = visqol({'visqol': evaluate_audio_reconstruction(y_pred.cpu(), batch.cpu(),
                                                                                 self.cfg)['visqol']})
        return {**meter.result().to_metrics(), **visqol_metrics}

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return encode_latent(self.model, x)[0]


class _AddGradientOnce:
    """Tensor hook: adds ``grad`` to the first gradient that reaches the tensor, then nothing (the regular step
    backpropagates the commitment penalty with ``retain_graph`` before the balancer's backward: both reach the
    encoder output, the MMD's gradient must join only one)."""

    def __init__(self, grad: torch.Tensor):
        self.grad: tp.Optional[torch.Tensor] = grad

    def __call__(self, grad: torch.Tensor) -> tp.Optional[torch.Tensor]:
        if self.grad is None:
            return None
        added, self.grad = grad + self.grad, None
        return added


MMD_QUANTIZERS = ('rvq', 'pvq')


def _check_continue_from(cfg: omegaconf.DictConfig) -> None:
    """A ``continue_from`` file or XP (not a release name) holds an EnCodec: a missing, corrupt or other model stops
    the run here, naming it, instead of in audiocraft's loader."""
    from dora import get_xp, is_xp
    name = cfg.get('continue_from')
    if not name or (is_xp() and (get_xp().folder / 'checkpoint.th').is_file()):
        return  # resuming: audiocraft reads the XP's own checkpoint, not continue_from
    try:
        source = locate_compression_model(str(name))
    except ConfigurationError as exc:
        raise type(exc)(f"continue_from={name}: {exc}") from exc
    if source.state is not None:
        model = omegaconf.OmegaConf.create(source.state['xp.cfg']).get('compression_model')
        if model != 'encodec':
            raise MMDConfigError(f"continue_from={name} is a compression_model={model}, not an EnCodec: the MMD "
                                 "solver fine-tunes an EnCodec.")


def _check_data_shape(cfg: omegaconf.DictConfig) -> None:
    """Checks of the model and data keys that need only the config (all problems at once)."""
    problems = []
    quantizer = cfg.get('encodec', {}).get('quantizer')
    if cfg.get('compression_model') != 'encodec':
        problems.append(MMDConfigError(
            "The MMD solver needs compression_model=encodec with encodec.quantizer=rvq or pvq, got "
            f"compression_model={cfg.get('compression_model')}, encodec.quantizer={quantizer}."))
    elif (problem := choice_problem('encodec.quantizer', quantizer, MMD_QUANTIZERS)) is not None:
        problems.append(MMDConfigError(problem))
    elif cfg.get(quantizer) is None:
        problems.append(MMDConfigError(f"encodec.quantizer={quantizer} but the config has no `{quantizer}:` block; "
                                       f"use a solver=compression/encodec_mmd_* config, which holds one."))
    else:
        n_q = cfg[quantizer].n_q
        if n_q < 2:
            problems.append(MMDConfigError(f"The MMD promotes independence between codebooks, but {quantizer}.n_q="
                                           f"{n_q}; use {quantizer}.n_q >= 2."))
        mmd = cfg.get('mmd') or {}
        if n_q >= 2 and mmd.get('alignment') == 'pattern' and not pattern_problem(mmd.get('pattern')):
            pattern = omegaconf.OmegaConf.to_container(mmd.pattern, resolve=True)
            try:
                MMDConfig(alignment='pattern', pattern=pattern).code_groups(n_q)  # the mmd block's other keys: from_cfg
            except MMDConfigError as exc:
                problems.append(exc)
        if quantizer == 'pvq':
            dimension = cfg.get('seanet', {}).get('dimension')
            if dimension is not None and n_q >= 1 and dimension % n_q:
                problems.append(MMDConfigError(
                    f"pvq.n_q={n_q} does not divide seanet.dimension={dimension}: the product quantizer splits the "
                    "latent into n_q equal groups."))
            if cfg.get('mmd', {}).get('stream') == 'residual':
                problems.append(MMDConfigError("mmd.stream=residual is the residual of RVQ stages; with "
                                               "encodec.quantizer=pvq use mmd.stream=quantized."))
    if cfg.dataset.get('segment_duration') is None:
        problems.append(MMDConfigError("dataset.segment_duration must be set: the MMD solver trains on fixed-length "
                                       "clips."))
    raise_all(problems)

