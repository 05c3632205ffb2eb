/**
 * Polls `probe` every 50 ms until it returns something truthy, and returns that; past `timeoutMs`
 * it fails naming what it waited for. Real time: activities run in real time even on a
 * time-skipping server, so this is for waiting on real servers, never on workflow timers.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
