/**
 * Business hours of a branch and SLA deadlines counted in *open* time.
 *
 * Pure and deterministic, so that Temporal workflow code can import it: no I/O, no clock (the
 * current time is always a parameter), no randomness; only luxon's time zone data and arithmetic.
 *
 * Model. A branch's opening hours are a list of intervals of local wall-clock time per ISO weekday
 * (1 = Monday .. 7 = Sunday) in its IANA time zone. Each interval `{ start: 'HH:MM', end: 'HH:MM' }`
 * is half-open, [start, end): a branch opening 09:00–19:00 is open at 09:00:00.000 and closed at
 * 19:00:00.000. `end` may be '24:00' (the next midnight); an interval ending 24:00 followed by one
 * starting 00:00 the next day is one continuous open period. A weekday with no entry (or an empty
 * list) is closed.
 *
 * Daylight saving. Each interval's local start and end are converted to instants for that calendar
 * date, so an interval contains as much real time as the clock says:
 * - spring forward (Europe/Madrid 2026-03-29, 02:00 -> 03:00): 01:00–04:00 holds 2 real hours;
 *   a wall-clock time inside the gap moves forward by the gap, like luxon (02:30 -> 03:30 CEST).
 *   An interval lying wholly inside a gap therefore shifts with it, and one whose shifted start is
 *   no longer before its end (02:30–03:15 -> 03:30–03:15) is empty that day. Intervals the shift
 *   makes overlap are merged, never counted twice.
 * - fall back (Europe/Madrid 2026-10-25, 03:00 -> 02:00): 01:00–04:00 holds 4 real hours; an
 *   ambiguous wall-clock time (02:30 occurs twice) is its *earlier* occurrence, the one with the
 *   offset in force before the transition (02:30 CEST = 00:30Z). So 01:00–02:30 closes at the first
 *   02:30 and 02:30–05:00 opens at the first 02:30.
 * The conversion is done here rather than with `DateTime.fromObject`, because luxon resolves an
 * ambiguous time with a provisional offset taken from `Settings.now()`: the result would depend on
 * the current clock (winter or summer), which a deterministic module must not.
 *
 * Bounds. Every computation walks day by day, interval by interval (never minute by minute) and at
 * most {@link MAX_SCAN_DAYS} local days: a deadline further away than that throws a RangeError, and
 * hours without any opening are detected up front (`nextOpening` null, `addOpenTime` throws).
 */
import { IANAZone } from 'luxon';

// ---- types ----

/** ISO weekday: 1 = Monday .. 7 = Sunday. */
export type Weekday = 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Local wall-clock interval, 'HH:MM' 24-hour; `end` after `start`, '24:00' allowed as `end` (end of day). */
export interface OpeningInterval {
  start: string;
  end: string;
}

/** Opening intervals per ISO weekday; a missing day (or an empty list) is closed. Intervals of a day must not overlap. */
export type WeeklyHours = Partial<Record<Weekday, readonly OpeningInterval[]>>;

export interface BusinessHours {
  /** IANA time zone of the branch, e.g. 'Europe/Madrid'. */
  timeZone: string;
  weekly: WeeklyHours;
}

/** One validation problem; `path` is dotted, e.g. 'timeZone', 'weekly.3.1.end' ('' for the input itself). */
export interface BusinessHoursIssue {
  path: string;
  message: string;
}

export type BusinessHoursValidation = { ok: true; value: BusinessHours } | { ok: false; issues: BusinessHoursIssue[] };

/** How many local days a computation may scan before giving up (ten years). */
export const MAX_SCAN_DAYS = 366 * 10;

/** Most intervals one weekday may have (keeps the worst-case scan short; real branches have one or two). */
export const MAX_INTERVALS_PER_DAY = 48;

export const WEEKDAYS: readonly Weekday[] = [1, 2, 3, 4, 5, 6, 7];

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** The ECMAScript Date range. */
const MAX_EPOCH_MS = 8.64e15;

// ---- validation (pure; the API wraps it in zod) ----

