import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STEP_NAMES } from '../src/saga/saga.js';
import { startTracing, type Tracing } from '../src/telemetry.js';
import { eventually } from '../harness/eventually.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

/** A local OTLP/HTTP collector that keeps every span it is sent. */
async function startCollector() {
  const spans: OtlpSpan[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const data = Buffer.concat(chunks);
      const raw = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(data) : data).toString();
      if (req.url === '/v1/traces') {
        const body = JSON.parse(raw) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    stop: () => new Promise((r) => server.close(r)),
  };
}

describe('tracing (OpenTelemetry)', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let tracing: Tracing | undefined;
  let sys: TestSystem;
  beforeAll(async () => {
    collector = await startCollector();
    // The SDK and the exporter read the standard variables from the environment.
    Object.assign(process.env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'purchase-test',
    });
    tracing = await startTracing(process.env);
    sys = await startTestSystem({ tracing });
  });
  afterAll(async () => {
    await sys?.stop();
    await tracing?.shutdown();
    await collector?.stop();
    for (const k of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_BSP_SCHEDULE_DELAY', 'OTEL_SERVICE_NAME'])
      delete process.env[k];
  });

  it('is off without an OTLP endpoint', async () => {
    expect(await startTracing({})).toBeUndefined();
    expect(
      await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_SDK_DISABLED: 'true' }),
    ).toBeUndefined();
  });

  it('one trace runs from the HTTP request through the flow to every saga step', async () => {
    expect(tracing).toBeDefined();
    const customer = await sys.customer();
    const res = await customer.buy('basic-plan');
    expect(res.status).toBe(201);
    const request = await eventually('the HTTP span', async () =>
      collector.spans.find((s) => s.name.startsWith('POST')),
    );
    const trace = await eventually('step spans in the request trace', async () => {
      const inTrace = collector.spans.filter((s) => s.traceId === request.traceId);
      const names = inTrace.map((s) => s.name).join(' | ');
      // BullMQ names spans after the queue: a process span per job; inside them a span per saga step.
      const jobs = ['process orchestrator', 'process payment', 'process provisioning'];
      const steps = STEP_NAMES.filter((name) => name !== 'notification').map((name) => `step ${name}`);
      return ['addFlow', ...jobs, ...steps].every((n) => names.includes(n)) ? inTrace : undefined;
    });
    // every step span sits inside the process span of the job that ran it
    for (const step of trace.filter((s) => s.name.startsWith('step '))) {
      expect(trace.find((s) => s.spanId === step.parentSpanId)?.name, step.name).toMatch(/^process /);
    }
    // the HTTP span is the root: the flow's spans descend from it
    expect(request.parentSpanId ?? '').toBe('');
    expect(trace.find((s) => s.name.startsWith('addFlow'))?.parentSpanId).toBeTruthy();
  });
});
