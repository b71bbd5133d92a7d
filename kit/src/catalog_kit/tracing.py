"""Traces: the OpenTelemetry SDK set up once per process from the standard `OTEL_*` variables, and the W3C
`traceparent` helpers every service uses to continue a trace across the outbox and Kafka.

Off by default: without `OTEL_TRACES_EXPORTER` (or with `none`) no SDK is installed, `enabled()` is False and the
hot paths skip span work entirely; a `traceparent` that arrives is still passed on unchanged, so a trace started
elsewhere keeps its id through the platform.
"""

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

__all__ = [
    "child_span",
    "configure",
    "context_of",
    "current_traceparent",
    "enabled",
    "header",
    "links_to",
    "traceparent_of",
    "tracer",
]

log = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()
_state = {"enabled": False}
MAX_LINKS = 128  # the SDK's default link limit per span (OTEL_SPAN_LINK_COUNT_LIMIT)


def configure(service_name: str) -> bool:
    """Install the SDK when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`); True if it did.

    `OTEL_SERVICE_NAME` overrides `service_name`; the sampler (`OTEL_TRACES_SAMPLER`, `..._ARG`), the batch
    processor (`OTEL_BSP_*`) and the OTLP/HTTP exporter (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `..._HEADERS`,
    `..._TIMEOUT`) read their own variables. Spans still buffered are flushed at a normal exit.
    """
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",")]
    names = [n for n in names if n and n != "none"]
    if not names or os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    # Imported only when asked for: a process without traces does not load the SDK at all.
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter {name!r} (use otlp, console or none)")
    # Resource.create lets OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win only over what is not given here.
    given = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(given))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _state["enabled"] = True
    log.info("traces exported", extra={"exporters": names, "service": provider.resource.attributes[SERVICE_NAME]})
    return True


def enabled() -> bool:
    """Whether spans are recorded in this process (`configure` installed the SDK)."""
    return _state["enabled"]


def tracer() -> trace.Tracer:
    return trace.get_tracer("catalog")


def context_of(traceparent: str | None) -> Context | None:
    """The context a `traceparent` names, to start a child span in; None when there is none (a new trace)."""
    if not traceparent:
        return None
    context = _PROPAGATOR.extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def traceparent_of(span: Span) -> str | None:
    """The W3C `traceparent` of `span` (what its children continue), None for an invalid span."""
    return _format(span.get_span_context())


def current_traceparent() -> str | None:
    """The `traceparent` of the span current in this context (e.g. the HTTP request's), None without one."""
    return _format(trace.get_current_span().get_span_context())


def links_to(traceparents: Iterable[str | None]) -> list[Link]:
    """Links to the spans the traceparents name (at most MAX_LINKS, distinct), for a span that handles a batch."""
    links: dict[tuple[int, int], Link] = {}
    for traceparent in traceparents:
        context = context_of(traceparent)
        if context is None:
            continue
        span_context = trace.get_current_span(context).get_span_context()
        links.setdefault((span_context.trace_id, span_context.span_id), Link(span_context))
        if len(links) >= MAX_LINKS:
            break
    return list(links.values())


@contextmanager
def child_span(
    name: str, traceparent: str | None, attributes: Attributes = None, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[str | None]:
    """A span below `traceparent` (a new trace without one) while the block runs, current in this thread; yields
    the `traceparent` that what the block writes continues. With traces off: no span, `traceparent` unchanged."""
    if not enabled():
        yield traceparent
        return
    with tracer().start_as_current_span(
        name, context=context_of(traceparent), kind=kind, attributes=attributes
    ) as span:
        yield traceparent_of(span)


def header(headers: Mapping[str, str | bytes | None] | Iterable[tuple[str, str | bytes | None]]) -> str | None:
    """The `traceparent` among Kafka headers, as text."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == "traceparent" and value:
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None


def _format(context: SpanContext) -> str | None:
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
