import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import '@picocss/pico/css/pico.min.css';
import './styles.css';
import { ApiError } from './api';
import { App } from './App';
import { SessionProvider, signInWith, storedKey, type Session } from './session';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // 4xx answers do not get better by asking again; a network blip or a 503 may.
      retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      refetchOnWindowFocus: true,
    },
  },
});

async function start() {
  // A reload keeps the tab signed in: the key in sessionStorage is checked again.
  let initial: Session | null = null;
  const secret = storedKey();
  if (secret) {
    try {
      initial = await signInWith(secret);
    } catch {
      sessionStorage.clear();
    }
  }
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <SessionProvider initial={initial}>
          <App />
        </SessionProvider>
      </QueryClientProvider>
    </StrictMode>,
  );
}

void start();
