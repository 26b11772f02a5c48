/** A non-2xx answer or a transport failure from an outside HTTP service. */
export class OutsideServiceError extends Error {
  override name = 'OutsideServiceError';
  constructor(
    message: string,
    readonly status?: number,
    /** No answer within the call's timeout (status unset). */
    readonly timedOut = false,
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

/** A 2xx answer: its status (202 says "under way" to some callers) and its parsed body ({} when none). */
export interface PostAnswer {
  status: number;
  body: unknown;
}

/** POSTs JSON with an idempotency key and a hard timeout; resolves with the 2xx answer. */
export async function postJson(url: string, body: unknown, opts: PostOptions): Promise<PostAnswer> {
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
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new OutsideServiceError(
      `${url} ${timedOut ? `timed out after ${opts.timeoutMs} ms` : 'unreachable'}`,
      undefined,
      timedOut,
    );
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) throw new OutsideServiceError(`${url} answered ${res.status}`, res.status);
  try {
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : {} };
  } catch {
    return { status: res.status, body: {} };
  }
}
