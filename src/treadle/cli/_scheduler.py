"""``treadle scheduler``: the pipeline scheduler loop without the HTTP server."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from treadle.cli._context import state
from treadle.cli._output import note


def scheduler(
    ctx: typer.Context,
    poll: Annotated[float, typer.Option("--poll", min=0.05, help="Seconds between ticks.")] = 1.0,
    max_concurrent: Annotated[
        int, typer.Option("--max-concurrent", min=1, help="Pipeline runs started at once, at most.")
    ] = 4,
    once: Annotated[
        bool, typer.Option("--once", help="One tick: fire what is due, start queued runs, wait for them, exit.")
    ] = False,
) -> None:
    """Fire cron, event, pipeline-success and webhook triggers and start queued pipeline runs, until
    interrupted. Any number may run: one holds the database lease and acts, the others stand by."""
    from treadle.pipelines._scheduler import Scheduler

    cli = state(ctx)
    loop = Scheduler(cli.uri, cli.artifacts, poll_s=poll, max_concurrent=max_concurrent)
    if once:
        report = loop.tick()
        if not report.leader:
            note("another scheduler holds the lease; nothing done")
            return
        loop.wait(timeout=24 * 3600)
        loop.stop()
        note(f"fired {len(report.fired)}, started {len(report.launched)}, reaped {len(report.reaped)}")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    note(f"treadle scheduler on {cli.uri} (tick {poll:g}s, at most {max_concurrent} runs at once); Ctrl+C to stop")
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        loop.stop()
