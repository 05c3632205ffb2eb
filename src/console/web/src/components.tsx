import { useQuery } from '@tanstack/react-query';
import { ApiError, describeError, type Branch, type Priority, type Staff } from './api';
import { useSession } from './session';

/** The API's answer, in words (403 and 409 say what is not allowed and why). */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p role="alert" className="error-note">
      {describeError(error)}
    </p>
  );
}

export const isNotFound = (error: unknown) => error instanceof ApiError && error.status === 404;

export function PriorityBadge({ priority }: { priority: Priority }) {
  return <span className={`badge priority-${priority}`}>{priority}</span>;
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

export const ASSIGNMENT_REASON: Record<string, string> = {
  preferred: 'preferred staff member',
  expertise: 'qualified for the service',
  least_loaded: 'least loaded',
  manual: 'assigned by a manager',
};

export const ESCALATION_REASON: Record<string, string> = {
  sla_breach: 'SLA breached',
  multiple_attempts_failed: 'failed contact attempts',
  manual: 'escalated by hand',
};

export const ATTEMPT_OUTCOME: Record<string, string> = {
  reached: 'reached',
  no_answer: 'no answer',
  busy: 'busy',
  voicemail: 'voicemail',
  wrong_number: 'wrong number',
};

export const MESSAGE_KIND: Record<string, string> = {
  created: 'Booking message',
  confirmed: 'Confirmation',
  reminder_24h: 'Reminder 24 h before',
  reminder_2h: 'Reminder 2 h before',
  feedback: 'Feedback request',
};

/** A staff member's name (read once, cached); the id's start while loading, "removed" if gone. */
export function StaffName({ id, none = 'nobody' }: { id: string | null; none?: string }) {
  const { api } = useSession();
  const staff = useQuery({
    queryKey: ['staff', id],
    queryFn: () => api.get<Staff>(`/v1/staff/${id}`),
    enabled: id !== null,
    staleTime: 60_000,
    retry: (count, error) => !isNotFound(error) && count < 2,
  });
  if (id === null) return <span className="muted">{none}</span>;
  if (staff.data) return <span>{staff.data.name}</span>;
  if (staff.error) return <span className="muted">{isNotFound(staff.error) ? 'removed' : id.slice(0, 8)}</span>;
  return <span className="muted">…</span>;
}

export function useBranches() {
  const { api } = useSession();
  return useQuery({
    queryKey: ['branches'],
    queryFn: async () => (await api.get<{ items: Branch[] }>('/v1/branches?limit=200')).items,
    staleTime: 60_000,
  });
}

export function useBranch(branchId: string) {
  const branches = useBranches();
  return { ...branches, data: branches.data?.find((b) => b.id === branchId) };
}

export function useStaffOfBranch(branchId: string) {
  const { api } = useSession();
  return useQuery({
    queryKey: ['staff-of-branch', branchId],
    queryFn: async () => (await api.get<{ items: Staff[] }>(`/v1/staff?branchId=${branchId}&limit=200`)).items,
    staleTime: 30_000,
  });
}