const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * Minutes after midnight of a 'HH:MM' time (00:00..23:59; '24:00' too when `allowEndOfDay`), or
 * null when the text is not such a time. Single-digit hours ('9:00') and seconds are rejected.
 */
export function parseTimeOfDay(value: string, allowEndOfDay = false): number | null {
  if (allowEndOfDay && value === '24:00') return 24 * 60;
  const m = TIME_OF_DAY.exec(value);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/** Whether `timeZone` is an IANA time zone name this runtime knows (via luxon, i.e. Intl). */
export function isValidTimeZone(timeZone: string): boolean {
  return typeof timeZone === 'string' && timeZone !== '' && IANAZone.isValidZone(timeZone);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const WEEKDAY_KEYS = new Set(WEEKDAYS.map(String));

/**
 * Every problem with `input` as {@link BusinessHours}, in document order; empty when valid.
 * Checks: an object; `timeZone` a known IANA zone; `weekly` an object whose keys are ISO weekdays
 * '1'..'7'; each day an array of at most {@link MAX_INTERVALS_PER_DAY} `{ start, end }` with 'HH:MM' times ('24:00' allowed as end only),
 * end after start, and no two intervals of a day overlapping (touching, 12:00–13:00 then 13:00–14:00,
 * is allowed). Unknown properties other than weekday keys are ignored (and dropped by
 * {@link validateBusinessHours}). A week without any opening is valid: the branch is closed.
 */
export function businessHoursIssues(input: unknown): BusinessHoursIssue[] {
  const issues: BusinessHoursIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });
  if (!isRecord(input)) {
    add('', 'must be an object { timeZone, weekly }');
    return issues;
  }

  const { timeZone, weekly } = input;
  if (typeof timeZone !== 'string' || timeZone === '') {
    add('timeZone', 'required: an IANA time zone name such as "Europe/Madrid"');
  } else if (!isValidTimeZone(timeZone)) {
    add('timeZone', `unknown IANA time zone "${timeZone}"`);
  }

  if (!isRecord(weekly)) {
    add('weekly', 'must be an object keyed by ISO weekday, "1" (Monday) to "7" (Sunday)');
    return issues;
  }
  for (const key of Object.keys(weekly)) {
    const dayPath = `weekly.${key}`;
    if (!WEEKDAY_KEYS.has(key)) {
      add(dayPath, 'unknown weekday: use ISO weekdays 1 (Monday) to 7 (Sunday)');
      continue;
    }
    const day = weekly[key];
    if (day === undefined) continue;
    if (!Array.isArray(day)) {
      add(dayPath, 'must be an array of { start, end } intervals (an empty array or no entry means closed)');
      continue;
    }
    if (day.length > MAX_INTERVALS_PER_DAY) {
      add(dayPath, `at most ${MAX_INTERVALS_PER_DAY} intervals per day, got ${day.length}`);
      continue;
    }
    const parsed: Array<{ index: number; start: number; end: number; text: string }> = [];
    day.forEach((interval: unknown, index) => {
      const path = `${dayPath}.${index}`;
      if (!isRecord(interval)) {
        add(path, 'must be an object { start: "HH:MM", end: "HH:MM" }');
        return;
      }
      const start = typeof interval.start === 'string' ? parseTimeOfDay(interval.start) : null;
      const end = typeof interval.end === 'string' ? parseTimeOfDay(interval.end, true) : null;
      if (start === null) {
        add(`${path}.start`, interval.start === undefined ? 'required: a time "HH:MM"' : 'must be a time "HH:MM", 24-hour, 00:00 to 23:59');
      }
      if (end === null) {
        add(`${path}.end`, interval.end === undefined ? 'required: a time "HH:MM"' : 'must be a time "HH:MM", 24-hour, 00:00 to 24:00');
      }
      if (start === null || end === null) return;
      if (end <= start) {
        add(`${path}.end`, `must be after start (${String(interval.start)})`);
        return;
      }
      parsed.push({ index, start, end, text: `${String(interval.start)}–${String(interval.end)}` });
    });
    // Sorted by start, an interval overlaps an earlier one iff it starts before the latest end so far.
    const sorted = [...parsed].sort((a, b) => a.start - b.start || a.index - b.index);
    let widest = sorted[0];
    for (const current of sorted.slice(1)) {
      if (current.start < widest.end) {
        const [first, second] = current.index > widest.index ? [widest, current] : [current, widest];
        add(`${dayPath}.${second.index}`, `overlaps ${dayPath}.${first.index} (${first.text}) on the same day`);
      }
      if (current.end > widest.end) widest = current;
    }
  }
  return issues;
}

