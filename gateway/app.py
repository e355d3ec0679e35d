"""The FastAPI application factory and the lifespan that wires the stages together."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from admin_ui.routes import install as install_ui
from estimators.hosted import HostedEstimator
from gateway.identity.auth import Authenticator, Directory, FrontendPolicy
from gateway.budgets.gate import BudgetGate
from gateway.ledger.batched import BatchedInserter
from gateway.budgets.factory import build_store, check_store
from gateway.budgets.ledger_source import LedgerRebuildSource
from gateway.budgets.overrides import BudgetOverrides
from gateway.budgets.service import BudgetService
from gateway.providers.catalogue import Catalogue
from gateway.request.embeddings import EmbeddingService
from gateway.edge.errors import install_error_handlers
from gateway.edge.event_stream import ServerSendCapture
from gateway.observability.footprint import Footprint, measured_models
from gateway.identity.keys import KeyStore
from gateway.ledger import db, partitions
from gateway.ledger.writer import LedgerWriter
from gateway.edge.limits import BodySizeLimit, HeaderSizeLimit
from gateway.observability.logs import configure_logging
from gateway.request.pipeline import ChatPipeline
from gateway.edge.routes import admin, chat, dead_letters, embeddings, impacts, me, messages, models, responses
from gateway.edge import access_log
from gateway.edge.access_log import AccessTrace, RefusalTrace
from gateway.request.content_log import ContentLog
from gateway.ledger.spool import Spool
from gateway.budgets.ratelimit import Limits, build_rate_limiter
from gateway.settings import Settings, get_settings
from gateway.ledger.audit import AuditLog, export_checkpoints
from gateway.services.budget_overrides import BudgetOverrideService
from gateway.services.keys import KeyService
from gateway.services.policy_publishing import PolicyPublishing
from gateway.services.pseudonyms import PseudonymLinks, Pseudonyms
from gateway.services.registry import Services
from gateway.inventory.service import Inventory
from gateway.edge.routes import committee
from gateway.gc_pacing import GcPacer, freeze_start_up
from gateway.observability.metrics import Metrics
from gateway.edge.routes import metrics as metrics_route
from gateway.observability.telemetry import Telemetry, tracer_provider_from_env
from gateway.providers.upstream import Upstream
from policies.engine import PolicyEngine

log = logging.getLogger("sobria")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


def _background(stack: AsyncExitStack, coroutine: Coroutine[Any, Any, None], name: str) -> None:
    """Run a loop for the life of the app; the stack cancels it (and waits for it) on the way out."""
    stack.push_async_callback(_cancel, asyncio.create_task(coroutine, name=name))


def frontend_policy(settings: Settings) -> FrontendPolicy:
    """How this gateway checks the users a trusted front end forwards."""
    return FrontendPolicy(
        jwt_secret=settings.jwt_secret or None,
        jwt_max_lifetime_s=settings.jwt_max_lifetime_s,
        jwt_issuer=settings.jwt_issuer or None,
        jwt_audience=settings.jwt_audience or None,
        unmapped_users=settings.unmapped_users,
        unmapped_department=settings.unmapped_department,
    )


async def compose(app: FastAPI, stack: AsyncExitStack) -> None:
    """Build and start every collaborator; each one started registers its stop on `stack` at once.

    So whatever fails half-way through start-up, what had started is stopped, in reverse."""
    settings: Settings = app.state.settings
    url = settings.effective_database_url
    await db.upgrade(url)
    engine = db.make_engine(url)
    stack.push_async_callback(engine.dispose)
    await partitions.maintain(engine, settings.ledger_raw_retention_months)
    catalogue = Catalogue.load(settings.catalogue_path)
    for spec in catalogue.all():
        log.info("model %s (%s tier): %s", spec.name, spec.tier, spec.provenance)
    pseudonyms = Pseudonyms(settings.effective_pseudonym_key())
    audit = AuditLog(engine, settings.effective_audit_key())
    keys = KeyStore(engine, serve_when_database_down=settings.database_down_mode == "serve")
    spool = Spool(settings.data_dir / "spool", settings.ledger_spool_sync, settings.ledger_spool_fsync_ms)
    ledger = LedgerWriter(engine, settings.ledger_flush_interval_s, settings.ledger_batch_size, spool)
    await ledger.start()

    async def stop_ledger() -> None:
        await ledger.stop()
        log.info("ledger flushed: %d records written", ledger.written)

    stack.push_async_callback(stop_ledger)
    access_trace = AccessTrace(engine)
    await access_trace.start()
    stack.push_async_callback(access_trace.stop)
    content_log = None
    if settings.content_log_enabled:
        content_log = ContentLog(engine, settings.content_log_retention_days, settings.content_log_purge_interval_s)
        await content_log.start()
        stack.push_async_callback(content_log.stop)
        log.warning("content logging is on: prompt and completion text kept %s days", settings.content_log_retention_days)
    policy = PolicyEngine.load(settings.policy_path, catalogue)
    publishing = PolicyPublishing(policy, engine, url, audit, settings.policy_path)
    await publishing.start()
    store = build_store(settings.budgets, settings.redis_url, LedgerRebuildSource(engine))
    await check_store(store)
    budgets = BudgetService(store, settings.budgets)
    ledger.on_written = getattr(store, "written", None)
    stack.push_async_callback(budgets.aclose)
    overrides = BudgetOverrideService(BudgetOverrides(engine), budgets, audit, pseudonyms)
    await overrides.refresh()
    inventory = Inventory(engine, audit, settings.k_anonymity, settings.use_case_refresh_s)
    await inventory.start(policy.policy.use_cases)
    stack.push_async_callback(inventory.stop)
    authenticator = Authenticator(
        keys, settings.effective_pseudonym_key(), Directory.load(settings.directory_path), frontend_policy(settings)
    )
    metrics = Metrics()
    metrics.watch_ledger(lambda: ledger.pending, lambda: ledger.flush_errors)
    writers: list[LedgerWriter | BatchedInserter] = [ledger, access_trace.rows]
    if content_log is not None:
        writers.append(content_log.rows)

    def dead_letter_counts() -> Counter[str]:
        return sum((w.dead_letters.counts for w in writers), Counter())

    metrics.watch_dead_letters(dead_letter_counts)
    tracer_provider = getattr(app.state, "tracer_provider", None) or tracer_provider_from_env()
    if tracer_provider is not None:
        stack.callback(tracer_provider.shutdown)
    upstream = Upstream(catalogue, settings.upstream_timeout_s, settings.upstream_retries, errors=metrics,
                        relay=settings.upstream_relay, max_connections=settings.upstream_max_connections)
    stack.push_async_callback(upstream.aclose)
    footprint = None
    if settings.measured_mode:
        footprint = Footprint(
            engine, measured_models(catalogue.all()), settings.measurement_window_s, settings.measurement_zone,
            str(settings.data_dir.resolve()),
        )
        await footprint.start()
        stack.push_async_callback(footprint.stop)
        log.info("measured mode: codecarbon windows of %ss for the gateway and %s", settings.measurement_window_s,
                 ", ".join(footprint.models) or "no local model")
    pipeline = ChatPipeline(
        catalogue=catalogue,
        policy=policy,
        upstream=upstream,
        estimator=HostedEstimator(),
        budgets=BudgetGate(budgets),
        ledger=ledger,
        demo_output_tokens=settings.demo_output_tokens,
        rate_limiter=build_rate_limiter(Limits(settings.rate_limit_rpm, settings.rate_limit_tpm), settings.redis_url),
        content_log=content_log,
        telemetry=Telemetry(tracer_provider, metrics, frozenset(spec.name for spec in catalogue.all())),
        inventory=inventory,
        footprint=footprint,
    )
    _background(stack, publishing.follow(settings.policy_follow_interval_s), "sobria-policy-follow")
    _background(stack, publishing.watch_file(settings.policy_file_poll_s), "sobria-policy-file")
    _background(stack, overrides.follow(), "sobria-budget-overrides")
    _background(stack, export_checkpoints(audit, settings.effective_audit_checkpoint_path,
                                          settings.audit_checkpoint_interval_s), "sobria-audit-checkpoints")
    state = app.state
    state.services = Services(KeyService(keys, audit, pseudonyms), overrides, publishing, pseudonyms, audit,
                              PseudonymLinks(pseudonyms, audit))
    state.engine, state.catalogue, state.keys, state.ledger = engine, catalogue, keys, ledger
    state.budgets, state.policy_engine, state.audit, state.inventory = budgets, policy, audit, inventory
    state.authenticator, state.metrics, state.footprint, state.pipeline = authenticator, metrics, footprint, pipeline
    state.access_trace = access_trace
    state.ledger_writers, state.dead_letter_counts = writers, dead_letter_counts
    state.embeddings = EmbeddingService(catalogue, policy, upstream, BudgetGate(budgets), ledger)
    freeze_start_up()
    pacer = GcPacer(settings.gc_check_every_s, settings.gc_young_growth, settings.gc_full_every_s,
                    metrics.gc_pause)
    pacer.start()
    stack.callback(pacer.stop)
    log.info("sobria ready: ledger %s, %d models", engine.url.render_as_string(hide_password=True), len(catalogue.all()))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The composition root: what `compose` started is stopped in reverse, on shutdown or a failed start."""
    async with AsyncExitStack() as stack:
        await compose(app, stack)
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """A gateway application; settings default to the environment's."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = ServerSendCapture(
        title="Sobria",
        version="0.1.0",
        summary="Internal GenAI gateway: frugal routing, budgets, impacts and inventory",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RefusalTrace)
    app.add_middleware(HeaderSizeLimit, max_bytes=settings.max_header_bytes)  # outermost: before anything reads them
    app.include_router(chat.router)
    app.include_router(responses.router)
    app.include_router(messages.router)
    app.include_router(embeddings.router)
    app.include_router(models.router)
    app.include_router(access_log.router)
    app.include_router(dead_letters.router)
    app.include_router(me.router)
    app.include_router(admin.router)
    app.include_router(impacts.router)
    app.include_router(metrics_route.router)
    install_ui(app)
    app.include_router(committee.router)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request) -> Any:
        """The process can serve: database reachable, ledger not backed up."""
        from sqlalchemy import text

        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        failing = [w for w in getattr(request.app.state, "ledger_writers", []) if w.consecutive_failures >= 3]
        if failing:
            return JSONResponse({"status": "unavailable", "ledger": "writes failing"}, status_code=503)
        return {"status": "ready", "ledger_pending": request.app.state.ledger.pending}

    _document_chat_body(app)
    return app


def _document_chat_body(app: FastAPI) -> None:
    """Add the chat body's schema, parsed by hand in the route, to the OpenAPI document."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            document.setdefault("components", {}).setdefault("schemas", {}).update(chat.openapi_components())
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
