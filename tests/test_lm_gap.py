"""`audiocraft-mmd lm-gap`'s figures on constructed inputs: the gap over the positions both patterns predict,
the NLL of an LM whose every prediction is uniform, and a prediction sentence that never claims more than
its intervals show; the tokenizers of `--quantizer`. (The command end to end: tests/test_demo.py.)"""
import math

import pytest
import torch

from audiocraft_mmd.lm_gap.run import TOKENIZERS, gap_figures, prediction
from audiocraft_mmd.stats import Interval


def _run(nll: torch.Tensor, mask: torch.Tensor) -> dict:
    return {'nll': nll, 'mask': mask, 'steps': 1, 'seconds_per_audio_second': 0.1, 'params': 10, 'best_step': 5}


def test_gap_is_taken_over_the_positions_both_patterns_predict():
    mask_delay = torch.ones(1, 2, 4, dtype=torch.bool)
    mask_delay[0, 1, -1] = False  # the delay pattern leaves out the last frame of codebook 2
    delay = torch.tensor([[[1., 1., 1., 1.], [2., 2., 2., 50.]]])
    flatten = torch.tensor([[[1., 1., 1., 1.], [1., 1., 1., 1.]]])
    figures = gap_figures(_run(delay, mask_delay), _run(flatten, torch.ones(1, 2, 4, dtype=torch.bool)))
    assert figures['delay_bits_per_codebook'] == [1., 2.]  # the masked 50 is left out
    assert figures['flatten_bits_per_codebook'] == [1., 1.]
    assert figures['delay_bits'] == 3. and figures['flatten_bits'] == 2. and figures['gap_bits'] == 1.
    assert figures['gap_bits_per_codebook'] == [0., 1.] and figures['gap_percent'] == 50.
    assert figures['positions'] == 7


def test_an_lm_with_uniform_predictions_costs_log2_card_bits_per_code():
    from audiocraft_mmd.lm_gap.measure import bits_per_codebook, token_nll_bits
    import importlib.util
    from conftest import REPO
    spec = importlib.util.spec_from_file_location('generation_benchmark', REPO / 'benchmarks' / 'generation.py')
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for pattern in ('delay', 'flatten'):
        lm = bench.build_lm(pattern, codebooks=4, cardinality=16, scale='xsmall', seed=0)
        for linear in lm.linears:
            torch.nn.init.zeros_(linear.weight)  # every logit 0: the uniform distribution over 16 codes
        codes = torch.randint(0, 16, (3, 4, 12), generator=torch.Generator().manual_seed(0))
        nll, mask = token_nll_bits(lm, codes, batch_size=2)
        assert nll.shape == mask.shape == (3, 4, 12)
        assert bits_per_codebook(nll, mask) == pytest.approx([4.] * 4)
        assert int(mask.sum()) == (3 * 4 * 12 - 3 * (0 + 1 + 2 + 3) if pattern == 'delay' else 3 * 4 * 12)


def _summary(gaps: dict) -> dict:
    return {name: {'gap_bits': Interval(mean, mean - half, mean + half, 3)} for name, (mean, half) in gaps.items()}


def test_prediction_sentence_says_only_what_the_intervals_show():
    assert TOKENIZERS == ('baseline', 'MMD-parallel', 'MMD-delay')
    holds = prediction(_summary({'baseline': (0.5, 0.05), 'MMD-parallel': (0.3, 0.05), 'MMD-delay': (0.1, 0.05)}))
    assert holds.startswith('The prediction holds')
    overlap = prediction(_summary({'baseline': (0.5, 0.3), 'MMD-parallel': (0.3, 0.3), 'MMD-delay': (0.1, 0.3)}))
    assert overlap.startswith('The means follow the prediction but the 95 % intervals overlap')
    reversed_ = prediction(_summary({'baseline': (0.1, 0.01), 'MMD-parallel': (0.3, 0.01), 'MMD-delay': (0.5, 0.01)}))
    assert reversed_.startswith('The prediction does not show')
    one_seed = {name: {'gap_bits': Interval(v, math.nan, math.nan, 1)} for name, v in
                (('baseline', 0.5), ('MMD-parallel', 0.3), ('MMD-delay', 0.1))}
    assert prediction(one_seed).startswith('One LM seed gives no interval')


def test_lms_that_do_not_beat_the_codebook_marginals_get_no_verdict():
    from audiocraft_mmd.lm_gap.measure import marginal_bits_per_codebook
    from audiocraft_mmd.lm_gap.run import untrained_lms
    codes = torch.stack([torch.arange(64).repeat(2), torch.zeros(128, dtype=torch.long)])[None]  # [1, K=2, T=128]
    assert marginal_bits_per_codebook(codes) == pytest.approx([6., 0.])
    runs = {'baseline': [{'seed': 0, 'delay_bits': 20., 'flatten_bits': 23.9, 'marginal_bits': 23.6}],
            'MMD-delay': [{'seed': 0, 'delay_bits': 20., 'flatten_bits': 19., 'marginal_bits': 23.6}]}
    assert untrained_lms(runs) == ['baseline flatten seed 0 23.900 >= 23.600']
    gaps = _summary({'baseline': (0.5, 0.05), 'MMD-parallel': (0.3, 0.05), 'MMD-delay': (0.1, 0.05)})
    sentence = prediction(gaps, untrained_lms(runs))
    assert sentence.startswith('No verdict: 1 LM(s) do not beat') and 'baseline flatten seed 0' in sentence


