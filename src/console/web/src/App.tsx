import { useEffect, useState, type FormEvent } from 'react';
import { createBrowserRouter, Navigate, NavLink, Outlet, RouterProvider, useNavigate, useParams, useLocation } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import type { Staff } from './api';
import { ErrorNote, useBranches } from './components';
import { signInWith, useAbilities, useSession, useSessionState } from './session';
import { QueuePage } from './pages/Queue';
import { CallbackPage } from './pages/Callback';
import { EscalationsPage } from './pages/Escalations';
import { AppointmentsPage } from './pages/Appointments';
import { NotificationsPage } from './pages/Notifications';
import { NotificationPage } from './pages/Notification';

const router = createBrowserRouter(
  [
    {
      element: <Gate />,
      children: [
        { index: true, element: <Home /> },
        { path: 'branches/:branchId/queue', element: <QueuePage /> },
        { path: 'branches/:branchId/escalations', element: <EscalationsPage /> },
        { path: 'branches/:branchId/appointments', element: <AppointmentsPage /> },
        { path: 'callbacks/:id', element: <CallbackPage /> },
        { path: 'notifications', element: <NotificationsPage /> },
        { path: 'notifications/:id', element: <NotificationPage /> },
        { path: '*', element: <p>There is no such page.</p> },
      ],
    },
  ],
  { basename: '/console' },
);

export function App() {
  return <RouterProvider router={router} />;
}

const BRANCH_KEY = 'console.branchId';

/** Signed in: the shell and the page asked for; otherwise the sign-in form (the address is kept). */
function Gate() {
  const { session } = useSessionState();
  if (!session) return <SignIn />;
  return <Shell />;
}

function SignIn() {
  const { signedIn } = useSessionState();
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const value = secret.trim();
      signedIn(value, await signInWith(value));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="container sign-in">
      <article>
        <header>
          <h1>Console</h1>
          <p>Callbacks, escalations, appointments and deliveries of your company.</p>
        </header>
        <form onSubmit={submit}>
          <label>
            API key
            <input
              name="apiKey"
              type="password"
              autoComplete="off"
              placeholder="ak_…"
              value={secret}
              onChange={(e) => setSecret(e.target.value)}
              required
            />
            <small>
              A staff member’s key (agent, manager or admin). It stays in this tab only and is forgotten when you sign out or close it.
            </small>
          </label>
          <ErrorNote error={error} />
          <button type="submit" aria-busy={busy} disabled={busy}>
            Sign in
          </button>
        </form>
      </article>
    </main>
  );
}

/** The branch the pages show: the one in the address, else the last one chosen in this tab. */
function useCurrentBranchId(): string | undefined {
  const { branchId } = useParams();
  useEffect(() => {
    if (branchId) sessionStorage.setItem(BRANCH_KEY, branchId);
  }, [branchId]);
  return branchId ?? sessionStorage.getItem(BRANCH_KEY) ?? undefined;
}

function Shell() {
  const { company, key } = useSession();
  const { signOut } = useSessionState();
  const abilities = useAbilities();
  const branches = useBranches();
  const branchId = useCurrentBranchId();
  const navigate = useNavigate();
  const location = useLocation();
  const page = /\/branches\/[^/]+\/(\w+)/.exec(location.pathname)?.[1] ?? 'queue';
  const current = branches.data?.find((b) => b.id === branchId) ?? branches.data?.[0];

  return (
    <>
      <header className="container-fluid shell-header">
        <nav>
          <ul>
            <li>
              <strong>{company.name}</strong>
            </li>
            <li>
              <span className="who" data-testid="who">
                {key.name} · {key.role}
              </span>
            </li>
          </ul>
          <ul>
            <li>
              <button type="button" className="secondary outline" onClick={signOut}>
                Sign out
              </button>
            </li>
          </ul>
        </nav>
        <nav className="pages">
          <ul>
            {branches.data && branches.data.length > 0 && (
              <li>
                <select
                  aria-label="Branch"
                  name="branch"
                  value={current?.id ?? ''}
                  onChange={(e) => navigate(`/branches/${e.target.value}/${page}`)}
                >
                  {branches.data.map((b) => (
                    <option key={b.id} value={b.id}>
                      {b.name}
                    </option>
                  ))}
                </select>
              </li>
            )}
          </ul>
          <ul>
            {current && (
              <>
                <li>
                  <NavLink to={`/branches/${current.id}/queue`}>Queue</NavLink>
                </li>
                <li>
                  <NavLink to={`/branches/${current.id}/escalations`}>Escalations</NavLink>
                </li>
                <li>
                  <NavLink to={`/branches/${current.id}/appointments`}>Appointments</NavLink>
                </li>
              </>
            )}
            <li>
              <NavLink to="/notifications" end={!abilities.canManage}>
                {abilities.canManage ? 'Deliveries' : 'Notifications'}
              </NavLink>
            </li>
          </ul>
        </nav>
      </header>
      <main className="container">
        <ErrorNote error={branches.error} />
        {branches.data && branches.data.length === 0 && <p>The company has no branch yet.</p>}
        <Outlet />
      </main>
    </>
  );
}

/** The start page: the queue of the last branch chosen in this tab, else the key's staff member's branch, else the first. */
function Home() {
  const { api, key } = useSession();
  const branches = useBranches();
  const me = useQuery({
    queryKey: ['staff', key.staffId],
    queryFn: () => api.get<Staff>(`/v1/staff/${key.staffId}`),
    enabled: key.staffId !== null,
    staleTime: 60_000,
  });
  const remembered = sessionStorage.getItem(BRANCH_KEY);
  if (!branches.data || (key.staffId !== null && me.isPending)) return <p aria-busy="true">Loading…</p>;
  const branch =
    branches.data.find((b) => b.id === remembered) ?? branches.data.find((b) => b.id === me.data?.branchId) ?? branches.data[0];
  return branch ? <Navigate to={`/branches/${branch.id}/queue`} replace /> : null;
}