/**
 * Validate `input` as {@link BusinessHours} (see {@link businessHoursIssues} for the checks).
 * On success `value` is a clean copy holding only `timeZone` and the weekday intervals, in the
 * order given.
 */
export function validateBusinessHours(input: unknown): BusinessHoursValidation {
  const issues = businessHoursIssues(input);
  if (issues.length > 0) return { ok: false, issues };
  const { timeZone, weekly } = input as { timeZone: string; weekly: Record<string, OpeningInterval[] | undefined> };
  const value: BusinessHours = { timeZone, weekly: {} };
  for (const day of WEEKDAYS) {
    const intervals = weekly[String(day)];
    if (intervals !== undefined) value.weekly[day] = intervals.map(({ start, end }) => ({ start, end }));
  }
  return { ok: true, value };
}

// ---- compiled hours and local time ----

type Interval = [startMs: number, endMs: number];

interface CompiledHours {
  zone: IANAZone;
  /** Index 1..7: the day's intervals in minutes after local midnight, sorted, touching ones merged. */
  days: ReadonlyArray<ReadonlyArray<readonly [number, number]>>;
  hasOpening: boolean;
}

function compile(hours: BusinessHours): CompiledHours {
  const result = validateBusinessHours(hours);
  if (!result.ok) {
    const detail = result.issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`invalid business hours: ${detail}`);
  }
  const days: Array<Array<readonly [number, number]>> = [[]];
  for (const day of WEEKDAYS) {
    const intervals = (result.value.weekly[day] ?? [])
      .map(({ start, end }): [number, number] => [parseTimeOfDay(start) as number, parseTimeOfDay(end, true) as number])
      .sort((a, b) => a[0] - b[0]);
    // Touching intervals (12:00–13:00, 13:00–14:00) are one period.
    const merged: Array<[number, number]> = [];
    for (const [start, end] of intervals) {
      const last = merged[merged.length - 1];
      if (last && start <= last[1]) last[1] = Math.max(last[1], end);
      else merged.push([start, end]);
    }
    days.push(merged);
  }
  return { zone: IANAZone.create(result.value.timeZone), days, hasOpening: days.some((d) => d.length > 0) };
}

/** Offset of `zone` at instant `ms`, in ms (luxon gives minutes). */
function offsetMs(zone: IANAZone, ms: number): number {
  return zone.offset(ms) * MINUTE_MS;
}

/**
 * The instant of a local wall-clock time, given as "local ms" (the wall-clock time read as if it
 * were UTC). Deterministic: an ambiguous time (fall back) is its earlier occurrence; a time in a gap
 * (spring forward) is read with the offset before the gap, i.e. moved forward by the gap (luxon's
 * behaviour).
 */
function localToInstant(zone: IANAZone, local: number): number {
  const before = offsetMs(zone, local - DAY_MS);
  const after = offsetMs(zone, local + DAY_MS);
  if (before === after && offsetMs(zone, local - before) === before) return local - before;
  // A transition is near: try every offset in force around it; the earliest consistent instant wins.
  const offsets = new Set([before, after, offsetMs(zone, local - before), offsetMs(zone, local - after)]);
  let best = Infinity;
  for (const offset of offsets) {
    const instant = local - offset;
    if (offsetMs(zone, instant) === offset && instant < best) best = instant;
  }
  if (best !== Infinity) return best;
  // In a gap: no offset is consistent. Use the smaller (pre-transition) offset: the time moves forward.
  return local - Math.min(...offsets);
}

/** The local calendar day of instant `ms`, as days since 1970-01-01. */
function localEpochDay(zone: IANAZone, ms: number): number {
  return Math.floor((ms + offsetMs(zone, ms)) / DAY_MS);
}

