/** A non-2xx answer or a transport failure from an outside HTTP service. */
export class OutsideServiceError extends Error {
  override name = 'OutsideServiceError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface PostOptions {
  idempotencyKey: string;
  timeoutMs: number;
  /** Headers computed over the exact bytes sent (a signature). */
  sign?: (payload: string) => Record<string, string>;
}

/** POSTs JSON with an idempotency key and a hard timeout; resolves with the parsed 2xx body. */
export async function postJson(url: string, body: unknown, opts: PostOptions): Promise<unknown> {
  const payload = JSON.stringify(body);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': opts.idempotencyKey, ...opts.sign?.(payload) },
      body: payload,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? `timed out after ${opts.timeoutMs} ms` : 'unreachable';
    throw new OutsideServiceError(`${url} ${reason}`);
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) throw new OutsideServiceError(`${url} answered ${res.status}`, res.status);
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return {};
  }
}
