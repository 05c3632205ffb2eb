import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import type { NotificationDetail } from '../api';
import { ErrorNote, isNotFound, StatusBadge } from '../components';
import { useSession } from '../session';
import { formatDateTime } from '../time';

/** One notification and every delivery attempt: channel, provider, outcome, error, fallback, latency. */
export function NotificationPage() {
  const { id = '' } = useParams();
  const { api } = useSession();
  const notification = useQuery({
    queryKey: ['notification', id],
    queryFn: () => api.get<NotificationDetail>(`/v1/notifications/${encodeURIComponent(id)}`),
    refetchInterval: (q) => (q.state.error && isNotFound(q.state.error) ? false : q.state.data?.live ? 3000 : 15_000),
  });
  const n = notification.data;
  return (
    <section>
      <p>
        <Link to="/notifications">← Notifications</Link>
      </p>
      <h2>Notification</h2>
      <ErrorNote error={notification.error} />
      {notification.isPending && <p aria-busy="true">Loading…</p>}
      {n && (
        <>
          <p data-testid="notification-summary">
            {n.eventType} <StatusBadge status={n.status} /> · created {formatDateTime(n.createdAt)}
            {n.statusReason && <span className="muted"> · {n.statusReason}</span>}
            {n.live?.waitingFor && (
              <span className="muted">
                {' '}
                · waiting for {n.live.waitingFor.replace('_', ' ')} until {n.live.waitingUntil ? formatDateTime(n.live.waitingUntil) : '…'}
              </span>
            )}
          </p>
          <div className="overflow-auto">
            <table className="striped" data-testid="attempts">
              <thead>
                <tr>
                  <th>#</th>
                  <th>Channel</th>
                  <th>Provider</th>
                  <th>Status</th>
                  <th>Started</th>
                  <th>Latency</th>
                  <th>Error</th>
                </tr>
              </thead>
              <tbody>
                {n.attempts.map((a) => (
                  <tr key={a.id}>
                    <td>{a.attemptNumber}</td>
                    <td>
                      {a.channel}
                      {a.isFallback && <small> (fallback)</small>}
                    </td>
                    <td>{a.provider}</td>
                    <td>
                      <StatusBadge status={a.status} />
                      {a.mayHaveSent && a.status !== 'sent' && <small> may have been sent</small>}
                    </td>
                    <td>{formatDateTime(a.startedAt)}</td>
                    <td>{a.latencyMs === null ? '–' : `${a.latencyMs} ms`}</td>
                    <td>{a.error ? `${a.errorKind ?? 'error'}: ${a.error}` : ''}</td>
                  </tr>
                ))}
                {n.attempts.length === 0 && (
                  <tr>
                    <td colSpan={7} className="muted">
                      No attempt yet.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
