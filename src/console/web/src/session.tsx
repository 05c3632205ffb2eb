import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { createApi, type Api, type ApiKey, type Company, type Role } from './api';

/**
 * Who is signed in: the pasted API key (kept in sessionStorage: this tab only, gone when it
 * closes), the key's role and staff member (GET /v1/api-key) and its company (GET /v1/company).
 * Every request is scoped by the key, so the console can only ever show that company's data.
 */
export interface Session {
  api: Api;
  key: ApiKey;
  company: Company;
}

const STORAGE_KEY = 'console.apiKey';
const RANK: Record<Role, number> = { agent: 0, manager: 1, admin: 2 };

export const roleAtLeast = (role: Role, needed: Role) => RANK[role] >= RANK[needed];

export async function signInWith(secret: string): Promise<Session> {
  const api = createApi(secret);
  const [key, company] = await Promise.all([api.get<ApiKey>('/v1/api-key'), api.get<Company>('/v1/company')]);
  return { api, key, company };
}

export const storedKey = (): string | null => sessionStorage.getItem(STORAGE_KEY);

interface SessionState {
  session: Session | null;
  signedIn(secret: string, session: Session): void;
  signOut(): void;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ initial, children }: { initial: Session | null; children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(initial);
  const queryClient = useQueryClient();
  const signedIn = useCallback(
    (secret: string, s: Session) => {
      sessionStorage.setItem(STORAGE_KEY, secret);
      queryClient.clear();
      setSession(s);
    },
    [queryClient],
  );
  const signOut = useCallback(() => {
    sessionStorage.removeItem(STORAGE_KEY);
    sessionStorage.removeItem('console.branchId');
    queryClient.clear();
    setSession(null);
  }, [queryClient]);
  const value = useMemo(() => ({ session, signedIn, signOut }), [session, signedIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSessionState(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSessionState outside SessionProvider');
  return state;
}

/** The signed-in session (the pages below the sign-in gate only). */
export function useSession(): Session {
  const { session } = useSessionState();
  if (!session) throw new Error('not signed in');
  return session;
}

/** What the signed-in key may do; the console offers nothing else. */
export function useAbilities() {
  const { key } = useSession();
  const manager = roleAtLeast(key.role, 'manager');
  return {
    role: key.role,
    staffId: key.staffId,
    manager,
    /** Record an attempt or complete: a manager, or the agent the callback is assigned to. */
    canWork: (assignedTo: string | null) => manager || (key.staffId !== null && key.staffId === assignedTo),
    /** Reassign, cancel, escalate by hand; delivery analytics. */
    canManage: manager,
  };
}
