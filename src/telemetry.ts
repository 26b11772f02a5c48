import type { BullMQOtel } from 'bullmq-otel';
import type { MiddlewareHandler } from 'hono';

export interface Tracing {
  /** Passed to every Queue, FlowProducer and Worker: carries the trace from gateway to steps. */
  bullmq: BullMQOtel;
  http: MiddlewareHandler;
  /** Runs `fn` in a span of its own, a child of the active one (a saga step inside its job's span). */
  span<T>(name: string, attributes: Record<string, string>, fn: () => Promise<T>): Promise<T>;
  shutdown(): Promise<void>;
}

/**
 * OpenTelemetry tracing, off unless the standard OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT
 * is set (and OTEL_SDK_DISABLED is not "true"). The OTLP exporter and the SDK read
 * the other OTEL_* variables themselves (headers, protocol, batch delay…). The SDK is
 * loaded only when tracing is on.
 */
export async function startTracing(env: Record<string, string | undefined>): Promise<Tracing | undefined> {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED === 'true') return undefined;
  const [
    { trace, SpanStatusCode },
    { httpInstrumentationMiddleware },
    { OTLPTraceExporter },
    { NodeSDK },
    { BullMQOtel },
  ] = await Promise.all([
    import('@opentelemetry/api'),
    import('@hono/otel'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/sdk-node'),
    import('bullmq-otel'),
  ]);
  const serviceName = env.OTEL_SERVICE_NAME ?? 'purchase-system';
  // Metrics are Prometheus's (/metrics); unless told otherwise the SDK exports traces only.
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  const sdk = new NodeSDK({ serviceName, traceExporter: new OTLPTraceExporter() });
  sdk.start();
  const tracer = trace.getTracer(serviceName);
  return {
    span: (name, attributes, fn) =>
      tracer.startActiveSpan(name, { attributes }, async (span) => {
        try {
          return await fn();
        } catch (err) {
          span.recordException(err as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          throw err;
        } finally {
          span.end();
        }
      }),
    bullmq: new BullMQOtel({ tracerName: serviceName }),
    http: httpInstrumentationMiddleware({ serviceName }),
    shutdown: () => sdk.shutdown(),
  };
}
