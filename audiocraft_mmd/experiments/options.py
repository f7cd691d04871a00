"""The option checks the training commands share (demo, lm-gap), one phrase per problem."""
import typing as tp


def shared_problems(seeds: int, weight: float, num_batches: tp.Optional[int], max_segments: tp.Optional[int],
                    jobs: int) -> tp.List[str]:
    """What is wrong with ``--seeds``, ``--weight``, ``--num-batches``, ``--segments`` and ``--jobs``."""
    problems = []
    if seeds < 1:
        problems.append(f"--seeds must be >= 1 (>= 2 for an interval), got {seeds}")
    if not weight > 0:
        problems.append(f"--weight must be > 0 (the baseline is weight 0), got {weight:g}")
    if num_batches is not None and num_batches < 1:
        problems.append(f"--num-batches must be >= 1 (mmd.num_batches), got {num_batches}")
    if max_segments is not None and max_segments < 1:
        problems.append(f"--segments must be >= 1, got {max_segments}")
    if jobs < 1:
        problems.append(f"--jobs must be >= 1, got {jobs}")
    return problems
