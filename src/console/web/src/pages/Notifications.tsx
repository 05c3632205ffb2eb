import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useNavigate, useSearchParams } from 'react-router';
import { BarElement, CategoryScale, Chart as ChartJS, Legend, LinearScale, Tooltip } from 'chart.js';
import { Bar } from 'react-chartjs-2';
import { query, type Channel, type NotificationAnalytics } from '../api';
import { ErrorNote } from '../components';
import { useAbilities, useSession } from '../session';

ChartJS.register(CategoryScale, LinearScale, BarElement, Tooltip, Legend);

const CHANNELS: Channel[] = ['email', 'sms', 'whatsapp', 'push'];
const PERIODS: Record<string, { label: string; hours: number }> = {
  '24h': { label: 'Last 24 hours', hours: 24 },
  '7d': { label: 'Last 7 days', hours: 24 * 7 },
  '30d': { label: 'Last 30 days', hours: 24 * 30 },
};

/** The period asked for: a preset ending now (rounded to the minute, so polling shares one key), or from/to dates. */
function periodOf(params: URLSearchParams): { from: string; to: string } | { error: string } {
  const from = params.get('from');
  const to = params.get('to');
  if (from && to) {
    const [f, t] = [new Date(`${from}T00:00`), new Date(`${to}T00:00`)];
    if (Number.isNaN(f.getTime()) || Number.isNaN(t.getTime())) return { error: 'Choose both dates.' };
    t.setDate(t.getDate() + 1); // the whole last day
    if (f >= t) return { error: 'The first day must not be after the last.' };
    return { from: f.toISOString(), to: t.toISOString() };
  }
  const hours = PERIODS[params.get('period') ?? '7d']?.hours ?? 24 * 7;
  const end = new Date(Math.ceil(Date.now() / 60_000) * 60_000);
  return { from: new Date(end.getTime() - hours * 3_600_000).toISOString(), to: end.toISOString() };
}

export function NotificationsPage() {
  const { canManage } = useAbilities();
  return (
    <section>
      <h2>Notifications</h2>
      {canManage ? <Deliveries /> : <p className="muted">Delivery figures are for managers. Open a notification by its id:</p>}
      <Lookup />
    </section>
  );
}

function Deliveries() {
  const { api } = useSession();
  const [params, setParams] = useSearchParams();
  const period = periodOf(params);
  const preset = params.get('from') ? 'custom' : (params.get('period') ?? '7d');
  const analytics = useQuery({
    queryKey: ['notification-analytics', 'error' in period ? period.error : `${period.from}/${period.to}`],
    queryFn: () => api.get<NotificationAnalytics>(`/v1/analytics/notifications${query('error' in period ? {} : period)}`),
    enabled: !('error' in period),
    refetchInterval: 30_000,
  });
  const perChannel = CHANNELS.map((channel) => {
    const rows = analytics.data?.rows.filter((r) => r.channel === channel) ?? [];
    const sum = (k: 'sent' | 'failed' | 'sending' | 'fallback') => rows.reduce((n, r) => n + r[k], 0);
    return { channel, sent: sum('sent'), failed: sum('failed'), sending: sum('sending'), fallback: sum('fallback') };
  });
  const choose = (value: string) => {
    if (value === 'custom') {
      const today = new Date().toISOString().slice(0, 10);
      setParams({ from: today, to: today }, { replace: true });
    } else setParams({ period: value }, { replace: true });
  };
  return (
    <>
      <div className="filters" role="group" aria-label="Choose the period">
        <select aria-label="Period" name="period" value={preset} onChange={(e) => choose(e.target.value)}>
          {Object.entries(PERIODS).map(([value, p]) => (
            <option key={value} value={value}>
              {p.label}
            </option>
          ))}
          <option value="custom">Chosen days</option>
        </select>
        {preset === 'custom' && (
          <>
            <input
              type="date"
              aria-label="From"
              value={params.get('from') ?? ''}
              onChange={(e) => setParams({ from: e.target.value, to: params.get('to') ?? e.target.value }, { replace: true })}
            />
            <input
              type="date"
              aria-label="To"
              value={params.get('to') ?? ''}
              onChange={(e) => setParams({ from: params.get('from') ?? e.target.value, to: e.target.value }, { replace: true })}
            />
          </>
        )}
      </div>
      {'error' in period && (
        <p role="alert" className="error-note">
          {period.error}
        </p>
      )}
      <ErrorNote error={analytics.error} />
      {analytics.data && (
        <>
          <p data-testid="delivery-totals">
            {analytics.data.totals.sent} sent · {analytics.data.totals.failed} failed · {analytics.data.totals.fallback} on a fallback
            channel · {analytics.data.totals.sending} in flight
          </p>
          <div className="chart" data-testid="delivery-chart">
            <Bar
              aria-label="Delivery attempts by channel and status"
              role="img"
              options={{
                responsive: true,
                maintainAspectRatio: false,
                animation: false,
                scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
                plugins: { legend: { position: 'bottom' } },
              }}
              data={{
                labels: CHANNELS,
                datasets: [
                  { label: 'sent', data: perChannel.map((c) => c.sent), backgroundColor: '#2e7d32' },
                  { label: 'failed', data: perChannel.map((c) => c.failed), backgroundColor: '#c62828' },
                  { label: 'in flight', data: perChannel.map((c) => c.sending), backgroundColor: '#9e9e9e' },
                ],
              }}
            />
          </div>
          <div className="overflow-auto">
            <table className="striped" data-testid="delivery-table">
              <thead>
                <tr>
                  <th>Event</th>
                  <th>Channel</th>
                  <th>Sent</th>
                  <th>Failed</th>
                  <th>Fallback</th>
                  <th>In flight</th>
                  <th>p50 / p95 ms</th>
                </tr>
              </thead>
              <tbody>
                {analytics.data.rows.map((r) => (
                  <tr key={`${r.eventType}-${r.channel}`}>
                    <td>{r.eventType}</td>
                    <td>{r.channel}</td>
                    <td>{r.sent}</td>
                    <td>{r.failed}</td>
                    <td>{r.fallback}</td>
                    <td>{r.sending}</td>
                    <td>
                      {r.latencyP50Ms === null ? '–' : Math.round(r.latencyP50Ms)} /{' '}
                      {r.latencyP95Ms === null ? '–' : Math.round(r.latencyP95Ms)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}

function Lookup() {
  const navigate = useNavigate();
  const [id, setId] = useState('');
  function submit(e: FormEvent) {
    e.preventDefault();
    if (id.trim()) navigate(`/notifications/${encodeURIComponent(id.trim())}`);
  }
  return (
    <form onSubmit={submit} role="search" className="lookup">
      <input
        name="notificationId"
        aria-label="Notification id"
        placeholder="Notification id"
        value={id}
        onChange={(e) => setId(e.target.value)}
      />
      <button type="submit">Open</button>
    </form>
  );
}