/** ISO weekday of a day counted from 1970-01-01 (a Thursday). */
function weekdayOfEpochDay(day: number): Weekday {
  return (((((day + 3) % 7) + 7) % 7) + 1) as Weekday;
}

/**
 * The offset of `zone` throughout local day `midnight` (local ms) when no transition is near it,
 * else null. Lets a day's intervals be converted with plain arithmetic instead of a zone lookup each.
 */
function steadyOffset(zone: IANAZone, midnight: number): number | null {
  const offset = offsetMs(zone, midnight - DAY_MS);
  return offsetMs(zone, midnight + DAY_MS / 2) === offset && offsetMs(zone, midnight + 2 * DAY_MS) === offset ? offset : null;
}

/**
 * The open periods that end after `fromMs`, in order and disjoint (they may touch: a long period
 * comes in pieces), local day by local day, for at most `maxDays` (+ a few) days. A period may start
 * before `fromMs`; callers clamp.
 */
function* openIntervalsFrom(hours: CompiledHours, fromMs: number, maxDays = MAX_SCAN_DAYS): Generator<Interval> {
  const { zone, days } = hours;
  const firstDay = localEpochDay(zone, fromMs) - 1; // the previous day's periods may reach into today
  const lastDay = firstDay + maxDays + 5;
  // Periods not yet handed out: sorted, disjoint.
  let pending: Interval[] = [];
  for (let day = firstDay; day <= lastDay; day++) {
    const intervals = days[weekdayOfEpochDay(day)];
    if (intervals.length > 0) {
      const midnight = day * DAY_MS;
      const steady = steadyOffset(zone, midnight);
      const toInstant = (minute: number) =>
        steady === null ? localToInstant(zone, midnight + minute * MINUTE_MS) : midnight + minute * MINUTE_MS - steady;
      const added: Interval[] = [];
      for (const [startMinute, endMinute] of intervals) {
        const start = toInstant(startMinute);
        const end = toInstant(endMinute);
        if (Number.isNaN(start) || Number.isNaN(end)) throw new RangeError('business hours: date outside the supported range');
        if (end > start) added.push([start, end]);
      }
      pending = appendIntervals(pending, added);
    }
    // UTC offsets are under 24 h, so every later day's period starts at or after `settled`:
    // whatever lies before it is final.
    const settled = day * DAY_MS;
    let done = 0;
    for (; done < pending.length && pending[done][0] < settled; done++) {
      const [start, end] = pending[done];
      if (end > settled) {
        pending[done] = [settled, end];
        if (settled > fromMs) yield [start, settled];
        break;
      }
      if (end > fromMs) yield [start, end];
    }
    if (done > 0) pending = pending.slice(done);
  }
  for (const interval of pending) if (interval[1] > fromMs) yield interval;
}

/**
 * `pending` (sorted, disjoint) with `added` merged in. Usually `added` comes in order after
 * `pending`; DST can break that (a start in a gap moves forward past a later wall-clock time), and
 * then everything is sorted and merged, so overlapping periods are never counted twice.
 */
function appendIntervals(pending: Interval[], added: Interval[]): Interval[] {
  const result = pending.slice();
  for (const [start, end] of added) {
    const last = result[result.length - 1];
    if (!last || start > last[1]) result.push([start, end]);
    else if (start >= last[0]) result[result.length - 1] = [last[0], Math.max(last[1], end)];
    else return mergeIntervals([...pending, ...added]);
  }
  return result;
}

