import { useState, type FormEvent, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { newIdempotencyKey, OPEN_STATUSES, type CallbackDetail, type CallbackMessageResult } from '../api';
import {
  ASSIGNMENT_REASON,
  ATTEMPT_OUTCOME,
  ErrorNote,
  ESCALATION_REASON,
  isNotFound,
  PriorityBadge,
  StaffName,
  StatusBadge,
  useStaffOfBranch,
} from '../components';
import { useAbilities, useSession } from '../session';
import { formatDateTime, formatDuration, relative, useNow } from '../time';

export function CallbackPage() {
  const { id = '' } = useParams();
  const { api } = useSession();
  const now = useNow(1000);
  const callback = useQuery({
    queryKey: ['callback', id],
    queryFn: () => api.get<CallbackDetail>(`/v1/callbacks/${id}`),
    refetchInterval: (q) => (q.state.error && isNotFound(q.state.error) ? false : 3000),
  });
  if (callback.error && !callback.data) {
    return (
      <section>
        <h2>Callback</h2>
        <ErrorNote error={callback.error} />
        <Link to="/">Back to the queue</Link>
      </section>
    );
  }
  if (!callback.data) return <p aria-busy="true">Loading…</p>;
  const c = callback.data;
  const isOpen = (OPEN_STATUSES as readonly string[]).includes(c.status);
  const due = Date.parse(c.dueAt);
  const breached = isOpen && due <= now;
  return (
    <section data-testid="callback-page" data-callback-id={c.id}>
      <p>
        <Link to={`/branches/${c.branchId}/queue`}>← Queue</Link>
      </p>
      <hgroup>
        <h2>
          {c.customerName} <PriorityBadge priority={c.priority} /> <StatusBadge status={c.status} />
        </h2>
        <p data-testid="callback-sla" className={breached ? 'overdue' : undefined}>
          {isOpen
            ? breached
              ? `Overdue by ${formatDuration(now - due)}`
              : `${formatDuration(due - now)} left to the SLA`
            : (c.statusReason ?? c.status)}
          {c.escalated && (
            <span className="marker escalated" data-testid="escalation-marker">
              Escalated{c.escalationCount > 1 ? ` ×${c.escalationCount}` : ''}
            </span>
          )}
        </p>
      </hgroup>
      <div className="callback-grid">
        <article>
          <dl className="facts">
            <dt>Phone</dt>
            <dd>
              <a href={`tel:${c.phoneNumber}`}>{c.phoneNumber}</a>
            </dd>
            <dt>Assignee</dt>
            <dd>
              <StaffName id={c.assignedTo} none="not assigned yet" />
              {c.assignmentReason && <small> · {ASSIGNMENT_REASON[c.assignmentReason] ?? c.assignmentReason}</small>}
            </dd>
            <dt>SLA due</dt>
            <dd title={c.dueAt}>
              {formatDateTime(c.dueAt, c.timeZone, { seconds: true })} <small>({c.timeZone})</small>
            </dd>
            <dt>Requested</dt>
            <dd>{formatDateTime(c.createdAt, c.timeZone)}</dd>
            <dt>Attempts</dt>
            <dd>{c.attemptCount}</dd>
            {c.notes && (
              <>
                <dt>Notes</dt>
                <dd className="notes">{c.notes}</dd>
              </>
            )}
            {c.outcomeNotes && (
              <>
                <dt>Outcome</dt>
                <dd className="notes">{c.outcomeNotes}</dd>
              </>
            )}
          </dl>
        </article>
        {isOpen ? <Actions callback={c} /> : <article className="muted">This callback is {c.status}: nothing more to do.</article>}
      </div>
      <History callback={c} now={now} />
    </section>
  );
}

interface HistoryEvent {
  at: string;
  key: string;
  title: ReactNode;
  detail?: ReactNode;
}

function History({ callback: c, now }: { callback: CallbackDetail; now: number }) {
  const events: HistoryEvent[] = [{ at: c.createdAt, key: 'created', title: `Requested (${c.priority})` }];
  if (c.assignedAt)
    events.push({
      at: c.assignedAt,
      key: 'assigned',
      title: (
        <>
          Assigned to <StaffName id={c.assignedTo} />
        </>
      ),
      detail: c.assignmentReason ? (ASSIGNMENT_REASON[c.assignmentReason] ?? c.assignmentReason) : undefined,
    });
  for (const a of c.attempts)
    events.push({
      at: a.attemptedAt,
      key: `attempt-${a.id}`,
      title: (
        <>
          Contact attempt: {ATTEMPT_OUTCOME[a.outcome] ?? a.outcome} (<StaffName id={a.staffId} none="a manager" />)
        </>
      ),
      detail: a.notes ?? undefined,
    });
  if (c.breachedAt) events.push({ at: c.breachedAt, key: 'breached', title: 'SLA breached' });
  for (const e of c.escalations)
    events.push({
      at: e.escalatedAt,
      key: `escalation-${e.id}`,
      title: (
        <>
          Escalated ({ESCALATION_REASON[e.reason] ?? e.reason}) to <StaffName id={e.escalatedTo} none="no manager available" />
        </>
      ),
      detail: (
        <>
          {e.notes}
          {e.notificationId && (
            <>
              {' '}
              <Link to={`/notifications/${e.notificationId}`}>the manager’s notification</Link>
            </>
          )}
          {e.resolvedAt && <> · resolved {relative(e.resolvedAt, now)}</>}
        </>
      ),
    });
  if (c.contactedAt) events.push({ at: c.contactedAt, key: 'contacted', title: 'Customer reached' });
  const end = c.completedAt ?? c.cancelledAt ?? c.expiredAt ?? c.failedAt ?? null;
  if (end) events.push({ at: end, key: 'end', title: `Ended: ${c.status}`, detail: c.statusReason ?? undefined });
  events.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return (
    <article>
      <h3>History</h3>
      <ol className="history" data-testid="history">
        {events.map((e) => (
          <li key={e.key}>
            <time dateTime={e.at} title={e.at}>
              {formatDateTime(e.at, c.timeZone, { seconds: true })}
            </time>
            <div>
              <strong>{e.title}</strong>
              {e.detail && <div className="muted">{e.detail}</div>}
            </div>
          </li>
        ))}
      </ol>
    </article>
  );
}

type Kind = 'attempts' | 'complete' | 'reassign' | 'cancel' | 'escalate';

/** The actions the signed-in key may take on this callback, through the API's own routes; nothing else is offered. */
function Actions({ callback: c }: { callback: CallbackDetail }) {
  const abilities = useAbilities();
  const canWork = abilities.canWork(c.assignedTo);
  if (!canWork && !abilities.canManage)
    return (
      <article className="muted" data-testid="no-actions">
        {c.assignedTo === null
          ? 'Not assigned yet: a manager can assign it.'
          : 'Assigned to someone else: only they or a manager can act on it.'}
      </article>
    );
  return (
    <article data-testid="actions">
      <h3>Actions</h3>
      {canWork && (
        <>
          <ActionForm callback={c} kind="attempts" label="Record an attempt">
            {(fields) => (
              <>
                <label>
                  Outcome
                  <select
                    name="outcome"
                    value={fields.values.outcome ?? 'no_answer'}
                    onChange={(e) => fields.set('outcome', e.target.value)}
                  >
                    {Object.entries(ATTEMPT_OUTCOME).map(([value, label]) => (
                      <option key={value} value={value}>
                        {label}
                      </option>
                    ))}
                  </select>
                </label>
                <NotesField fields={fields} />
              </>
            )}
          </ActionForm>
          <ActionForm callback={c} kind="complete" label="Complete">
            {(fields) => <NotesField fields={fields} label="Outcome notes" />}
          </ActionForm>
        </>
      )}
      {abilities.canManage && (
        <>
          <ActionForm callback={c} kind="reassign" label="Reassign">
            {(fields) => <ReassignField callback={c} fields={fields} />}
          </ActionForm>
          <ActionForm callback={c} kind="escalate" label="Escalate">
            {(fields) => <NotesField fields={fields} />}
          </ActionForm>
          <ActionForm callback={c} kind="cancel" label="Cancel the callback" danger>
            {(fields) => <NotesField fields={fields} name="reason" label="Reason" />}
          </ActionForm>
        </>
      )}
    </article>
  );
}

interface Fields {
  values: Record<string, string>;
  set: (name: string, value: string) => void;
}

function NotesField({ fields, name = 'notes', label = 'Notes' }: { fields: Fields; name?: string; label?: string }) {
  return (
    <label>
      {label}
      <textarea
        name={name}
        rows={2}
        maxLength={2000}
        value={fields.values[name] ?? ''}
        onChange={(e) => fields.set(name, e.target.value)}
      />
    </label>
  );
}

function ReassignField({ callback: c, fields }: { callback: CallbackDetail; fields: Fields }) {
  const staff = useStaffOfBranch(c.branchId);
  return (
    <label>
      To
      <select name="staffId" value={fields.values.staffId ?? ''} onChange={(e) => fields.set('staffId', e.target.value)}>
        <option value="">Let the assignment rules choose</option>
        {(staff.data ?? [])
          .filter((s) => s.id !== c.assignedTo)
          .map((s) => (
            <option key={s.id} value={s.id} disabled={!s.available}>
              {s.name}
              {s.available ? '' : ' (unavailable)'}
            </option>
          ))}
      </select>
    </label>
  );
}

function bodyOf(kind: Kind, values: Record<string, string>): Record<string, unknown> {
  const text = (v: string | undefined) => (v && v.trim() ? v.trim() : undefined);
  switch (kind) {
    case 'attempts':
      return { outcome: values.outcome ?? 'no_answer', notes: text(values.notes) };
    case 'complete':
    case 'escalate':
      return { notes: text(values.notes) };
    case 'reassign':
      return { staffId: values.staffId || undefined };
    case 'cancel':
      return { reason: text(values.reason) };
  }
}

function ActionForm({
  callback: c,
  kind,
  label,
  danger,
  children,
}: {
  callback: CallbackDetail;
  kind: Kind;
  label: string;
  danger?: boolean;
  children: (fields: Fields) => ReactNode;
}) {
  const { api } = useSession();
  const queryClient = useQueryClient();
  const [values, setValues] = useState<Record<string, string>>({});
  const [done, setDone] = useState<string | null>(null);
  const mutation = useMutation({
    // One key per submitted action: a retry after a lost answer is applied once.
    mutationFn: (body: Record<string, unknown>) =>
      api.post<CallbackMessageResult>(`/v1/callbacks/${c.id}/${kind}`, body, { idempotencyKey: newIdempotencyKey() }),
    onSuccess: ({ body }) => {
      queryClient.setQueryData(['callback', c.id], body.callback);
      setDone(body.applied ? `Done: the callback is ${body.callback.status}.` : 'Accepted: it is being applied.');
      setValues({});
      void queryClient.invalidateQueries({ queryKey: ['overdue', c.branchId] });
      void queryClient.invalidateQueries({ queryKey: ['escalations', c.branchId] });
      void queryClient.invalidateQueries({ queryKey: ['callback', c.id] });
    },
  });
  const fields: Fields = { values, set: (name, value) => setValues((v) => ({ ...v, [name]: value })) };
  function submit(e: FormEvent) {
    e.preventDefault();
    setDone(null);
    mutation.mutate(bodyOf(kind, values));
  }
  return (
    <details data-action={kind}>
      <summary role="button" className={danger ? 'secondary outline' : 'outline'}>
        {label}
      </summary>
      <form onSubmit={submit}>
        {children(fields)}
        <ErrorNote error={mutation.error} />
        {done && (
          <p role="status" className="done-note">
            {done}
          </p>
        )}
        <button type="submit" className={danger ? 'secondary' : undefined} aria-busy={mutation.isPending} disabled={mutation.isPending}>
          {label}
        </button>
      </form>
    </details>
  );
}
