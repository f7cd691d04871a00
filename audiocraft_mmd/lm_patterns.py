"""The LM decoding patterns the paper compares (Table 2), as ``codebooks_pattern.*`` overrides of a 4-codebook LM:
delay predicts the K codebooks of a step together (K-1 frames apart), flatten one token per step (K times the
steps, the joint distribution). The Table 2 grid and `audiocraft-mmd lm-gap` both read them from here."""
import typing as tp

LM_PATTERNS: tp.Dict[str, tp.Dict[str, tp.Any]] = {
    'delay': {'codebooks_pattern.modeling': 'delay'},
    'flatten': {'codebooks_pattern.modeling': 'unroll', 'codebooks_pattern.unroll.flattening': [0, 1, 2, 3],
                'codebooks_pattern.unroll.delays': [0, 0, 0, 0]},
}


def pattern_argv(pattern: str) -> tp.List[str]:
    """`LM_PATTERNS` ``pattern`` as Dora argv (``codebooks_pattern.unroll.delays=[0,0,0,0]``)."""
    def text(value: tp.Any) -> str:
        return '[' + ','.join(map(str, value)) + ']' if isinstance(value, list) else str(value)
    return [f'{key}={text(value)}' for key, value in LM_PATTERNS[pattern].items()]
