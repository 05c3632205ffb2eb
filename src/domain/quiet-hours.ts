import { DateTime } from 'luxon';

/**
 * Quiet hours in the recipient's time zone (SPEC 5 rate and send window). Pure: the notification
 * workflow passes its own deterministic Date.now(), so the wait it computes replays identically.
 *
 * `start`..`end` is the quiet period (no sending), local wall-clock time "HH:MM" or "HH:MM:SS";
 * when start > end it spans midnight (22:00..07:00). start == end means no quiet period.
 */
export interface QuietHours {
  start: string;
  end: string;
}

const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

export function isTimeOfDay(value: string): boolean {
  return TIME_OF_DAY.test(value);
}

function secondsOfDay(value: string): number {
  const m = TIME_OF_DAY.exec(value);
  if (!m) throw new Error(`not a time of day: ${value}`);
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0);
}

/** The local wall-clock moment `seconds` after midnight of `day`, in the day's zone (DST-safe: luxon moves a time in a spring-forward gap forward). */
function at(day: DateTime, seconds: number): DateTime {
  return day.set({ hour: Math.floor(seconds / 3600), minute: Math.floor((seconds % 3600) / 60), second: seconds % 60, millisecond: 0 });
}

/**
 * Milliseconds from `nowMs` until sending is allowed again: 0 outside the quiet period, else the
 * time until its end. An unknown time zone is treated as UTC rather than blocking the message.
 */
export function quietHoursWaitMs(nowMs: number, timeZone: string, quiet: QuietHours): number {
  const start = secondsOfDay(quiet.start);
  const end = secondsOfDay(quiet.end);
  if (start === end) return 0;
  let now = DateTime.fromMillis(nowMs, { zone: timeZone });
  if (!now.isValid) now = DateTime.fromMillis(nowMs, { zone: 'utc' });
  const today = now.startOf('day');
  const t = now.hour * 3600 + now.minute * 60 + now.second;
  let opensAt: DateTime | undefined;
  if (start < end) {
    if (t >= start && t < end) opensAt = at(today, end);
  } else if (t >= start) {
    opensAt = at(today.plus({ days: 1 }), end);
  } else if (t < end) {
    opensAt = at(today, end);
  }
  if (!opensAt) return 0;
  const wait = opensAt.toMillis() - nowMs;
  return Number.isFinite(wait) && wait > 0 ? wait : 0;
}
