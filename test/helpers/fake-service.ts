import { startTestPartner, type PartnerCall, type SyncBehaviour } from './partner.js';

export type RecordedRequest = PartnerCall;
export type Behaviour = SyncBehaviour;

/**
 * A real local HTTP service standing in for an external integration or a
 * webhook receiver: records every request and answers as `behaviour` says.
 * The test partner without a secret, and without memory: a repeated
 * Idempotency-Key runs the current behaviour again.
 */
export async function startFakeService(initial: Behaviour = 'ok') {
  const partner = await startTestPartner({ secret: null, behaviour: initial, idempotent: false });
  return {
    url: partner.url,
    requests: partner.calls,
    set(next: Behaviour) {
      partner.set(next);
    },
    stop: partner.stop,
  };
}