function mergeIntervals(intervals: Interval[]): Interval[] {
  const sorted = intervals.map(([start, end]): Interval => [start, end]).sort((a, b) => a[0] - b[0]);
  const merged: Interval[] = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

function assertInstant(name: string, ms: number): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || Math.abs(ms) > MAX_EPOCH_MS) {
    throw new RangeError(`${name} must be a finite epoch millisecond value within the Date range, got ${String(ms)}`);
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

// ---- queries ----

/**
 * The instant (epoch ms) at which `seconds` of open time have elapsed after `startMs`.
 *
 * - `hours === null`: plain wall-clock time, `startMs + seconds * 1000`.
 * - Started while closed, the clock starts at the next opening.
 * - `seconds === 0`: `startMs` when open; when closed, the next opening (the moment the clock
 *   would start), so a zero SLA is never due while the branch is closed.
 * - A deadline that uses up an open period exactly is that period's closing instant (1 h before
 *   19:00 closing is due at 19:00, not at the next opening).
 *
 * Throws a RangeError for a negative or non-finite `seconds` or `startMs`, or when the deadline lies
 * more than {@link MAX_SCAN_DAYS} days ahead; an Error when `hours` is invalid or has no opening
 * on any weekday.
 */
export function addOpenTime(startMs: number, seconds: number, hours: BusinessHours | null): number {
  assertInstant('startMs', startMs);
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError(`seconds must be a finite number >= 0, got ${String(seconds)}`);
  }
  if (hours === null) return startMs + seconds * 1000;
  const compiled = compile(hours);
  if (!compiled.hasOpening) {
    throw new Error(`cannot add ${seconds} s of open time: the business hours (${hours.timeZone}) have no opening interval on any weekday`);
  }
  let remaining = seconds * 1000;
  for (const [start, end] of openIntervalsFrom(compiled, startMs)) {
    const from = Math.max(start, startMs);
    const available = end - from;
    if (remaining <= available) return from + remaining;
    remaining -= available;
  }
  throw new RangeError(
    `cannot add ${seconds} s of open time after ${iso(startMs)}: the deadline lies more than ${MAX_SCAN_DAYS} days ahead`,
  );
}

/**
 * Seconds of open time in [fromMs, toMs): wall-clock seconds when `hours` is null, 0 when
 * `toMs <= fromMs`. May be fractional when the bounds are not whole seconds apart in open time.
 * For any start t and s >= 0: `openSecondsBetween(t, addOpenTime(t, s, h), h) === s` (whole
 * seconds). Throws a RangeError when the range is longer than {@link MAX_SCAN_DAYS} days (and the
 * hours have an opening), an Error when `hours` is invalid.
 */
export function openSecondsBetween(fromMs: number, toMs: number, hours: BusinessHours | null): number {
  assertInstant('fromMs', fromMs);
  assertInstant('toMs', toMs);
  if (toMs <= fromMs) return 0;
  if (hours === null) return (toMs - fromMs) / 1000;
  const compiled = compile(hours);
  if (!compiled.hasOpening) return 0;
  if (toMs - fromMs > MAX_SCAN_DAYS * DAY_MS) {
    throw new RangeError(`openSecondsBetween: the range ${iso(fromMs)}..${iso(toMs)} is longer than ${MAX_SCAN_DAYS} days`);
  }
  let totalMs = 0;
  for (const [start, end] of openIntervalsFrom(compiled, fromMs)) {
    if (start >= toMs) break;
    totalMs += Math.min(end, toMs) - Math.max(start, fromMs);
  }
  return totalMs / 1000;
}

/**
 * Whether the branch is open at `atMs` (intervals are [start, end): open at the opening instant,
 * closed at the closing instant). Always true when `hours` is null (no hours: always open).
 */
export function isOpen(atMs: number, hours: BusinessHours | null): boolean {
  assertInstant('atMs', atMs);
  if (hours === null) return true;
  const compiled = compile(hours);
  if (!compiled.hasOpening) return false;
  for (const [start] of openIntervalsFrom(compiled, atMs, 2)) return start <= atMs;
  return false;
}

/**
 * When the SLA clock would start: `atMs` itself when open, else the next opening instant. Null when
 * the week has no opening at all (or, theoretically, none within {@link MAX_SCAN_DAYS} days).
 */
export function nextOpening(atMs: number, hours: BusinessHours): number | null {
  assertInstant('atMs', atMs);
  const compiled = compile(hours);
  if (!compiled.hasOpening) return null;
  for (const [start] of openIntervalsFrom(compiled, atMs)) return Math.max(start, atMs);
  return null;
}
