import { useQueries, useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearchParams } from 'react-router';
import { query, type Appointment, type AppointmentSchedule, type Customer, type Service } from '../api';
import { ErrorNote, MESSAGE_KIND, StaffName, StatusBadge, useBranch } from '../components';
import { useSession } from '../session';
import { dayBounds, formatDateTime, formatTime } from '../time';

/** Today's or tomorrow's appointments of a branch (its own time zone), each with its reminder schedule. */
export function AppointmentsPage() {
  const { branchId = '' } = useParams();
  const { api } = useSession();
  const [params, setParams] = useSearchParams();
  const day = params.get('day') === 'tomorrow' ? 1 : 0;
  const branch = useBranch(branchId);
  const timeZone = branch.data?.timeZone ?? 'UTC';
  const bounds = dayBounds(timeZone, day);
  const appointments = useQuery({
    queryKey: ['appointments', branchId, bounds.from],
    queryFn: async () =>
      (await api.get<{ items: Appointment[] }>(`/v1/appointments${query({ branchId, from: bounds.from, to: bounds.to, limit: 200 })}`))
        .items,
    enabled: branch.data !== undefined,
    refetchInterval: 15_000,
  });
  const services = useQuery({
    queryKey: ['services', branchId],
    queryFn: async () => (await api.get<{ items: Service[] }>(`/v1/services?branchId=${branchId}&limit=200`)).items,
    staleTime: 60_000,
  });
  const items = appointments.data ?? [];
  const schedules = useQueries({
    queries: items.map((a) => ({
      queryKey: ['schedule', a.id],
      queryFn: () => api.get<AppointmentSchedule>(`/v1/appointments/${a.id}/schedule`),
      refetchInterval: 15_000,
    })),
  });
  const customers = useQueries({
    queries: [...new Set(items.map((a) => a.customerId))].map((id) => ({
      queryKey: ['customer', id],
      queryFn: () => api.get<Customer>(`/v1/customers/${id}`),
      staleTime: 60_000,
    })),
  });
  const customerName = (id: string) => customers.find((c) => c.data?.id === id)?.data?.name ?? '…';
  const serviceName = (id: string) => services.data?.find((s) => s.id === id)?.name ?? '…';

  return (
    <section>
      <hgroup>
        <h2>Appointments{branch.data ? ` · ${branch.data.name}` : ''}</h2>
        <p>
          {bounds.label} ({timeZone}): each appointment’s messages, sent, skipped (and why) and due.
        </p>
      </hgroup>
      <div role="group" className="day-switch">
        <button
          type="button"
          className={day === 0 ? undefined : 'outline'}
          aria-pressed={day === 0}
          onClick={() => setParams({}, { replace: true })}
        >
          Today
        </button>
        <button
          type="button"
          className={day === 1 ? undefined : 'outline'}
          aria-pressed={day === 1}
          onClick={() => setParams({ day: 'tomorrow' }, { replace: true })}
        >
          Tomorrow
        </button>
      </div>
      <ErrorNote error={appointments.error ?? branch.error} />
      {appointments.isPending && <p aria-busy="true">Loading…</p>}
      {appointments.data && items.length === 0 && <p className="empty">No appointments on this day.</p>}
      <div className="appointments" data-testid="appointments">
        {items.map((a, i) => {
          const schedule = schedules[i];
          return (
            <article key={a.id} data-testid="appointment" data-appointment-id={a.id}>
              <header>
                <strong>
                  {formatTime(a.startsAt, timeZone)}–{formatTime(a.endsAt, timeZone)}
                </strong>{' '}
                {customerName(a.customerId)} · {serviceName(a.serviceId)} · <StaffName id={a.staffId} none="no staff member" />{' '}
                <StatusBadge status={a.status} />
              </header>
              <ErrorNote error={schedule?.error} />
              {schedule?.data && <Schedule schedule={schedule.data} timeZone={timeZone} />}
            </article>
          );
        })}
      </div>
    </section>
  );
}

function Schedule({ schedule, timeZone }: { schedule: AppointmentSchedule; timeZone: string }) {
  const rows = [
    ...schedule.messages.map((m) => ({ ...m, state: m.status as 'sent' | 'skipped' | 'due' })),
    ...(schedule.planned ?? []).map((p) => ({ ...p, state: 'due' as const, reason: null, notificationId: null })),
  ].sort((a, b) => Date.parse(a.dueAt) - Date.parse(b.dueAt));
  if (rows.length === 0)
    return (
      <p className="muted">{schedule.workflowId ? 'No messages planned.' : 'Written before the appointment workflows: no messages.'}</p>
    );
  return (
    <ul className="schedule" data-testid="schedule">
      {rows.map((r) => (
        <li key={`${r.key}-${r.state}`} data-state={r.state}>
          <span className={`badge schedule-${r.state}`}>{r.state}</span> {MESSAGE_KIND[r.kind] ?? r.kind} ·{' '}
          {formatDateTime(r.dueAt, timeZone)}
          {r.state === 'skipped' && r.reason && <span className="muted"> · {r.reason}</span>}
          {r.notificationId && (
            <>
              {' '}
              · <Link to={`/notifications/${r.notificationId}`}>delivery</Link>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}
