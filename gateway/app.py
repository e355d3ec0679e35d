"""The FastAPI application factory and the lifespan that wires the stages together."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from admin_ui.routes import install as install_ui
from estimators.hosted import HostedEstimator
from gateway.auth import Authenticator, Directory
from gateway.budget_gate import BudgetGate
from gateway.budgets.factory import build_store, check_store
from gateway.budgets.ledger_source import LedgerRebuildSource
from gateway.budgets.overrides import BudgetOverrides
from gateway.budgets.service import BudgetService
from gateway.catalogue import Catalogue
from gateway.errors import install_error_handlers
from gateway.footprint import Footprint, measured_models
from gateway.keys import KeyStore
from gateway.ledger import db, partitions
from gateway.ledger.writer import LedgerWriter
from gateway.limits import BodySizeLimit, HeaderSizeLimit
from gateway.logs import configure_logging
from gateway.pipeline import ChatPipeline
from gateway.routes import admin, chat, impacts, me, models
from gateway import access_log
from gateway.access_log import AccessTrace, RefusalTrace
from gateway.content_log import ContentLog
from gateway.ledger.spool import Spool
from gateway.ratelimit import Limits, build_rate_limiter
from gateway.settings import Settings, get_settings
from gateway.audit import AuditLog
from gateway.inventory.service import Inventory
from gateway.routes import committee
from gateway.metrics import Metrics
from gateway.routes import metrics as metrics_route
from gateway.telemetry import Telemetry, tracer_provider_from_env
from gateway.upstream import Upstream
from policies import admin_routes as policy_admin
from policies.engine import PolicyEngine, ReloadResult
from policies.history import record_version
from policies.publish import PolicyPublisher
from policies.watch import watch_policy_file

log = logging.getLogger("sobria")


async def _record_reload(engine, policy: PolicyEngine, result: ReloadResult) -> None:  # noqa: ANN001
    """Keep the policy history in step with reloads of the policy file."""
    if result.loaded:
        await record_version(engine, policy, "file-watch")


async def _refresh_overrides(budgets: BudgetService, engine, interval_s: float = 5.0) -> None:  # noqa: ANN001
    """Pick up budget overrides set through another replica."""
    overrides = BudgetOverrides(engine)
    while True:
        await asyncio.sleep(interval_s)
        try:
            budgets.set_overrides(await overrides.load())
        except Exception:
            log.warning("could not reload budget overrides; keeping the current ones", exc_info=True)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    url = settings.effective_database_url
    await db.upgrade(url)
    engine = db.make_engine(url)
    await partitions.maintain(engine, settings.ledger_raw_retention_months)
    catalogue = Catalogue.load(settings.catalogue_path)
    for spec in catalogue.all():
        log.info("model %s (%s tier): %s", spec.name, spec.tier, spec.provenance)
    keys = KeyStore(engine, serve_when_database_down=settings.database_down_mode == "serve")
    spool = Spool(settings.data_dir / "spool", settings.ledger_spool_sync, settings.ledger_spool_fsync_ms)
    ledger = LedgerWriter(engine, settings.ledger_flush_interval_s, settings.ledger_batch_size, spool)
    await ledger.start()
    access_trace = AccessTrace(engine)
    await access_trace.start()
    app.state.access_trace = access_trace
    content_log = None
    if settings.content_log_enabled:
        content_log = ContentLog(engine, settings.content_log_retention_days, settings.content_log_purge_interval_s)
        await content_log.start()
        log.warning("content logging is on: prompt and completion text kept %s days", settings.content_log_retention_days)
    policy = PolicyEngine.load(settings.policy_path, catalogue)
    await record_version(engine, policy, "startup")
    store = build_store(settings.budgets, settings.redis_url, LedgerRebuildSource(engine))
    await check_store(store)
    budgets = BudgetService(store, settings.budgets, await BudgetOverrides(engine).load())
    app.state.budgets = budgets
    app.state.engine = engine
    app.state.catalogue = catalogue
    app.state.keys = keys
    app.state.ledger = ledger
    app.state.policy_engine = policy
    app.state.audit = AuditLog(engine)
    app.state.policy_publisher = PolicyPublisher(policy, engine, url, app.state.audit)
    inventory = Inventory(engine, app.state.audit)
    await inventory.start(policy.policy.use_cases)
    app.state.inventory = inventory
    app.state.authenticator = Authenticator(
        keys, settings.effective_pseudonym_key(), Directory.load(settings.directory_path), settings.jwt_secret
    )
    metrics = Metrics()
    metrics.watch_ledger(lambda: ledger.pending, lambda: ledger.flush_errors)
    app.state.metrics = metrics
    tracer_provider = getattr(app.state, "tracer_provider", None) or tracer_provider_from_env()
    upstream = Upstream(catalogue, settings.upstream_timeout_s, settings.upstream_retries, errors=metrics)
    footprint = None
    if settings.measured_mode:
        footprint = Footprint(
            engine, measured_models(catalogue.all()), settings.measurement_window_s, settings.measurement_zone,
            str(settings.data_dir.resolve()),
        )
        await footprint.start()
        log.info("measured mode: codecarbon windows of %ss for the gateway and %s", settings.measurement_window_s,
                 ", ".join(footprint.models) or "no local model")
    app.state.footprint = footprint
    app.state.pipeline = ChatPipeline(
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
    policy_watch = asyncio.create_task(
        watch_policy_file(policy, on_reload=lambda result: _record_reload(engine, policy, result)),
        name="sobria-policy-watch",
    )
    overrides_watch = asyncio.create_task(_refresh_overrides(budgets, engine), name="sobria-budget-overrides")
    gc.freeze()
    log.info("sobria ready: ledger %s, %d models", engine.url.render_as_string(hide_password=True), len(catalogue.all()))
    try:
        yield
    finally:
        policy_watch.cancel()
        overrides_watch.cancel()
        await upstream.aclose()
        if tracer_provider is not None:
            tracer_provider.shutdown()
        if content_log is not None:
            await content_log.stop()
        await access_trace.stop()
        await inventory.stop()
        if footprint is not None:
            await footprint.stop()
        await ledger.stop()
        await budgets.aclose()
        log.info("ledger flushed: %d records written", ledger.written)
        await engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """A gateway application; settings default to the environment's."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
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
    app.include_router(models.router)
    app.include_router(access_log.router)
    app.include_router(me.router)
    app.include_router(admin.router)
    app.include_router(impacts.router)
    app.include_router(metrics_route.router)
    app.include_router(policy_admin.router)
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
