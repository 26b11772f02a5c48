import type { FC, PropsWithChildren } from 'hono/jsx';
import type { AuditReport } from '../../audit.js';
import type { AdminPurchaseView } from '../operator.js';
import type { reviewLine } from '../operator.js';
import { timelineOf } from './timeline.js';

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#cfe0ff;text-decoration:none} main{padding:16px 24px;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff} th,td{padding:6px 10px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600} .badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e3e6ea}
.failed,.manual_review,.open{background:#ffd9d6;color:#8a1c12} .done,.completed,.compensated,.resolved,.closed{background:#d7f2dd;color:#145224}
.retrying,.pending,.active,.waiting,.delayed,.half-open{background:#fff1c2;color:#6b4e00} .canceled,.skipped{background:#e3e6ea}
section{margin:16px 0} form{display:inline-block;margin-right:12px} textarea{width:360px;height:48px;vertical-align:top}
td.t{white-space:nowrap;font-variant-numeric:tabular-nums}
button{padding:5px 12px;border:1px solid #1d2330;background:#fff;border-radius:4px;cursor:pointer} .muted{color:#68707d}
`;

export const Badge: FC<{ value: string }> = ({ value }) => <span class={`badge ${value}`}>{value}</span>;

export const Layout: FC<PropsWithChildren<{ title: string }>> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <title>{title} · purchase operator console</title>
      <style>{STYLE}</style>
    </head>
    <body>
      <header>
        <strong>Operator console</strong>
        <a href="/admin">Review queue</a>
        <a href="/admin/console/audit">Audit</a>
        <a href="/admin/console/partners">Partners</a>
        <a href="/admin/queues">Bull Board</a>
        <form method="get" action="/admin/console/find">
          <input name="id" placeholder="purchase id (pur_…)" aria-label="purchase id" />
          <button type="submit">Open</button>
        </form>
      </header>
      <main>{children}</main>
    </body>
  </html>
);

export const ReviewQueue: FC<{ lines: ReturnType<typeof reviewLine>[]; next?: string }> = ({ lines, next }) => (
  <Layout title="Review queue">
    <h1>Purchases needing review</h1>
    {lines.length === 0 ? (
      <p class="muted">Nothing needs a person right now.</p>
    ) : (
      <table aria-label="review queue">
        <thead>
          <tr>
            <th>Purchase</th>
            <th>Customer</th>
            <th>Status</th>
            <th>Why</th>
            <th>Last change</th>
          </tr>
        </thead>
        <tbody>
          {lines.map((l) => (
            <tr>
              <td>
                <a href={`/admin/console/purchases/${l.id}`}>{l.id}</a>
              </td>
              <td>{l.customerId}</td>
              <td>
                <Badge value={l.status} />
              </td>
              <td>{l.review.reason}</td>
              <td class="t">{l.updatedAt}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    {next ? (
      <p>
        <a href={next}>Older →</a>
      </p>
    ) : null}
  </Layout>
);

/** The books checked now (npm run audit): what is wrong, and the purchases it names, each with its Retry. */
export const AuditPage: FC<{ report: AuditReport }> = ({ report }) => (
  <Layout title="Audit">
    <h1>Audit</h1>
    <p class="muted">
      {report.figures.purchases} purchases, {report.figures.orders} orders, {report.figures.charges} charges,{' '}
      {report.figures.voids} holds voided, {report.figures.refunds} refunds, {report.figures.provisionedActive} units
      active
      {report.quiet ? '' : ' · purchases still in flight: in-flight checks relaxed'}
    </p>
    {report.violations.length === 0 ? (
      <p role="status">The books balance: no violations.</p>
    ) : (
      <section aria-label="violations">
        <h2>{report.violations.length} violations</h2>
        <ul>
          {report.violations.map((v) => (
            <li>{v}</li>
          ))}
        </ul>
      </section>
    )}
    {report.purchases.length ? (
      <section aria-label="purchases named">
        <h2>Purchases they name</h2>
        <p class="muted">
          Retry places a lost order again, provisions lost units again, sends lost confirmations again, reruns failed
          undos.
        </p>
        <table>
          <tbody>
            {report.purchases.map((id) => (
              <tr>
                <td>
                  <a href={`/admin/console/purchases/${id}`}>{id}</a>
                </td>
                <td>
                  <form method="post" action={`/admin/console/purchases/${id}/retry`}>
                    <button type="submit" aria-label={`Retry ${id}`}>
                      Retry
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    ) : null}
  </Layout>
);

export const PurchasePage: FC<{ v: AdminPurchaseView; flash?: string }> = ({ v, flash }) => {
  const inReview = v.review?.status === 'manual_review';
  return (
    <Layout title={v.id}>
      <h1>
        Purchase {v.id} <Badge value={v.status} />
        {v.review ? <Badge value={v.review.status} /> : null}
      </h1>
      {flash ? <p role="status">{flash}</p> : null}
      <p>
        Customer <strong>{v.customerId}</strong> · payment <Badge value={v.payment.status} />{' '}
        {(v.payment.amount / 100).toFixed(2)} {v.payment.currency}
        {v.orderId ? ` · order ${v.orderId}` : ''} · phase {v.phase}
      </p>
      {v.review ? (
        <section aria-label="review">
          <h2>Review</h2>
          <p>{v.review.reason}</p>
          {v.review.resolution ? (
            <p>
              Resolved ({v.review.resolution.how}) by {v.review.resolution.by} at {v.review.resolution.at}
              {v.review.resolution.note ? `: ${v.review.resolution.note}` : ''}
            </p>
          ) : null}
        </section>
      ) : null}
      <section aria-label="actions">
        <form method="post" action={`/admin/console/purchases/${v.id}/retry`}>
          <button type="submit">Retry what is left undone</button>
        </form>
        {inReview ? (
          <form method="post" action={`/admin/console/purchases/${v.id}/resolve`}>
            <textarea
              name="note"
              required
              placeholder="What you did (kept with your name and the time)"
              aria-label="note"
            />{' '}
            <button type="submit">Mark resolved</button>
          </form>
        ) : null}
      </section>
      <section aria-label="steps">
        <h2>Steps</h2>
        <table>
          <thead>
            <tr>
              <th>Step</th>
              <th>Status</th>
              <th>At</th>
              <th>Undo</th>
            </tr>
          </thead>
          <tbody>
            {v.steps.map((s) => (
              <tr>
                <td>{s.name}</td>
                <td>
                  <Badge value={s.status} />
                </td>
                <td class="t">{s.at ?? ''}</td>
                <td>
                  {s.undo ? (
                    <>
                      <Badge value={s.undo.status} /> {s.undo.attempts} attempt{s.undo.attempts === 1 ? '' : 's'} at{' '}
                      {s.undo.at}
                      {s.undo.error ? <div class="muted">{s.undo.error}</div> : null}
                    </>
                  ) : (
                    ''
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-label="timeline">
        <h2>Timeline</h2>
        <table>
          <thead>
            <tr>
              <th>Time</th>
              <th>What</th>
              <th>Outcome</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {timelineOf(v).map((e) => (
              <tr class={`timeline-${e.kind}`}>
                <td class="t">{e.at}</td>
                <td>{e.link ? <a href={e.link}>{e.what}</a> : e.what}</td>
                <td>
                  <Badge value={e.outcome} />
                </td>
                <td class="muted">{e.detail ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </Layout>
  );
};
