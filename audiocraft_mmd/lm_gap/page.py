"""A static listening page: one HTML file that works offline, opened straight from disk (``file://``).

Tables are HTML tables, plots are PNGs inlined as ``data:`` URIs, and each clip is an ``<audio>`` element
whose ``src`` is relative to the page's folder (so the folder can be copied or zipped as a whole). The page
refers to nothing else: no network URL, no script, no web font; its CSS is inline.
"""
import base64
import os
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import quote

import soundfile

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
img { max-width: 100%; display: block; margin: 1em 0; }
.clip { display: flex; align-items: center; gap: 1em; margin: 0.4em 0; }
.clip .label { min-width: 12em; }
.clip .duration { color: #666; font-variant-numeric: tabular-nums; }
.note { color: #444; }
"""


@dataclass
class AudioClip:
    """A wav file of the report and the label shown next to its player."""
    label: str
    path: Path


@dataclass
class PageSection:
    """A titled group of clips with a short note."""
    title: str
    note: str
    clips: list[AudioClip] = field(default_factory=list)


@dataclass
class PageTable:
    """A table: a caption, its header cells and its rows of cells (already formatted as text)."""
    caption: str
    header: list[str]
    rows: list[list[str]]


def _relative_src(clip: AudioClip, folder: Path) -> str:
    """URL-quoted path of the clip relative to ``folder``; ``ValueError`` if it is missing or outside it."""
    path = Path(clip.path)
    if not path.is_file():
        raise ValueError(f"audio clip {clip.label!r}: no such file {path}")
    # Plain absolute paths first (a link inside the folder stays inside), then with links resolved.
    for clip_path, base in ((Path(os.path.abspath(path)), Path(os.path.abspath(folder))),
                            (path.resolve(), folder.resolve())):
        if clip_path.is_relative_to(base):
            return quote(clip_path.relative_to(base).as_posix())
    raise ValueError(f"audio clip {clip.label!r}: {path} is outside the page's folder {folder}")


def _paragraphs(text: str, css_class: str = '') -> str:
    """Escaped ``<p>`` elements, one per blank-line separated block of ``text``."""
    attr = f' class="{css_class}"' if css_class else ''
    blocks = [block.strip() for block in text.split('\n\n') if block.strip()]
    return '\n'.join(f'<p{attr}>{escape(block)}</p>' for block in blocks)


def _table(table: PageTable) -> str:
    head = ''.join(f'<th>{escape(str(cell))}</th>' for cell in table.header)
    body = '\n'.join('<tr>' + ''.join(f'<td>{escape(str(cell))}</td>' for cell in row) + '</tr>'
                     for row in table.rows)
    return (f'<table>\n<caption>{escape(table.caption)}</caption>\n<thead><tr>{head}</tr></thead>\n'
            f'<tbody>\n{body}\n</tbody>\n</table>')


def _plot(path: Path) -> str:
    """An ``<img>`` holding the PNG at ``path`` as a ``data:`` URI; ``ValueError`` if missing or not a PNG."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"plot: no such file {path}")
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"plot {path} is not a PNG file")
    encoded = base64.b64encode(data).decode('ascii')
    return f'<img alt="{escape(path.stem)}" src="data:image/png;base64,{encoded}">'


def _clip(clip: AudioClip, folder: Path) -> str:
    src = _relative_src(clip, folder)
    duration = soundfile.info(str(clip.path)).duration
    return (f'<div class="clip"><span class="label">{escape(clip.label)}</span>'
            f'<audio controls preload="metadata" src="{escape(src)}"></audio>'
            f'<span class="duration">{duration:.2f} s</span></div>')


def write_listening_page(path: Path, title: str, intro: str, tables: list[PageTable], plots: list[Path],
                         sections: list[PageSection]) -> Path:
    """Write the listening page to ``path`` (one self-contained HTML file) and return ``path``.

    Every clip must be an existing audio file inside the page's folder (``ValueError`` naming it otherwise);
    its duration is read from the file's header. Plots must be PNG files; they are embedded in the page.
    """
    path = Path(path)
    folder = path.parent
    parts = [f'<h1>{escape(title)}</h1>', _paragraphs(intro), *map(_table, tables), *map(_plot, plots)]
    for section in sections:
        parts += [f'<section>\n<h2>{escape(section.title)}</h2>', _paragraphs(section.note, 'note'),
                  *(_clip(clip, folder) for clip in section.clips), '</section>']
    html = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n'
            + '\n'.join(part for part in parts if part) + '\n</body>\n</html>\n')
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding='utf-8')
    return path
