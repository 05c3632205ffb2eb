import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import type { Callback, Escalation } from '../api';
import { ErrorNote, ESCALATION_REASON, PriorityBadge, StaffName, StatusBadge, useBranch } from '../components';
import { useAbilities, useSession } from '../session';
import { formatDuration, relative, useNow } from '../time';

interface OpenEscalation {
  escalation: Omit<Escalation, 'resolvedAt'>;
  callback: Callback;
}

/** The branch's escalations waiting for a manager: one entry per callback, its latest escalation first in view. */
export function EscalationsPage() {
  const { branchId = '' } = useParams();
  const { api } = useSession();
  const { staffId } = useAbilities();
  const branch = useBranch(branchId);
  const now = useNow(1000);
  const [mineOnly, setMineOnly] = useState(false);
  const list = useQuery({
    queryKey: ['escalations', branchId],
    queryFn: () => api.get<{ items: OpenEscalation[] }>(`/v1/branches/${branchId}/callbacks/escalations`),
    refetchInterval: 3000,
  });
  // Oldest waiting first; a callback escalated twice is one entry with both escalations.
  const byCallback = new Map<string, { callback: Callback; escalations: OpenEscalation['escalation'][] }>();
  for (const item of list.data?.items ?? []) {
    const entry = byCallback.get(item.callback.id) ?? { callback: item.callback, escalations: [] };
    entry.escalations.push(item.escalation);
    byCallback.set(item.callback.id, entry);
  }
  const entries = [...byCallback.values()].filter((e) => !mineOnly || e.escalations.some((x) => x.escalatedTo === staffId));
  return (
    <section>
      <hgroup>
        <h2>Escalations waiting{branch.data ? ` · ${branch.data.name}` : ''}</h2>
        <p>Open callbacks escalated to a manager, the longest waiting first. They stop waiting when the callback ends.</p>
      </hgroup>
      {staffId && (
        <label>
          <input type="checkbox" role="switch" checked={mineOnly} onChange={(e) => setMineOnly(e.target.checked)} /> Escalated to me
        </label>
      )}
      <ErrorNote error={list.error} />
      {list.isPending && <p aria-busy="true">Loading…</p>}
      {list.data && entries.length === 0 && <p className="empty">Nothing is waiting for a manager.</p>}
      <div className="escalations" data-testid="escalations">
        {entries.map(({ callback: c, escalations }) => {
          const latest = escalations[escalations.length - 1];
          const due = Date.parse(c.dueAt);
          return (
            <article key={c.id} data-testid="escalation" data-callback-id={c.id}>
              <header>
                <Link to={`/callbacks/${c.id}`}>{c.customerName}</Link> <PriorityBadge priority={c.priority} />{' '}
                <StatusBadge status={c.status} />
              </header>
              <p>
                <strong>{ESCALATION_REASON[latest.reason] ?? latest.reason}</strong> · to{' '}
                <StaffName id={latest.escalatedTo} none="no manager available" /> · waiting{' '}
                {relative(latest.escalatedAt, now).replace(' ago', '')}
                {escalations.length > 1 && <> · escalated {escalations.length} times</>}
              </p>
              {latest.notes && <p className="notes">{latest.notes}</p>}
              <small className="muted">
                Assignee: <StaffName id={c.assignedTo} none="not assigned" /> ·{' '}
                {due <= now ? `overdue by ${formatDuration(now - due)}` : `${formatDuration(due - now)} left to the SLA`}
              </small>
            </article>
          );
        })}
      </div>
    </section>
  );
}
