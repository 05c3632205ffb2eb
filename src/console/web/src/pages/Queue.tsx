import { useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearchParams } from 'react-router';
import { CLOSED_STATUSES, OPEN_STATUSES, query, type Callback, type OverdueCallback } from '../api';
import { ASSIGNMENT_REASON, ErrorNote, PriorityBadge, StaffName, StatusBadge, useBranch, useStaffOfBranch } from '../components';
import { useSession } from '../session';
import { formatDuration, relative, useNow } from '../time';

/** How often the queue asks again: updates arrive without reloading. */
const POLL_MS = 3000;

/**
 * The order of the queue: the overdue list's order (priority, then age) with the callbacks past
 * their SLA first, most overdue first. The overdue list itself does not move a breached callback
 * (its priority and age do not change), and a breach is what needs a person now.
 */
export function queueOrder<C extends Callback>(items: C[], now: number): C[] {
  const overdue = (c: C) => Date.parse(c.dueAt) <= now;
  return items
    .map((c, i) => ({ c, i }))
    .sort((a, b) => {
      const [oa, ob] = [overdue(a.c), overdue(b.c)];
      if (oa !== ob) return oa ? -1 : 1;
      if (oa && ob) return Date.parse(a.c.dueAt) - Date.parse(b.c.dueAt) || a.i - b.i;
      return a.i - b.i;
    })
    .map(({ c }) => c);
}

export function QueuePage() {
  const { branchId = '' } = useParams();
  const { api } = useSession();
  const [params, setParams] = useSearchParams();
  const status = params.get('status') ?? '';
  const priority = params.get('priority') ?? '';
  const assignee = params.get('assignee') ?? '';
  const closed = (CLOSED_STATUSES as readonly string[]).includes(status);
  const branch = useBranch(branchId);
  const staff = useStaffOfBranch(branchId);
  const now = useNow(1000);

  const open = useQuery({
    queryKey: ['overdue', branchId],
    queryFn: () => api.get<{ items: OverdueCallback[] }>(`/v1/branches/${branchId}/callbacks/overdue`),
    refetchInterval: POLL_MS,
    enabled: !closed,
  });
  const ended = useQuery({
    queryKey: ['callbacks', branchId, status, priority, assignee],
    queryFn: () =>
      api.get<{ items: Callback[] }>(
        `/v1/callbacks${query({ branchId, status, priority, assignedTo: assignee && assignee !== 'unassigned' ? assignee : undefined, limit: 50 })}`,
      ),
    refetchInterval: POLL_MS * 3,
    enabled: closed,
  });
  const source = closed ? ended : open;
  const filtered = (source.data?.items ?? []).filter(
    (c) =>
      (!status || c.status === status) &&
      (!priority || c.priority === priority) &&
      (!assignee || (assignee === 'unassigned' ? c.assignedTo === null : c.assignedTo === assignee)),
  );
  const items = closed ? filtered : queueOrder(filtered, now);
  const overdueCount = closed ? 0 : items.filter((c) => Date.parse(c.dueAt) <= now).length;

  const set = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  };

  return (
    <section>
      <hgroup>
        <h2>Callback queue{branch.data ? ` · ${branch.data.name}` : ''}</h2>
        <p data-testid="queue-summary">
          {closed
            ? `The 50 newest ${status} callbacks`
            : `${items.length} open · ${overdueCount} past the SLA · ${items.filter((c) => c.escalated).length} escalated`}
        </p>
      </hgroup>
      <div className="filters" role="group" aria-label="Filters">
        <select aria-label="Status" name="status" value={status} onChange={(e) => set('status', e.target.value)}>
          <option value="">All open</option>
          {OPEN_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
          {CLOSED_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <select aria-label="Priority" name="priority" value={priority} onChange={(e) => set('priority', e.target.value)}>
          <option value="">Any priority</option>
          <option value="urgent">urgent</option>
          <option value="high">high</option>
          <option value="normal">normal</option>
        </select>
        <select aria-label="Assignee" name="assignee" value={assignee} onChange={(e) => set('assignee', e.target.value)}>
          <option value="">Anyone</option>
          <option value="unassigned">Not assigned</option>
          {(staff.data ?? []).map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
      </div>
      <ErrorNote error={source.error} />
      {source.isPending && <p aria-busy="true">Loading…</p>}
      {source.data && items.length === 0 && <p className="empty">Nothing here: no callback matches.</p>}
      {items.length > 0 && (
        <div className="queue" data-testid="queue">
          <div className="queue-head" aria-hidden="true">
            <span>Customer</span>
            <span>Assignee</span>
            <span>SLA</span>
            <span>Markers</span>
          </div>
          {items.map((c) => (
            <QueueRow key={c.id} callback={c} now={now} />
          ))}
        </div>
      )}
    </section>
  );
}

function QueueRow({ callback: c, now }: { callback: Callback; now: number }) {
  const due = Date.parse(c.dueAt);
  const isOpen = (OPEN_STATUSES as readonly string[]).includes(c.status);
  const breached = isOpen && due <= now;
  const warned = isOpen && !breached && c.warnAt !== null && Date.parse(c.warnAt) <= now;
  const endedAt = c.completedAt ?? c.cancelledAt ?? c.expiredAt ?? c.failedAt ?? null;
  return (
    <article
      className={`callback-row${breached ? ' breached' : ''}${warned ? ' warned' : ''}`}
      data-testid="callback-row"
      data-callback-id={c.id}
      data-customer={c.customerName}
    >
      <div className="who">
        <Link to={`/callbacks/${c.id}`}>{c.customerName}</Link> <PriorityBadge priority={c.priority} /> <StatusBadge status={c.status} />
      </div>
      <div className="assignee">
        <StaffName id={c.assignedTo} none="not assigned yet" />
        {c.assignmentReason && <small> · {ASSIGNMENT_REASON[c.assignmentReason] ?? c.assignmentReason}</small>}
      </div>
      <div className={`sla${breached ? ' overdue' : ''}`} data-testid="sla">
        {isOpen
          ? breached
            ? `Overdue by ${formatDuration(now - due)}`
            : `${formatDuration(due - now)} left`
          : endedAt
            ? `${c.status} ${relative(endedAt, now)}`
            : c.status}
      </div>
      <div className="markers">
        {warned && (
          <span className="marker warning" data-testid="warning-marker" title="The SLA is close: the assignee was warned">
            SLA warning
          </span>
        )}
        {breached && (
          <span className="marker breach" data-testid="breach-marker">
            SLA breached
          </span>
        )}
        {c.escalated && (
          <span className="marker escalated" data-testid="escalation-marker" title="Escalated to a manager">
            Escalated{c.escalationCount > 1 ? ` ×${c.escalationCount}` : ''}
          </span>
        )}
      </div>
    </article>
  );
}
