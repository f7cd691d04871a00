"""Open a local HTML page in a real headless Chromium (Selenium) and report what it loaded.

Chromium and its WebDriver come from Debian (`chromium`, `chromium-driver`), installed with apt-get when
missing if the tests run as root; the test is skipped, with the reason, where that is impossible. Selenium
is handed Debian's chromedriver, so Selenium Manager never runs (it would try to download a driver).
"""
import tempfile
from dataclasses import dataclass
from pathlib import Path


CHROMIUM = Path('/usr/bin/chromium')
CHROMEDRIVER = Path('/usr/bin/chromedriver')
INSTALL = 'apt-get install -y --no-install-recommends chromium chromium-driver'
CHROMIUM_ARGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--autoplay-policy=no-user-gesture-required',
                 '--allow-file-access-from-files', '--disable-dev-shm-usage', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--disable-default-apps', '--mute-audio')

# Resolves once every <audio> has its metadata (readyState >= 1) or an error, and every <img> is complete.
_SETTLED = """
return Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1 || a.error !== null)
    && Array.from(document.querySelectorAll('img')).every(i => i.complete);
"""

_REPORT = """
const external = new Set();
const note = (url) => {
    if (!url) return;
    let protocol;
    try { protocol = new URL(url, document.baseURI).protocol; } catch (e) { external.add(url); return; }
    if (protocol !== 'file:' && protocol !== 'data:') external.add(url);
};
for (const entry of performance.getEntriesByType('resource')) note(entry.name);
for (const el of document.querySelectorAll('[src], [href], [poster], [data], [action], [srcset]')) {
    for (const name of ['src', 'href', 'poster', 'data', 'action']) note(el.getAttribute(name));
    const srcset = el.getAttribute('srcset');
    if (srcset) srcset.split(',').forEach(item => note(item.trim().split(/\\s+/)[0]));
}
const css = Array.from(document.querySelectorAll('style')).map(s => s.textContent)
    .concat(Array.from(document.querySelectorAll('[style]')).map(e => e.getAttribute('style'))).join('\\n');
for (const m of css.matchAll(/url\\(\\s*['"]?([^'")]+)/g)) note(m[1]);
for (const m of css.matchAll(/@import\\s+['"]([^'"]+)/g)) note(m[1]);
return {
    audio: Array.from(document.querySelectorAll('audio')).map(a => ({
        src: a.currentSrc || a.src, duration: Number.isFinite(a.duration) ? a.duration : null,
        readyState: a.readyState, error: a.error ? a.error.code : null})),
    images: Array.from(document.querySelectorAll('img')).map(i => ({
        src: i.src.slice(0, 64), naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight})),
    scripts: document.querySelectorAll('script').length,
    external: Array.from(external),
    text: document.body.innerText,
};
"""


@dataclass
class PageLoad:
    """What a page loaded: per ``<audio>`` its ``src``, ``duration`` (s), ``readyState`` and ``error`` code
    (None without error); per ``<img>`` its ``naturalWidth``/``naturalHeight``; every resource URL that is
    neither ``file:`` nor ``data:``; the number of scripts; the page's visible text; and whether the wait
    for the media timed out."""
    audio: list[dict]
    images: list[dict]
    external: list[str]
    scripts: int
    text: str
    timed_out: bool


def ensure_chromium() -> None:
    """Install Debian's Chromium and chromedriver when missing; skip (with why) where that is impossible."""
    from conftest import ensure_debian_packages
    ensure_debian_packages('Chromium or chromedriver', INSTALL, lambda: CHROMIUM.is_file() and CHROMEDRIVER.is_file())


def load_page(page: Path, timeout: float = 30.0) -> PageLoad:
    """Open ``page`` (a local file) in headless Chromium, wait up to ``timeout`` s for its media and report."""
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    with tempfile.TemporaryDirectory(prefix='chromium_profile_') as profile:
        options.add_argument(f'--user-data-dir={profile}')
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        try:
            driver.set_page_load_timeout(timeout)
            driver.get(Path(page).resolve().as_uri())
            timed_out = False
            try:
                WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: d.execute_script(_SETTLED))
            except TimeoutException:
                timed_out = True
            report = driver.execute_script(_REPORT)
        finally:
            driver.quit()
    return PageLoad(timed_out=timed_out, **report)


def audio_elements(page: Path, timeout: float = 30.0) -> list[dict]:
    """Per ``<audio>`` of ``page``: ``src``, ``duration``, ``readyState`` and ``error`` (see `load_page`)."""
    return load_page(page, timeout).audio
