"""The product quantizer (PVQ, paper App. C): shapes, nearest centroids, hierarchical dropout, the MMD's
per-codebook vectors, the plugin builder, and a tiny PVQ-dropout codec trained, loaded, exported, measured
and used as an LM tokenizer."""
import copy

import pytest
import torch

from conftest import DEBUG_SOLVER, run_dora, xp_folder
from audiocraft_mmd.quantization import ProductVectorQuantizer, codebook_vectors, dropout_keep_mask

D, K, BINS = 16, 4, 8


@pytest.fixture
def pvq():
    torch.manual_seed(0)
    quantizer = ProductVectorQuantizer(dimension=D, n_q=K, bins=BINS, kmeans_init=True, kmeans_iters=3)
    quantizer.train()
    quantizer(torch.randn(4, D, 50), frame_rate=50)  # k-means init of every codebook
    return quantizer


def _buffers(module):
    return {name: buffer.clone() for name, buffer in module.named_buffers()}


def test_shapes_and_round_trip(pvq):
    emb = torch.randn(3, D, 20)
    pvq.eval()
    result = pvq(emb, frame_rate=50)
    assert result.x.shape == (3, D, 20) and result.codes.shape == (3, K, 20)
    codes = pvq.encode(emb)
    assert codes.shape == (3, K, 20) and codes.dtype == torch.int64
    assert torch.equal(codes, result.codes)
    torch.testing.assert_close(pvq.decode(codes), result.x)
    assert torch.equal(pvq.encode(pvq.decode(codes)), codes)  # centroids quantize to themselves
    torch.testing.assert_close(result.bandwidth, torch.full((3,), K * 3 * 50 / 1000))  # log2(8) bits at 50 Hz
    assert (pvq.total_codebooks, pvq.num_codebooks, pvq.cardinality) == (K, K, BINS)


