"""``vidstruct worker [--data-dir DIR] [--db URL]``: one worker alone (on this or another machine), claiming
jobs from the service's database until SIGTERM / Ctrl-C (which release the job in hand)."""

from __future__ import annotations

import argparse

NAME = "worker"
HELP = "run one job worker of the service (claims jobs from its database; SIGTERM releases the job in hand)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vidstruct.service.settings import add_store_arguments, add_worker_arguments

    add_store_arguments(parser)
    add_worker_arguments(parser)
    parser.add_argument("--poll-s", type=float, default=1.0, help="seconds between looks for work when idle")
    parser.add_argument("--max-jobs", type=int, default=None, help="stop after this many jobs (default: never)")
    parser.add_argument("--exit-when-idle", action="store_true", help="stop when no job is waiting")
    parser.add_argument("--log-json", action="store_true", help="logs as one JSON object per line (stderr)")


def run(args: argparse.Namespace) -> int:
    import logging

    from vidstruct.service.db.migrate import require_current
    from vidstruct.service.db.session import make_engine, session_factory
    from vidstruct.service.jobs.worker import JobWorker, install_signal_handlers
    from vidstruct.service.settings import store_settings

    if args.log_json:
        from vidstruct.service.logs import use_json_logs

        use_json_logs()
    settings = store_settings(args, poll_s=args.poll_s)
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
        worker = JobWorker(settings, factory=session_factory(engine))
        install_signal_handlers(worker)
        logging.getLogger(__name__).info("worker %s started", worker.id)
        done = worker.run(max_jobs=args.max_jobs, exit_when_idle=args.exit_when_idle)
        logging.getLogger(__name__).info("worker %s stopped after %d job(s)", worker.id, done)
    finally:
        engine.dispose()
    return 0
