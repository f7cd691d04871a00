"""Check that the AudioCraft stack resolved as AudioCraft pins it, and that `uv pip check` (its output on stdin)
finds nothing the plugin caused: the one expected conflict is the overridden av pin. Exits non-zero with the
difference."""
import sys
from importlib import metadata

PINNED = {'torch': '2.1.0', 'torchaudio': '2.1.0', 'xformers': '0.0.22.post7', 'audiocraft': '1.3.0'}
EXPECTED_CONFLICT = 'requires `av==11.0.0`'  # overrides.txt: av 11 has no wheel on the registry


def main() -> int:
    problems = [f"{name} {metadata.version(name)} where AudioCraft pins {version}"
                for name, version in PINNED.items() if metadata.version(name).split('+')[0] != version]
    numpy = metadata.version('numpy')
    if int(numpy.split('.')[0]) >= 2:
        problems.append(f"numpy {numpy} where AudioCraft's stack needs numpy<2")
    check = sys.stdin.read()
    if 'Checked' not in check:
        problems.append(f"no `uv pip check` output on stdin: {check.strip()[-500:]!r}")
    conflicts = [line.strip() for line in check.splitlines() if 'requires' in line and EXPECTED_CONFLICT not in line]
    problems += [f"uv pip check: {line}" for line in conflicts]
    print('AudioCraft stack: ' + ', '.join(f"{name} {metadata.version(name)}" for name in
                                           (*PINNED, 'numpy', 'transformers', 'av', 'audiocraft-mmd')))
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