def test_each_code_is_the_nearest_centroid_of_its_slice(pvq):
    emb = torch.randn(2, D, 30)
    codes = pvq.encode(emb)
    for k, layer in enumerate(pvq.layers):
        group = emb[:, k * (D // K):(k + 1) * (D // K)].transpose(1, 2)  # [B, T, D/K]
        distances = torch.cdist(group, layer.codebook[None].expand(2, -1, -1))  # [B, T, bins]
        assert torch.equal(codes[:, k], distances.argmin(dim=-1))


def test_fewer_codebooks_decode_to_zero_in_the_rest(pvq):
    emb = torch.randn(2, D, 10)
    pvq.eval()
    full = pvq.decode(pvq.encode(emb))
    partial = pvq.decode(pvq.encode(emb)[:, :2])
    assert torch.equal(partial[:, :D // 2], full[:, :D // 2]) and not partial[:, D // 2:].any()
    pvq.set_num_codebooks(3)
    assert pvq.encode(emb).shape[1] == 3 and pvq.num_codebooks == 3
    result = pvq(emb, frame_rate=50)
    assert torch.equal(result.x[:, :3 * D // K], full[:, :3 * D // K]) and not result.x[:, 3 * D // K:].any()
    with pytest.raises(ValueError, match='num_codebooks must be in 1..4'):
        pvq.set_num_codebooks(5)


def test_dimension_must_be_a_multiple_of_n_q():
    with pytest.raises(ValueError, match='must be a multiple of n_q'):
        ProductVectorQuantizer(dimension=30, n_q=4)


def test_dropout_zeroes_exactly_the_dropped_groups_and_their_gradient(pvq):
    pvq.q_dropout = True
    pvq.dropout_generator = torch.Generator().manual_seed(3)
    emb = torch.randn(16, D, 10, requires_grad=True)
    undropped = copy.deepcopy(pvq).eval()(emb.detach(), frame_rate=50)  # the centroids before this step's EMA
    result = pvq(emb, frame_rate=50)
    keep = dropout_keep_mask(16, K, torch.Generator().manual_seed(3))  # the same draws
    assert 1 < len(set(keep.sum(dim=1).tolist()))  # per item: several bitrates in one batch
    assert torch.equal(result.codes, undropped.codes)  # codes of every codebook, before dropout
    groups, expected = (r.x.view(16, K, D // K, 10) for r in (result, undropped))
    for b in range(16):
        for k in range(K):
            if keep[b, k]:
                torch.testing.assert_close(groups[b, k], expected[b, k])
            else:
                assert not groups[b, k].any()
    torch.testing.assert_close(result.bandwidth, keep.sum(dim=1).float() * 3 * 50 / 1000)
    result.x.sum().backward()
    grad = emb.grad.view(16, K, D // K, 10)  # straight-through: 1 where kept, 0 where dropped
    expected = keep[:, :, None, None].float().expand_as(grad)
    assert torch.equal(grad, expected)
    pvq.eval()  # no dropout outside training
    assert pvq(emb, frame_rate=50).x.view(16, K, D // K, 10).flatten(2).abs().sum(-1).all()


def test_training_forward_updates_ema_but_codebook_vectors_leaves_every_buffer(pvq):
    before = _buffers(pvq)
    emb = torch.randn(4, D, 30, requires_grad=True)
    vectors = codebook_vectors(pvq, emb)
    after = _buffers(pvq)
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert vectors.shape == (4, K, D // K, 30)
    pvq.eval()
    expected = pvq(emb.detach(), frame_rate=50).x.view(4, K, D // K, 30)
    torch.testing.assert_close(vectors, expected)
    vectors.sum().backward()  # straight-through: the gradient reaches the latent unchanged
    assert torch.equal(emb.grad, torch.ones_like(emb))
    pvq.train()
    pvq(emb.detach(), frame_rate=50)
    assert any(not torch.equal(before[name], value) for name, value in pvq.named_buffers())  # the EMA moved
    with pytest.raises(ValueError, match='mmd.stream=quantized'):
        codebook_vectors(pvq, emb, stream='residual')


def test_codebook_vectors_needs_initialised_codebooks():
    with pytest.raises(RuntimeError, match='not initialised'):
        codebook_vectors(ProductVectorQuantizer(dimension=D, n_q=K, bins=BINS), torch.randn(1, D, 5))


def test_the_private_audiocraft_internals_the_plugin_relies_on():
    """codebook_vectors reads VectorQuantization's _preprocess/_postprocess/_codebook; the plugin's seam binds the
    get_quantizer global of audiocraft.models.builders, which its get_compression_model looks up when it runs."""
    from audiocraft.models import builders
    from audiocraft.quantization.core_vq import EuclideanCodebook, VectorQuantization
    from audiocraft_mmd.models import builders as plugin_builders
    layer = VectorQuantization(dim=4, codebook_size=8)
    assert isinstance(layer._codebook, EuclideanCodebook)
    assert callable(layer._preprocess) and callable(layer._postprocess)
    assert builders.get_quantizer is plugin_builders.get_quantizer
    assert 'get_quantizer' in builders.get_compression_model.__code__.co_names  # a global, read at call time


def test_audiocraft_builder_makes_pvq_from_its_block_and_rvq_as_before():
    import importlib
    from audiocraft.models import builders
    from audiocraft.quantization.vq import ResidualVectorQuantizer
    from audiocraft_mmd.errors import ConfigurationError
    from audiocraft_mmd.models import builders as plugin_builders
    from audiocraft_mmd.train import main
    cfg = main.get_xp([DEBUG_SOLVER, 'encodec.quantizer=pvq', 'pvq.q_dropout=true']).cfg
    model = builders.get_compression_model(cfg)
    assert isinstance(model.quantizer, ProductVectorQuantizer) and model.quantizer.q_dropout
    assert (model.quantizer.total_codebooks, model.quantizer.group_dim, model.cardinality) == (4, 8, 64)
    importlib.reload(plugin_builders)  # installing twice still hands rvq to audiocraft's own function
    plugin_builders.install_quantizers()
    rvq = builders.get_compression_model(main.get_xp([DEBUG_SOLVER]).cfg)
    assert isinstance(rvq.quantizer, ResidualVectorQuantizer)
    with pytest.raises(ConfigurationError, match="encodec.quantizer must be one of rvq, no_quant, pvq, got 'pvk'"):
        builders.get_quantizer('pvk', cfg, 32)


def test_config_error_for_n_q_not_dividing_the_dimension(data_overrides):
    from test_compression_mmd_solver import build
    from audiocraft_mmd.losses import MMDConfigError
    with pytest.raises(MMDConfigError) as error:
        build(*data_overrides, 'encodec.quantizer=pvq', 'pvq.n_q=3')
    message = str(error.value)
    assert 'pvq.n_q=3 does not divide seanet.dimension=32' in message and '\n' not in message


PVQ_ARGS = ['encodec.quantizer=pvq', 'pvq.q_dropout=true', 'mmd.weight=1e3', 'optim.epochs=1',
            'optim.updates_per_epoch=4', 'mmd.num_batches=2', 'datasource.evaluate=null']


@pytest.fixture(scope='session')
def pvq_xp(data_overrides):
    """A tiny PVQ-dropout EnCodec-MMD trained for 4 steps. Returns its folder."""
    argv = [DEBUG_SOLVER, *data_overrides, *PVQ_ARGS]
    run_dora('run', *argv)
    return xp_folder(argv)


def test_pvq_codec_trains_loads_exports_and_measures(pvq_xp, dataset, tmp_path):
    from audiocraft.models import CompressionModel
    from audiocraft.solvers.compression import CompressionSolver
    from audiocraft.utils.export import export_encodec
    from audiocraft_mmd.compat import allow_audiocraft_checkpoints
    from audiocraft_mmd.metrics.codec import measure_codec
    from audiocraft_mmd.models.compression import load_codec
    history = __import__('json').loads((pvq_xp / 'history.json').read_text())
    assert 'mmd' in history[0]['train'] and history[0]['train']['bandwidth'] < 1.2  # dropout: fewer bits on average
    codec = load_codec(pvq_xp / 'checkpoint.th')
    assert isinstance(codec.model.quantizer, ProductVectorQuantizer) and codec.cfg.pvq.q_dropout
    allow_audiocraft_checkpoints()
    export_encodec(pvq_xp / 'checkpoint.th', tmp_path / 'pvq.th')
    loaders = [load_codec(name).model for name in (tmp_path / 'pvq.th', f'//pretrained/{tmp_path / "pvq.th"}',
                                                  f'//sig/{pvq_xp.name}')]
    loaders += [CompressionSolver.model_from_checkpoint(f'//sig/{pvq_xp.name}'),  # audiocraft's own loaders
                CompressionModel.get_pretrained(str(tmp_path / 'pvq.th'))]
    for loaded in loaders:
        assert isinstance(loaded.quantizer, ProductVectorQuantizer)
        state, expected = loaded.state_dict(), codec.model.state_dict()
        assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in state)
    measured = measure_codec(codec.model, dataset['evaluate'], codec.cfg, segment_duration=1., macro_clips=4,
                             progress=False)
    assert measured.mmd is not None and measured.mmd_samples > 0 and measured.latent_rms > 0
    assert measured.dependence['delay'].num_samples > 0


def test_pvq_codec_fine_tunes_from_its_export_and_tokenizes_an_lm(pvq_xp, data_overrides, tmp_path):
    """continue_from=//pretrained/EXPORT of a PVQ codec (the demo's fine-tunes), an LM on its tokens (the LM
    solver's tokenizer), `audiocraft-mmd export` and MusicGenMMD.get_pretrained of the export."""
    from audiocraft.utils.export import export_encodec
    from audiocraft_mmd.compat import allow_audiocraft_checkpoints
    from audiocraft_mmd.export import export_musicgen
    from audiocraft_mmd.models import MusicGenMMD
    from audiocraft_mmd.models.compression import load_codec
    allow_audiocraft_checkpoints()
    exported = tmp_path / 'start.th'
    export_encodec(pvq_xp / 'checkpoint.th', exported)
    fine = [DEBUG_SOLVER, *data_overrides, *PVQ_ARGS, 'optim.updates_per_epoch=2',
            f'continue_from=//pretrained/{exported}']
    run_dora('run', *fine)
    assert isinstance(load_codec(xp_folder(fine) / 'checkpoint.th').model.quantizer, ProductVectorQuantizer)
    lm = ['solver=musicgen/mmd_debug', f'compression_model_checkpoint=//pretrained/{exported}', *data_overrides,
          'optim.epochs=1', 'optim.updates_per_epoch=2', 'schedule.cosine.warmup=1', 'datasource.evaluate=null',
          'datasource.generate=null']
    run_dora('run', *lm)
    result = export_musicgen(f'//sig/{xp_folder(lm).name}', tmp_path / 'musicgen', log=lambda _: None)
    model = MusicGenMMD.get_pretrained(str(result.out_dir), device='cpu')
    assert isinstance(model.compression_model.quantizer, ProductVectorQuantizer)
    codes = model.compression_model.encode(torch.zeros(1, 1, 16000))[0]
    assert codes.shape[:2] == (1, 4)
