"""The commands' text tables."""
import typing as tp


def text_table(rows: tp.Sequence[tp.Sequence[str]], widths: tp.Sequence[int]) -> str:
    """``rows`` of cells, the first column left-aligned in ``widths[0]`` characters, each other right-aligned in
    its own width (a row may end early)."""
    return '\n'.join(f"{row[0]:{widths[0]}}" + ''.join(f"{cell:>{width}}" for cell, width in zip(row[1:], widths[1:]))
                     for row in rows)
