import { ROOT_CONTEXT, TraceFlags, isSpanContextValid, trace, type Context, type SpanContext, type Tracer } from '@opentelemetry/api';

// Traces with the OpenTelemetry API only: without a tracer provider (OTEL_EXPORTER_OTLP_ENDPOINT
// unset) every tracer is the API's no-op one, so spans cost a few object allocations and nothing else.

export const TRACER_NAME = 'discovery-flow';

/** The tracer of the global provider: a no-op unless one was registered. */
export function defaultTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C traceparent of a span context, or null for the no-op tracer's invalid one. */
export function toTraceparent(spanContext: SpanContext): string | null {
  if (!isSpanContextValid(spanContext)) return null;
  return `00-${spanContext.traceId}-${spanContext.spanId}-0${(spanContext.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

/**
 * The context of a W3C traceparent (an incoming request's header, or a workflow's stored root span), or
 * undefined when it is missing or malformed: new spans then start a trace of their own.
 */
export function contextOf(traceparent: string | null | undefined): Context | undefined {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim().toLowerCase()) : null;
  if (!match) return undefined;
  const spanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16), isRemote: true };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : undefined;
}

/** The trace id of a stored traceparent, for the view and the logs. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  return (traceparent && TRACEPARENT.exec(traceparent)?.[1]) || null;
}
