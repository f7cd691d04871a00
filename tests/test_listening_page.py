"""The lm-gap listening page: written offline (`write_listening_page`, `write_wav`) and opened in a real headless
Chromium, which must decode every clip with its duration and the inline plot, and fetch nothing but local files."""
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from audiocraft_mmd.lm_gap.audio import write_wav
from audiocraft_mmd.lm_gap.page import AudioClip, PageSection, PageTable, write_listening_page

SAMPLE_RATE = 16000
# (file name under audio/, seconds, channels): one stereo, one name with a space (the src must be quoted).
CLIPS = [('reference.wav', 1.0, 1), ('mmd 0.5.wav', 2.5, 2), ('baseline.wav', 0.5, 1)]


def sine(seconds: float, channels: int, freq: float = 440.0, amplitude: float = 0.5) -> torch.Tensor:
    t = torch.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wav = amplitude * torch.sin(2 * math.pi * freq * t)
    return wav if channels == 1 else torch.stack([wav, 0.5 * wav])


def write_plot(path: Path) -> Path:
    from audiocraft_mmd.plotting import pyplot, save_figure
    fig, ax = pyplot().subplots(figsize=(3, 2))
    ax.plot([1, 2, 4, 8], [3.1, 2.9, 2.6, 2.5], marker='o')
    ax.set_xlabel('codebooks')
    return save_figure(fig, path)


@pytest.fixture
def report(tmp_path):
    """A report folder: page, audio/ with the three clips, and one plot. Returns (page path, clip paths)."""
    folder = tmp_path / 'lm gap report'
    paths = [write_wav(folder / 'audio' / name, sine(seconds, channels), SAMPLE_RATE)
             for name, seconds, channels in CLIPS]
    plot = write_plot(tmp_path / 'plots' / 'gap.png')  # outside the folder: it is embedded, not linked
    table = PageTable('Cross-entropy per codebook', ['model', 'CE (nats)', 'gap'],
                      [['baseline', '3.142', '-'], ['mmd w=0.5', '2.718', '0.424']])
    sections = [PageSection('Reference', 'The original audio.', [AudioClip('reference', paths[0])]),
                PageSection('Generations', 'Same prompt, two codecs.',
                            [AudioClip('MMD (stereo)', paths[1]), AudioClip('baseline', paths[2])])]
    page = write_listening_page(folder / 'report.html', 'LM gap', 'How well an LM models each codec.',
                                [table], [plot], sections)
    return page, paths


def test_page_plays_in_headless_chromium(report):
    from browser import ensure_chromium, load_page
    page, paths = report
    ensure_chromium()
    start = time.monotonic()
    loaded = load_page(page)
    elapsed = time.monotonic() - start
    assert not loaded.timed_out, loaded.audio
    assert len(loaded.audio) == len(CLIPS)
    for element, (name, seconds, _), path in zip(loaded.audio, CLIPS, paths):
        assert element['error'] is None and element['readyState'] >= 1, element
        assert element['src'] == path.resolve().as_uri(), element
        assert element['duration'] == pytest.approx(seconds, abs=0.02), element
    assert '%20' in loaded.audio[1]['src']
    assert len(loaded.images) == 1 and loaded.images[0]['naturalWidth'] > 0, loaded.images
    assert loaded.images[0]['src'].startswith('data:image/png;base64,')
    assert loaded.external == [] and loaded.scripts == 0
    assert 'Cross-entropy per codebook' in loaded.text and '2.718' in loaded.text and 'mmd w=0.5' in loaded.text
    assert '2.50 s' in loaded.text and 'MMD (stereo)' in loaded.text
    assert elapsed < 60, f"the browser took {elapsed:.1f} s"


def test_page_is_self_contained(report):
    page, _ = report
    html = page.read_text()
    without_data = re.sub(r'data:image/png;base64,[A-Za-z0-9+/=]+', '', html)
    assert not re.search(r'https?:|//|url\(', without_data, re.IGNORECASE)
    assert '<script' not in html and '<link' not in html and '@import' not in html
    assert re.findall(r'<audio controls preload="metadata" src="([^"]+)">', html) == [
        'audio/reference.wav', 'audio/mmd%200.5.wav', 'audio/baseline.wav']
    assert html.count('data:image/png;base64,') == 1
    assert '1.00 s' in html and '2.50 s' in html and '0.50 s' in html


def test_missing_clip_is_named(tmp_path):
    missing = tmp_path / 'audio' / 'nowhere.wav'
    section = PageSection('s', '', [AudioClip('gone', missing)])
    with pytest.raises(ValueError, match='nowhere.wav'):
        write_listening_page(tmp_path / 'report.html', 't', '', [], [], [section])
    assert not (tmp_path / 'report.html').exists()


