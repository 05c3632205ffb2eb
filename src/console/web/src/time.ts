import { useEffect, useState } from 'react';
import { DateTime } from 'luxon';

/** The current time, re-rendered every `everyMs` (the live SLA countdown). */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** 38 s, 4 min 12 s, 1 h 05 min, 2 d 3 h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(sec).padStart(2, '0')} s`;
  return `${sec} s`;
}

/** "4 min 12 s ago" / "in 3 h 05 min". */
export function relative(iso: string, now: number): string {
  const diff = Date.parse(iso) - now;
  return diff >= 0 ? `in ${formatDuration(diff)}` : `${formatDuration(-diff)} ago`;
}

/** A moment as read in a time zone: "Fri 4 Dec, 18:05" (with seconds: "Fri 4 Dec, 18:05:12"). */
export function formatDateTime(iso: string, timeZone?: string, options: { seconds?: boolean } = {}): string {
  return new Intl.DateTimeFormat(undefined, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    ...(options.seconds ? { second: '2-digit' } : {}),
    timeZone,
  }).format(new Date(iso));
}

export function formatTime(iso: string, timeZone?: string): string {
  return new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', timeZone }).format(new Date(iso));
}

/** [start, end) of today (offset 0) or tomorrow (offset 1) in a time zone, as ISO instants. */
export function dayBounds(timeZone: string, offset: number): { from: string; to: string; label: string } {
  const start = DateTime.now().setZone(timeZone).startOf('day').plus({ days: offset });
  return { from: start.toUTC().toISO()!, to: start.plus({ days: 1 }).toUTC().toISO()!, label: start.toFormat('cccc d LLLL') };
}