def test_tokenizers_that_fail_the_working_codec_checks_get_no_verdict():
    gaps = _summary({'baseline': (0.5, 0.05), 'MMD-parallel': (0.3, 0.05), 'MMD-delay': (0.1, 0.05)})
    assert prediction(gaps).startswith('The prediction holds')
    broken = ['baseline: seed 0: reconstructs failed, SI-SNR -0.34 dB (needs >= 0 dB)']
    sentence = prediction(gaps, broken=broken)
    assert sentence.startswith('No verdict: 1 tokenizer(s) fail the working-codec checks (baseline: seed 0: '
                               'reconstructs failed, SI-SNR -0.34 dB (needs >= 0 dB))')
    assert sentence.endswith('Measured gap (bits/frame): baseline 0.500 ± 0.050, MMD-parallel 0.300 ± 0.050, '
                             'MMD-delay 0.100 ± 0.050.')


def test_negative_gaps_are_named_as_a_learning_speed_effect():
    sentence = prediction(_summary({'baseline': (-0.17, 0.1), 'MMD-parallel': (-0.12, 0.1), 'MMD-delay': (-0.12, 0.07)}))
    assert sentence.startswith('The prediction does not show') and 'Every gap is negative' in sentence


def test_lm_gap_quantizer_trains_the_demos_codecs_of_that_quantizer_and_names_its_outputs(tmp_path):
    from audiocraft_mmd.demo.run import DemoSettings, demo_xps
    from audiocraft_mmd.errors import ConfigurationError
    from audiocraft_mmd.lm_gap.run import LMGapSettings, tokenizer_xps
    manifests = {split: tmp_path / split for split in ('train', 'valid', 'evaluate')}
    settings = LMGapSettings(quantizer='pvq-dropout', start='train', start_steps=4000)
    settings.validate()
    tokenizers = tokenizer_xps(manifests, '//pretrained/start.th', settings)
    overrides = ['encodec.quantizer=pvq', 'pvq.q_dropout=true']
    assert all(all(arg in xp.argv for arg in overrides) for xp in tokenizers.values())
    # the demo run with the same --quantizer/--start/--start-steps trained the baseline and MMD-delay (reused)
    demo = DemoSettings(quantizer='pvq-dropout', start='train', start_steps=4000, weight=1e3, num_batches=None)
    seed0 = {xp.weight: xp.argv for xp in demo_xps(manifests, '//pretrained/start.th', demo) if xp.seed == 0}
    assert tokenizers['baseline'].argv == seed0[0.] and tokenizers['MMD-delay'].argv == seed0[1e3]
    # --weight of the default demo's cell: its seed-0 codecs; --num-batches reaches both MMD tokenizers only
    cell = tokenizer_xps(manifests, '//pretrained/start.th', LMGapSettings(weight=1e4))
    default = {xp.weight: xp.argv for xp in demo_xps(manifests, '//pretrained/start.th', DemoSettings())
               if xp.seed == 0}
    assert cell['baseline'].argv == default[0.] and cell['MMD-delay'].argv == default[1e4]
    every_step = tokenizer_xps(manifests, '//pretrained/start.th', LMGapSettings(num_batches=1))
    assert [name for name, xp in every_step.items() if 'mmd.num_batches=1' in xp.argv] == ['MMD-parallel', 'MMD-delay']
    parallel = [arg.replace('mmd.alignment=parallel', 'mmd.alignment=delay') for arg in cell['MMD-parallel'].argv]
    assert parallel == cell['MMD-delay'].argv and 'mmd.alignment=parallel' in cell['MMD-parallel'].argv
    assert (LMGapSettings().output_suffix, settings.output_suffix) == ('', '-pvq-dropout')
    with pytest.raises(ConfigurationError, match='--quantizer pvq needs a start codec with encodec.quantizer=pvq'):
        LMGapSettings(quantizer='pvq').validate()  # the shipped start codec is an RVQ
    with pytest.raises(ConfigurationError, match='--start-steps 4000 trains a start codec: it needs --start train'):
        LMGapSettings(start_steps=4000).validate()


def test_best_step_is_the_last_epoch_of_lowest_valid_loss(tmp_path):
    """The state AudioCraft keeps as best_state: the epoch whose valid ce is lowest, the later one on a tie."""
    import json
    from audiocraft_mmd.experiments.xp import XP
    xp = XP('lm', 0., 0, [], steps=200, epochs=4, folder=tmp_path)
    history = [{'valid': {'ce': ce}} for ce in (4.1, 4.0, 4.05, 4.0)]
    (tmp_path / 'history.json').write_text(json.dumps(history))
    assert xp.best_step() == 200
    (tmp_path / 'history.json').write_text(json.dumps(history[:3]))
    assert xp.best_step() == 100
