"""Command line: ``python -m scaling_debate execute STEM --profile P``, ``build``, ``verify``,
``student-edition OUT`` and ``notebooks``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scaling_debate.book import build as book
from scaling_debate.profiles import PROFILES, check_profile
from scaling_debate.training.executors import EXECUTOR_KINDS, check_executor
from scaling_debate.training.sweep import MissingRunsError


def _add_executor(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--executor",
        default="local",
        help=(
            f"where sweeps train: {' (default), '.join(EXECUTOR_KINDS)} (a Dask LocalCluster, "
            "one single-threaded worker per core) or a Dask scheduler's address, "
            "e.g. tcp://head-node:8786"
        ),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scaling_debate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    execute = commands.add_parser("execute", help="execute one chapter with papermill")
    execute.add_argument("stem", help="chapter file name without .md, e.g. methods")
    execute.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    execute.add_argument("--output", type=Path, help="executed notebook (.ipynb) to write")
    execute.add_argument(
        "--no-train",
        action="store_true",
        help="use stored runs only; fail listing any that are missing",
    )
    _add_executor(execute)

    build = commands.add_parser("build", help="execute changed chapters, then build the HTML")
    build.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    build.add_argument(
        "--no-train",
        action="store_true",
        help="use stored runs only; fail listing any that are missing",
    )
    _add_executor(build)
    verify = commands.add_parser(
        "verify", help="retrain the cheapest stored runs and compare them bit for bit"
    )
    verify.add_argument("--runs", type=int, default=3, help="how many runs (default 3)")
    verify.add_argument("--keep", type=Path, help="keep the retrained records in this folder")
    _add_executor(verify)
    student = commands.add_parser(
        "student-edition", help="write the chapters with every exercise and no solution"
    )
    student.add_argument("out", type=Path, help="an empty folder to write the edition to")
    commands.add_parser(
        "notebooks",
        help="write the runnable notebooks (setup cell, then the chapter) to notebooks/",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "verify":
        return _verify(args.runs, args.keep, args.executor)
    if args.command == "student-edition":
        return _student_edition(args.out)
    if args.command == "notebooks":
        return _notebooks()
    try:
        check_profile(args.profile)
        executor = check_executor(args.executor)
        started = time.perf_counter()
        if args.command == "execute":
            result = book.execute_chapter(
                args.stem,
                args.profile,
                output=args.output,
                no_train=args.no_train,
                executor=executor,
            )
            print(
                f"executed {args.stem} ({args.profile}) in {result.seconds:.1f} s "
                f"-> {result.output}"
            )
        else:
            _, html = book.build(args.profile, no_train=args.no_train, executor=executor)
            print(f"book built in {time.perf_counter() - started:.0f} s: {html / 'index.html'}")
    except (ValueError, book.ChapterError, MissingRunsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _verify(count: int, keep: Path | None, executor: str) -> int:
    from scaling_debate.training.verify import verify_store

    try:
        report = verify_store(count, keep=keep, executor=check_executor(executor))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.render())
    return 0 if report.ok else 1


def _student_edition(out: Path) -> int:
    from scaling_debate.book.student import write_student_edition

    try:
        report = write_student_edition(out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    exercises = sum(r.exercises for r in report.values())
    removed = sum(r.solutions_removed for r in report.values())
    print(f"student edition in {out}: {exercises} exercises, {removed} solutions removed")
    return 0


def _notebooks() -> int:
    from scaling_debate.book import launch
    from scaling_debate.paths import repo_root

    out = repo_root() / launch.NOTEBOOKS_DIR
    try:
        written = launch.write_runnable_notebooks(out, book.runnable_stems())
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} runnable notebooks to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
