"""``audiocraft-mmd report``: the paper's Fig. 2 of a grid or XPs (`audiocraft_mmd.report`), or the results
document from the report JSONs (`audiocraft_mmd.results`)."""
import argparse
import sys
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        'report', help="the paper's Fig. 2 (MMD, total correlation, MSSpec vs MMD weight) for a grid or XPs")
    report.add_argument('targets', nargs='*', metavar='GRID_OR_SIG',
                        help="a grid name (mmd.encodec_32khz), XP signatures or //sig/SIG")
    report.add_argument('--plot', help="write the figure (PNG)")
    report.add_argument('--out', help="write the table as JSON")
    report.add_argument('--markdown', metavar='PATH',
                        help="instead: write the results document (docs/RESULTS.md) from the report JSONs under "
                             "--results")
    report.add_argument('--results', default='docs/results',
                        help="with --markdown: the folder of report JSONs (default docs/results)")
    report.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict
    from .. import report
    from ..errors import ConfigurationError
    if args.markdown:
        from ..results import write_results
        if args.targets:
            raise ConfigurationError("report --markdown reads the reports under --results, not XPs: drop "
                                     f"{' '.join(args.targets)}.")
        if not Path(args.results).is_dir():
            raise ConfigurationError(f"--results {args.results} is not a folder (the report JSONs, e.g. docs/results).")
        print(f"Wrote {write_results(Path(args.markdown), Path(args.results))}")
        return 0
    if not args.targets:
        raise ConfigurationError("report needs a grid name or XP signatures (or --markdown PATH).")
    rows = [report.xp_row(xp) for xp in report.resolve_xps(args.targets)]
    if not rows:
        print("error: no XP found for " + ' '.join(args.targets), file=sys.stderr)
        return 1
    rows.sort(key=lambda r: (r.alignment, r.kernel, r.weight))
    print(report.format_rows(rows))
    if args.out:
        Path(args.out).write_text(json.dumps([asdict(row) for row in rows], indent=2))
        print(f"Wrote {args.out}")
    if args.plot:
        print(f"Wrote {report.plot_rows(rows, args.plot)}")
    return 0