def test_clip_outside_the_folder_is_refused(tmp_path):
    outside = write_wav(tmp_path / 'elsewhere' / 'clip.wav', sine(0.1, 1), SAMPLE_RATE)
    section = PageSection('s', '', [AudioClip('outside', outside)])
    with pytest.raises(ValueError, match=r'clip\.wav.*outside'):
        write_listening_page(tmp_path / 'report' / 'report.html', 't', '', [], [], [section])
    # `..` that climbs out is refused too; one that stays inside is fine
    climbing = tmp_path / 'report' / '..' / 'elsewhere' / 'clip.wav'
    with pytest.raises(ValueError, match='outside'):
        write_listening_page(tmp_path / 'report' / 'report.html', 't', '', [], [],
                             [PageSection('s', '', [AudioClip('up', climbing)])])
    inside = write_wav(tmp_path / 'report' / 'a' / 'x.wav', sine(0.1, 1), SAMPLE_RATE)
    winding = tmp_path / 'report' / 'a' / '..' / 'a' / 'x.wav'
    page = write_listening_page(tmp_path / 'report' / 'report.html', 't', '', [], [],
                                [PageSection('s', '', [AudioClip('in', winding)])])
    assert 'src="a/x.wav"' in page.read_text() and inside.is_file()


def test_text_is_escaped(tmp_path):
    clip = write_wav(tmp_path / 'c.wav', sine(0.1, 1), SAMPLE_RATE)
    table = PageTable('<i>cap</i>', ['<th>'], [['a & b', '"q"']])
    section = PageSection('<h1>x</h1>', 'n < m', [AudioClip('<b>&', clip)])
    html = write_listening_page(tmp_path / 'p.html', 'T <script>', 'i & j', [table], [], [section]).read_text()
    assert '<span class="label">&lt;b&gt;&amp;</span>' in html
    assert '<b>&' not in html and '<script>' not in html and '<i>cap' not in html
    for escaped in ('T &lt;script&gt;', 'i &amp; j', '&lt;i&gt;cap&lt;/i&gt;', '&lt;th&gt;', 'a &amp; b',
                    '&quot;q&quot;', '&lt;h1&gt;x&lt;/h1&gt;', 'n &lt; m'):
        assert escaped in html, escaped


def test_plot_must_be_a_png(tmp_path):
    fake = tmp_path / 'plot.png'
    fake.write_text('not a png')
    with pytest.raises(ValueError, match='plot.png'):
        write_listening_page(tmp_path / 'p.html', 't', '', [], [fake], [])
    with pytest.raises(ValueError, match='absent.png'):
        write_listening_page(tmp_path / 'p.html', 't', '', [], [tmp_path / 'absent.png'], [])


def test_write_wav_round_trip(tmp_path):
    stereo = sine(0.25, 2)
    path = write_wav(tmp_path / 'deep' / 'er' / 's.wav', stereo, SAMPLE_RATE)
    info = soundfile.info(str(path))
    assert (info.subtype, info.format, info.samplerate, info.channels, info.frames) == (
        'PCM_16', 'WAV', SAMPLE_RATE, 2, stereo.shape[1])
    back, sr = soundfile.read(str(path), dtype='float32', always_2d=True)
    assert sr == SAMPLE_RATE and back.shape == (stereo.shape[1], 2)
    np.testing.assert_allclose(back.T, stereo.numpy(), atol=1 / 2 ** 15 + 1e-6)
    mono = write_wav(tmp_path / 'm.wav', sine(0.1, 1), SAMPLE_RATE)
    assert soundfile.info(str(mono)).channels == 1
    with pytest.raises(ValueError):
        write_wav(tmp_path / 'bad.wav', torch.zeros(1, 2, 3), SAMPLE_RATE)


def test_write_wav_normalises_only_a_peak_above_one(tmp_path):
    loud = sine(0.1, 1, amplitude=1.0)
    loud[10] = 4.0
    back, _ = soundfile.read(str(write_wav(tmp_path / 'loud.wav', loud, SAMPLE_RATE)), dtype='float32')
    assert np.abs(back).max() == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(back, loud.numpy() / 4.0, atol=1 / 2 ** 15 + 1e-6)
    quiet = sine(0.1, 1, amplitude=0.25)
    back, _ = soundfile.read(str(write_wav(tmp_path / 'quiet.wav', quiet, SAMPLE_RATE)), dtype='float32')
    assert np.abs(back).max() == pytest.approx(0.25, abs=1e-3)
