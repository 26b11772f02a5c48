import type { FC } from 'hono/jsx';
import type { PublishedPartnerStatus } from '../../stores/partner-status-store.js';
import { Badge, Layout } from './pages.js';

/** Each partner's circuit in each live workers process, as they last published it. */
export const PartnersPage: FC<{ statuses: PublishedPartnerStatus[] }> = ({ statuses }) => (
  <Layout title="Partners">
    <h1>Partners</h1>
    <p class="muted">
      Each workers process keeps its own circuit per partner (the origin of its integration URL). Open: its calls fail
      fast, so its purchases fail at once with their money given back, until a probe goes through; half-open: the probe
      is out.
    </p>
    {statuses.length === 0 ? (
      <p class="muted">No workers process has called a partner yet.</p>
    ) : (
      <table aria-label="partners">
        <thead>
          <tr>
            <th>Partner</th>
            <th>Circuit</th>
            <th>Since</th>
            <th>Failures (last minute)</th>
            <th>Last failure</th>
            <th>Workers process</th>
          </tr>
        </thead>
        <tbody>
          {statuses.map((s) => (
            <tr>
              <td>{s.partner}</td>
              <td>
                <Badge value={s.state} />
              </td>
              <td class="t">{s.since}</td>
              <td>{s.recentFailures}</td>
              <td>
                {s.lastFailure ? (
                  <>
                    <span class="t">{s.lastFailure.at}</span> <span class="muted">{s.lastFailure.reason}</span>
                  </>
                ) : (
                  ''
                )}
              </td>
              <td class="muted">{s.process}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
  </Layout>
);
