"""The Temporal worker: hosts the workflows and activities on the task queue until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, Worker

import activities
import workflows
from core.db import create_sessionmaker, engine_from_settings
from core.fallbacks import send_waiting
from core.logging import configure_logging
from core.repositories.delivery_counts import FOLD_BATCH, FOLD_SECONDS, fold
from core.settings import Settings, get_settings
from core.temporal import connect, metrics_runtime, placement
from core.webhook_events import start_stranded

logger = logging.getLogger("worker")

# In-flight activities get this long to finish after SIGTERM before they are cancelled.
GRACEFUL_SHUTDOWN = timedelta(seconds=5)
# How often the worker looks for webhook deliveries whose workflow never started, and for
# fallbacks Temporal did not take.
SWEEP_SECONDS = 30.0


class TemporalUnreachable(Exception):
    pass


class MetricsAddressUnusable(Exception):
    pass


async def run(settings: Settings) -> None:
    engine = engine_from_settings(settings)
    outbound = activities.build_outbound(settings)
    folding = asyncio.create_task(fold_delivery_counts(create_sessionmaker(engine)))
    sweeping: asyncio.Task[None] | None = None
    try:
        client = await _connect(settings)
        sweeping = asyncio.create_task(sweep(create_sessionmaker(engine), client, settings))
        worker = Worker(
            client,
            task_queue=settings.TEMPORAL_TASK_QUEUE,
            workflows=workflows.WORKFLOWS,
            workflow_runner=workflows.workflow_runner(),
            activities=activities.build_activities(settings, create_sessionmaker(engine), outbound),
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
            **tuning(settings),
        )
        stop = _stop_on_signals()
        # The context manager runs the worker and raises if it fails fatally.
        async with worker:
            logger.info(
                "polling task queue %r on %s (namespace %s)",
                settings.TEMPORAL_TASK_QUEUE,
                settings.TEMPORAL_ADDRESS,
                settings.TEMPORAL_NAMESPACE,
            )
            await stop.wait()
            logger.info("signal received, shutting down")
            await worker.shutdown()
    finally:
        folding.cancel()
        if sweeping is not None:
            sweeping.cancel()
        await outbound.close()
        await engine.dispose()


async def fold_delivery_counts(sessionmaker: Any, every: float = FOLD_SECONDS) -> None:
    """Keep the delivery counts ledger short (see core.repositories.delivery_counts): fold
    it now and every `every` seconds, until cancelled. A failed fold is logged and tried
    again next time; the counts are right either way, only slower to sum."""
    while True:
        try:
            async with sessionmaker() as session:
                while await fold(session) >= FOLD_BATCH:
                    pass
        except Exception:
            logger.warning("could not fold the delivery counts", exc_info=True)
        await asyncio.sleep(every)


async def sweep(
    sessionmaker: Any, client: Client, settings: Settings, every: float = SWEEP_SECONDS
) -> None:
    """Now and every `every` seconds, until cancelled: start the webhook deliveries whose
    start was lost (core.webhook_events) and send the fallbacks Temporal could not take
    when they were asked for (core.fallbacks). A failed sweep is logged and tried again."""
    jobs = {
        "webhook deliveries": lambda: start_stranded(
            sessionmaker, client, settings.TEMPORAL_TASK_QUEUE
        ),
        "fallbacks": lambda: send_waiting(sessionmaker, client, placement(settings)),
    }
    while True:
        for what, job in jobs.items():
            try:
                await job()
            except Exception:
                logger.warning("could not sweep the %s", what, exc_info=True)
        await asyncio.sleep(every)


def tuning(settings: Settings) -> dict[str, Any]:
    """How the worker polls and what it keeps in memory; the benchmarks use it too."""
    return {
        "max_cached_workflows": settings.WORKER_MAX_CACHED_WORKFLOWS,
        # As many polls as the server says its backlog needs. With the SDK's fixed five, one
        # polled the shared (non-sticky) queue, where each new reminder's first workflow task
        # waits: under API load on PostgreSQL 10 % of them waited 5 s or more, and a query
        # or trigger to that reminder waited with them (bench/RESULTS.md).
        "workflow_task_poller_behavior": PollerBehaviorAutoscaling(),
        "activity_task_poller_behavior": PollerBehaviorAutoscaling(),
        # Longer than the SDK's 10 s: a task that waited that long behind a burst was
        # moved to the shared queue and its reminder rebuilt from its history, which
        # doubled the burst's CPU (bench/README.md, third step).
        "sticky_queue_schedule_to_start_timeout": timedelta(
            seconds=settings.WORKER_STICKY_QUEUE_TIMEOUT_SECONDS
        ),
    }


async def _connect(settings: Settings) -> Client:
    runtime = None
    if settings.WORKER_METRICS_ADDRESS:
        try:
            runtime = metrics_runtime(settings.WORKER_METRICS_ADDRESS)
        except ValueError as exc:  # the SDK's way of saying the port is taken
            raise MetricsAddressUnusable(
                f"cannot serve metrics on WORKER_METRICS_ADDRESS="
                f"{settings.WORKER_METRICS_ADDRESS}: {exc}"
            ) from exc
        logger.info("Temporal SDK metrics on http://%s/metrics", settings.WORKER_METRICS_ADDRESS)
    try:
        return await connect(settings, runtime=runtime)
    except Exception as exc:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {settings.TEMPORAL_ADDRESS} "
            f"(namespace {settings.TEMPORAL_NAMESPACE}): {exc}"
        ) from exc


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def main() -> None:
    code = 0
    try:
        settings = get_settings()
        configure_logging(settings)
        settings.check_production_safety()
        asyncio.run(run(settings))
        logger.info("stopped")
    except (TemporalUnreachable, MetricsAddressUnusable) as exc:
        logger.error("%s", exc)
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception:
        logger.exception("worker failed")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's native runtime can crash while the interpreter tears down (a known SDK
    # issue), which would turn a clean stop into a core dump; leave without teardown.
    os._exit(code)


if __name__ == "__main__":
    main()
