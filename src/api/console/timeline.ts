import type { AdminPurchaseView } from '../operator.js';

/** One line of a purchase's timeline: when, what, how it went. */
export interface TimelineEntry {
  at: string;
  kind: 'purchase' | 'step' | 'undo' | 'job' | 'review' | 'cancel';
  what: string;
  outcome: string;
  detail?: string;
  link?: string;
}

/**
 * A purchase's history in time order, from its record (each step's last change, each undo's last
 * attempt, the cancel requests, the review) and its jobs (when each was added, started, finished).
 */
export function timelineOf(v: AdminPurchaseView): TimelineEntry[] {
  const out: TimelineEntry[] = [{ at: v.createdAt, kind: 'purchase', what: 'purchase accepted', outcome: 'accepted' }];
  for (const s of v.steps) {
    if (s.at) out.push({ at: s.at, kind: 'step', what: s.name, outcome: s.status });
    if (s.undo)
      out.push({
        at: s.undo.at,
        kind: 'undo',
        what: `undo ${s.name}`,
        outcome: s.undo.status,
        detail: `${s.undo.attempts} attempt${s.undo.attempts === 1 ? '' : 's'}${s.undo.error ? `: ${s.undo.error}` : ''}`,
      });
  }
  if (v.cancelRequestedAt)
    out.push({ at: v.cancelRequestedAt, kind: 'cancel', what: 'customer asked to cancel', outcome: 'requested' });
  if (v.orderCancelRequestedAt)
    out.push({
      at: v.orderCancelRequestedAt,
      kind: 'cancel',
      what: 'customer asked to cancel the order',
      outcome: 'requested',
    });
  for (const j of v.jobs) {
    const at = j.finishedAt ?? j.processedAt ?? j.addedAt;
    if (at)
      out.push({
        at,
        kind: 'job',
        what: `job ${j.queue}/${j.name}`,
        outcome: j.state,
        detail: `${j.attempts} attempt${j.attempts === 1 ? '' : 's'}${j.failedReason ? `: ${j.failedReason}` : ''}`,
        link: j.board,
      });
  }
  if (v.review && v.review.resolution) {
    const r = v.review.resolution;
    out.push({
      at: r.at,
      kind: 'review',
      what: `review resolved (${r.how}) by ${r.by}`,
      outcome: 'resolved',
      ...(r.note ? { detail: r.note } : {}),
    });
  }
  return out.sort((a, b) => a.at.localeCompare(b.at));
}
