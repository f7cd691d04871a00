"""A `sacct` for a Slurm without accounting storage, read from ``scontrol -o show job``.

Dora (through submitit) reads job states with ``sacct -o JobID,State,NodeList --parsable2 -j ID ...``; a
Slurm without ``slurmdbd`` answers that with an error, and Dora shows every XP as UNKNOWN forever.
`audiocraft_mmd.slurm.LocalSlurm` copies this file into its ``bin/`` (put first on ``PATH``). It knows
what slurmctld still holds in memory: the local Slurm keeps finished jobs for a day (``MinJobAge``).

Standard library only: it runs as a script, at every state update of Dora.
"""
import argparse
import re
import subprocess
import sys
import typing as tp

#: sacct field -> scontrol key (JobID is composed from the array ids).
FIELDS = {'JobIDRaw': 'JobId', 'JobName': 'JobName', 'State': 'JobState', 'NodeList': 'NodeList',
          'ExitCode': 'ExitCode', 'Partition': 'Partition', 'Elapsed': 'RunTime', 'Reason': 'Reason',
          'Start': 'StartTime', 'End': 'EndTime', 'Submit': 'SubmitTime'}
_TOKEN = re.compile(r'(\w+)=(\S*)')


def parse_jobs(text: str) -> tp.List[tp.Dict[str, str]]:
    """One dict per line of ``scontrol -o show job`` (its ``Key=value`` tokens)."""
    return [dict(_TOKEN.findall(line)) for line in text.splitlines() if line.startswith('JobId=')]


def job_id(job: tp.Dict[str, str]) -> str:
    """sacct's JobID: ``ID``, ``ARRAY_TASK`` or ``ARRAY_[RANGE]`` for the array tasks not started yet."""
    array, task = job.get('ArrayJobId'), job.get('ArrayTaskId')
    if not array or not task:
        return job['JobId']
    task = task.split('%')[0]
    return f"{array}_[{task}]" if any(c in task for c in '-,') else f"{array}_{task}"


def field(job: tp.Dict[str, str], name: str) -> str:
    if name == 'JobID':
        return job_id(job)
    value = job.get(FIELDS[name], '')
    if name == 'NodeList' and value in ('', '(null)'):
        return 'None assigned'
    return value


def show_jobs(ids: tp.Sequence[str]) -> tp.List[tp.Dict[str, str]]:
    """Every job record slurmctld holds for ``ids`` (all jobs when empty); unknown ids are left out, as sacct does."""
    jobs = []
    for jid in ids or [None]:
        command = ['scontrol', '-o', 'show', 'job'] + ([jid] if jid else [])
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode == 0:
            jobs.extend(parse_jobs(proc.stdout))
        elif 'Invalid job id' not in proc.stderr:
            sys.exit(f"sacct (audiocraft-mmd stand-in): {' '.join(command)} failed: {proc.stderr.strip()}")
    return jobs


def main(argv: tp.Optional[tp.Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='sacct', description=__doc__.splitlines()[0])
    parser.add_argument('-o', '--format', default='JobID,JobName,Partition,State,ExitCode')
    parser.add_argument('-j', '--jobs', action='append', default=[])
    parser.add_argument('-P', '--parsable2', action='store_true')
    parser.add_argument('-p', '--parsable', action='store_true')
    parser.add_argument('-n', '--noheader', action='store_true')
    args, _ = parser.parse_known_args(argv)  # e.g. -X, -u, --starttime: every job slurmctld holds is listed
    names = [name.split('%')[0] for name in args.format.split(',') if name]
    unknown = [name for name in names if name != 'JobID' and name not in FIELDS]
    if unknown:
        print(f"sacct (audiocraft-mmd stand-in): unsupported field(s) {', '.join(unknown)}; known: JobID, "
              f"{', '.join(FIELDS)}", file=sys.stderr)
        return 1
    ids = [jid for group in args.jobs for jid in group.split(',') if jid]
    rows = [[field(job, name) for name in names] for job in show_jobs(ids)]
    if not args.noheader:
        rows.insert(0, names)
    for row in rows:
        if args.parsable2 or args.parsable:
            print('|'.join(row) + ('|' if args.parsable else ''))
        else:
            print(' '.join(f"{value:>12}" for value in row))
    return 0


if __name__ == '__main__':
    sys.exit(main())
