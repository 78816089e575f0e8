import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { TRACER_NAME } from '../engine/tracing.ts';
import type { TracingConfig } from './config.ts';

export interface Telemetry {
  tracer: Tracer;
  /** Sends the spans still buffered. */
  flush(): Promise<void>;
  /** Flushes and stops exporting (at shutdown). */
  shutdown(): Promise<void>;
}

/**
 * A tracer provider exporting in batches: over OTLP/HTTP to `config.tracesUrl`, or to `exporter` (tests
 * hand it the SDK's in-memory exporter). Not built at all when tracing is off: the code then uses the
 * API's no-op tracer.
 */
export function startTelemetry(config: TracingConfig, exporter: SpanExporter = new OTLPTraceExporter({ url: config.tracesUrl })): Telemetry {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': '0.1.0' }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 })],
  });
  return {
    tracer: provider.getTracer(TRACER_NAME),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
