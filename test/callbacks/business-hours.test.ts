import { DateTime } from 'luxon';
import {
  addOpenTime,
  isOpen,
  isValidTimeZone,
  MAX_INTERVALS_PER_DAY,
  MAX_SCAN_DAYS,
  nextOpening,
  openSecondsBetween,
  parseTimeOfDay,
  validateBusinessHours,
  type BusinessHours,
  type OpeningInterval,
  type WeeklyHours,
} from '../../src/callbacks/business-hours';

// Pure unit tests: no servers, no clock. Expected instants are written either as local ISO times
// (outside DST transitions, where the local time is unambiguous) or as exact UTC instants.

const MADRID = 'Europe/Madrid';
const HOUR = 3600;

/** Epoch ms of an unambiguous local wall-clock time. */
function at(localIso: string, zone = MADRID): number {
  const dt = DateTime.fromISO(localIso, { zone });
  if (!dt.isValid) throw new Error(`bad test time ${localIso}`);
  return dt.toMillis();
}

/** The instant as local ISO time with offset, for readable assertions. */
function local(ms: number | null, zone = MADRID): string | null {
  return ms === null ? null : DateTime.fromMillis(ms, { zone }).toISO();
}

const utc = (iso: string) => Date.parse(iso);

function days(days: number[], intervals: OpeningInterval[]): WeeklyHours {
  return Object.fromEntries(days.map((d) => [d, intervals])) as WeeklyHours;
}

const MON_FRI = [1, 2, 3, 4, 5];
const ALL_WEEK = [1, 2, 3, 4, 5, 6, 7];
const OFFICE: BusinessHours = { timeZone: MADRID, weekly: days(MON_FRI, [{ start: '09:00', end: '19:00' }]) };
const LUNCH_BREAK: BusinessHours = {
  timeZone: MADRID,
  weekly: days(MON_FRI, [
    { start: '15:00', end: '19:00' }, // deliberately not in order
    { start: '09:00', end: '13:00' },
  ]),
};
const SUNDAY_NIGHT = (start: string, end: string, timeZone = MADRID): BusinessHours => ({ timeZone, weekly: { 7: [{ start, end }] } });

// January 2026: Mon 12 .. Fri 16, Sat 17, Sun 18, Mon 19 (CET, +01:00).

describe('addOpenTime: the callback SLA deadline', () => {
  it('Friday 18:55 with a 2 h SLA and hours Mon–Fri 09:00–19:00 is due Monday 10:55', () => {
    const created = at('2026-01-16T18:55');
    const due = addOpenTime(created, 2 * HOUR, OFFICE);
    expect(local(due)).toBe('2026-01-19T10:55:00.000+01:00');
    expect(openSecondsBetween(created, due, OFFICE)).toBe(2 * HOUR);
  });

  it('the same Friday example across the spring-forward weekend is due Monday 10:55 summer time', () => {
    const due = addOpenTime(at('2026-03-27T18:55'), 2 * HOUR, OFFICE);
    expect(local(due)).toBe('2026-03-30T10:55:00.000+02:00');
    expect(due).toBe(utc('2026-03-30T08:55:00Z'));
  });

  it('created during opening hours: the clock runs at once', () => {
    expect(local(addOpenTime(at('2026-01-13T10:00'), 2 * HOUR, OFFICE))).toBe('2026-01-13T12:00:00.000+01:00');
    expect(local(addOpenTime(at('2026-01-13T10:17:30'), 90, OFFICE))).toBe('2026-01-13T10:19:00.000+01:00');
  });

  it('created at night: the clock starts at the opening', () => {
    expect(local(addOpenTime(at('2026-01-13T03:00'), 2 * HOUR, OFFICE))).toBe('2026-01-13T11:00:00.000+01:00');
    expect(local(addOpenTime(at('2026-01-12T22:00'), 2 * HOUR, OFFICE))).toBe('2026-01-13T11:00:00.000+01:00');
    expect(local(addOpenTime(at('2026-01-13T00:00'), 2 * HOUR, OFFICE))).toBe('2026-01-13T11:00:00.000+01:00');
  });

  it('created at the weekend: the clock starts on Monday', () => {
    expect(local(addOpenTime(at('2026-01-17T12:00'), 2 * HOUR, OFFICE))).toBe('2026-01-19T11:00:00.000+01:00');
    expect(local(addOpenTime(at('2026-01-18T23:59'), 2 * HOUR, OFFICE))).toBe('2026-01-19T11:00:00.000+01:00');
    expect(isOpen(at('2026-01-17T12:00'), OFFICE)).toBe(false);
    expect(local(nextOpening(at('2026-01-17T12:00'), OFFICE))).toBe('2026-01-19T09:00:00.000+01:00');
  });

  it('created exactly at opening: open, the clock runs from that instant', () => {
    const opening = at('2026-01-12T09:00');
    expect(isOpen(opening, OFFICE)).toBe(true);
    expect(isOpen(opening - 1, OFFICE)).toBe(false);
    expect(nextOpening(opening, OFFICE)).toBe(opening);
    expect(nextOpening(opening - 1, OFFICE)).toBe(opening);
    expect(addOpenTime(opening, 0, OFFICE)).toBe(opening);
    expect(local(addOpenTime(opening, 2 * HOUR, OFFICE))).toBe('2026-01-12T11:00:00.000+01:00');
  });

  it('created exactly at closing: closed (intervals are [start, end)), the clock waits for the next opening', () => {
    const closing = at('2026-01-12T19:00');
    expect(isOpen(closing, OFFICE)).toBe(false);
    expect(isOpen(closing - 1, OFFICE)).toBe(true);
    expect(local(addOpenTime(closing, 2 * HOUR, OFFICE))).toBe('2026-01-13T11:00:00.000+01:00');
    // seconds = 0 while closed: the next opening.
    expect(local(addOpenTime(closing, 0, OFFICE))).toBe('2026-01-13T09:00:00.000+01:00');
    expect(local(addOpenTime(at('2026-01-16T19:00'), 0, OFFICE))).toBe('2026-01-19T09:00:00.000+01:00');
  });

  it('a deadline that uses up the day exactly is the closing instant, not the next opening', () => {
    expect(local(addOpenTime(at('2026-01-12T17:00'), 2 * HOUR, OFFICE))).toBe('2026-01-12T19:00:00.000+01:00');
    expect(local(addOpenTime(at('2026-01-12T17:00'), 2 * HOUR + 1, OFFICE))).toBe('2026-01-13T09:00:01.000+01:00');
  });

  it('an SLA spanning several days', () => {
    // Wednesday 15:00: 4 h on Wednesday, 10 h on Thursday, 10 h on Friday.
    expect(local(addOpenTime(at('2026-01-14T15:00'), 24 * HOUR, OFFICE))).toBe('2026-01-16T19:00:00.000+01:00');
    expect(local(addOpenTime(at('2026-01-14T15:00'), 25 * HOUR, OFFICE))).toBe('2026-01-19T10:00:00.000+01:00');
    // Three working weeks of open time from Monday's opening.
    expect(local(addOpenTime(at('2026-01-12T09:00'), 150 * HOUR, OFFICE))).toBe('2026-01-30T19:00:00.000+01:00');
    expect(openSecondsBetween(at('2026-01-12T00:00'), at('2026-01-19T00:00'), OFFICE)).toBe(50 * HOUR);
  });

  it('a lunch break pauses the clock', () => {
    expect(local(addOpenTime(at('2026-01-12T12:30'), HOUR, LUNCH_BREAK))).toBe('2026-01-12T15:30:00.000+01:00');
    expect(local(addOpenTime(at('2026-01-12T12:00'), HOUR, LUNCH_BREAK))).toBe('2026-01-12T13:00:00.000+01:00');
    expect(local(addOpenTime(at('2026-01-12T14:00'), HOUR / 2, LUNCH_BREAK))).toBe('2026-01-12T15:30:00.000+01:00');
    expect(isOpen(at('2026-01-12T14:00'), LUNCH_BREAK)).toBe(false);
    expect(isOpen(at('2026-01-12T13:00'), LUNCH_BREAK)).toBe(false);
    expect(isOpen(at('2026-01-12T15:00'), LUNCH_BREAK)).toBe(true);
    expect(local(nextOpening(at('2026-01-12T14:00'), LUNCH_BREAK))).toBe('2026-01-12T15:00:00.000+01:00');
    expect(openSecondsBetween(at('2026-01-12T09:00'), at('2026-01-12T19:00'), LUNCH_BREAK)).toBe(8 * HOUR);
    expect(local(addOpenTime(at('2026-01-16T18:00'), 2 * HOUR, LUNCH_BREAK))).toBe('2026-01-19T10:00:00.000+01:00');
  });

  it('an interval ending 24:00 and one starting 00:00 the next day are one continuous period', () => {
    const lateShift: BusinessHours = {
      timeZone: MADRID,
      weekly: { 1: [{ start: '20:00', end: '24:00' }], 2: [{ start: '00:00', end: '02:00' }] },
    };
    expect(local(addOpenTime(at('2026-01-12T23:00'), 2 * HOUR, lateShift))).toBe('2026-01-13T01:00:00.000+01:00');
    expect(isOpen(at('2026-01-13T00:00'), lateShift)).toBe(true);
    expect(isOpen(at('2026-01-13T02:00'), lateShift)).toBe(false);
    expect(openSecondsBetween(at('2026-01-12T00:00'), at('2026-01-14T00:00'), lateShift)).toBe(6 * HOUR);
  });
});

describe('daylight saving time', () => {
  describe('Europe/Madrid spring forward, Sunday 2026-03-29 02:00 -> 03:00', () => {
    const hours = SUNDAY_NIGHT('01:00', '04:00');
    const opening = utc('2026-03-29T00:00:00Z'); // 01:00 CET

    it('an interval 01:00–04:00 holds only 2 real hours', () => {
      expect(nextOpening(utc('2026-03-28T12:00:00Z'), hours)).toBe(opening);
      expect(local(opening)).toBe('2026-03-29T01:00:00.000+01:00');
      expect(openSecondsBetween(utc('2026-03-28T12:00:00Z'), utc('2026-03-29T12:00:00Z'), hours)).toBe(2 * HOUR);
      // The Sunday before holds 3.
      expect(openSecondsBetween(utc('2026-03-21T12:00:00Z'), utc('2026-03-22T12:00:00Z'), hours)).toBe(3 * HOUR);
    });

    it('deadlines are exact instants', () => {
      expect(addOpenTime(opening, HOUR, hours)).toBe(utc('2026-03-29T01:00:00Z'));
      expect(local(addOpenTime(opening, HOUR, hours))).toBe('2026-03-29T03:00:00.000+02:00');
      expect(addOpenTime(opening, 2 * HOUR, hours)).toBe(utc('2026-03-29T02:00:00Z')); // 04:00 CEST, closing
      expect(isOpen(utc('2026-03-29T02:00:00Z'), hours)).toBe(false);
      expect(isOpen(utc('2026-03-29T01:59:59.999Z'), hours)).toBe(true);
      // One second more: the next Sunday, 01:00 CEST.
      expect(addOpenTime(opening, 2 * HOUR + 1, hours)).toBe(utc('2026-04-04T23:00:01Z'));
    });

    it('an opening time inside the gap moves forward by the gap (02:30 -> 03:30 CEST)', () => {
      const gap = SUNDAY_NIGHT('02:30', '05:00');
      expect(nextOpening(utc('2026-03-28T12:00:00Z'), gap)).toBe(utc('2026-03-29T01:30:00Z'));
      expect(local(nextOpening(utc('2026-03-28T12:00:00Z'), gap))).toBe('2026-03-29T03:30:00.000+02:00');
      expect(isOpen(utc('2026-03-29T01:15:00Z'), gap)).toBe(false); // 03:15 CEST
      expect(openSecondsBetween(utc('2026-03-28T12:00:00Z'), utc('2026-03-29T12:00:00Z'), gap)).toBe(1.5 * HOUR);
    });

    it('intervals the gap shift makes overlap are merged, never counted twice', () => {
      // 02:40 -> 03:40 CEST, so 01:00–02:40 becomes 01:00 CET–03:40 CEST and overlaps 03:00–04:00.
      const shifted: BusinessHours = {
        timeZone: MADRID,
        weekly: {
          7: [
            { start: '01:00', end: '02:40' },
            { start: '03:00', end: '04:00' },
          ],
        },
      };
      expect(openSecondsBetween(utc('2026-03-28T12:00:00Z'), utc('2026-03-29T12:00:00Z'), shifted)).toBe(2 * HOUR);
      expect(addOpenTime(utc('2026-03-29T00:00:00Z'), 2 * HOUR, shifted)).toBe(utc('2026-03-29T02:00:00Z'));
      // The shift can also reorder a day: 02:30–02:45 -> 03:30–03:45 CEST comes after 03:00–03:10.
      const reordered: BusinessHours = {
        timeZone: MADRID,
        weekly: {
          7: [
            { start: '02:30', end: '02:45' },
            { start: '03:00', end: '03:10' },
          ],
        },
      };
      expect(nextOpening(utc('2026-03-28T12:00:00Z'), reordered)).toBe(utc('2026-03-29T01:00:00Z'));
      expect(addOpenTime(utc('2026-03-28T12:00:00Z'), 15 * 60, reordered)).toBe(utc('2026-03-29T01:35:00Z'));
      expect(openSecondsBetween(utc('2026-03-28T12:00:00Z'), utc('2026-03-29T12:00:00Z'), reordered)).toBe(25 * 60);
      // An interval whose shifted start passes its end is empty that day: 02:30–03:15 -> 03:30–03:15.
      const empty = SUNDAY_NIGHT('02:30', '03:15');
      expect(openSecondsBetween(utc('2026-03-28T12:00:00Z'), utc('2026-03-29T12:00:00Z'), empty)).toBe(0);
      expect(nextOpening(utc('2026-03-28T12:00:00Z'), empty)).toBe(utc('2026-04-05T00:30:00Z'));
    });

    it('a business week across the change holds the same open time', () => {
      expect(openSecondsBetween(at('2026-03-27T00:00'), at('2026-03-31T00:00'), OFFICE)).toBe(20 * HOUR);
    });
  });

  describe('Europe/Madrid fall back, Sunday 2026-10-25 03:00 -> 02:00', () => {
    const hours = SUNDAY_NIGHT('01:00', '04:00');
    const opening = utc('2026-10-24T23:00:00Z'); // 01:00 CEST

    it('an interval 01:00–04:00 holds 4 real hours', () => {
      expect(nextOpening(utc('2026-10-24T12:00:00Z'), hours)).toBe(opening);
      expect(local(opening)).toBe('2026-10-25T01:00:00.000+02:00');
      expect(openSecondsBetween(utc('2026-10-24T12:00:00Z'), utc('2026-10-25T12:00:00Z'), hours)).toBe(4 * HOUR);
    });

    it('deadlines are exact instants', () => {
      expect(addOpenTime(opening, HOUR, hours)).toBe(utc('2026-10-25T00:00:00Z')); // 02:00 CEST
      expect(addOpenTime(opening, 2 * HOUR, hours)).toBe(utc('2026-10-25T01:00:00Z')); // 02:00 CET, the second time
      expect(local(addOpenTime(opening, 2 * HOUR, hours))).toBe('2026-10-25T02:00:00.000+01:00');
      expect(local(addOpenTime(opening, 3 * HOUR, hours))).toBe('2026-10-25T03:00:00.000+01:00');
      expect(addOpenTime(opening, 4 * HOUR, hours)).toBe(utc('2026-10-25T03:00:00Z')); // 04:00 CET, closing
      expect(addOpenTime(opening, 4 * HOUR + 1, hours)).toBe(utc('2026-11-01T00:00:01Z')); // next Sunday 01:00 CET
    });

    it('an ambiguous wall-clock time is its earlier occurrence (the summer-time offset)', () => {
      const opensAmbiguous = SUNDAY_NIGHT('02:30', '05:00');
      expect(local(nextOpening(utc('2026-10-24T12:00:00Z'), opensAmbiguous))).toBe('2026-10-25T02:30:00.000+02:00');
      expect(openSecondsBetween(utc('2026-10-24T12:00:00Z'), utc('2026-10-25T12:00:00Z'), opensAmbiguous)).toBe(3.5 * HOUR);
      const closesAmbiguous = SUNDAY_NIGHT('01:00', '02:30');
      expect(addOpenTime(utc('2026-10-24T23:00:00Z'), 1.5 * HOUR, closesAmbiguous)).toBe(utc('2026-10-25T00:30:00Z'));
      expect(isOpen(utc('2026-10-25T01:15:00Z'), closesAmbiguous)).toBe(false); // 02:15 CET, the second 02:15
    });

    it('does not depend on the current clock (luxon fromObject would resolve the ambiguity with Date.now())', () => {
      const opensAmbiguous = SUNDAY_NIGHT('02:30', '05:00');
      const results = [utc('2026-01-15T12:00:00Z'), utc('2026-07-15T12:00:00Z')].map((now) => {
        const spy = jest.spyOn(Date, 'now').mockReturnValue(now);
        try {
          return nextOpening(utc('2026-10-24T12:00:00Z'), opensAmbiguous);
        } finally {
          spy.mockRestore();
        }
      });
      expect(results).toEqual([utc('2026-10-25T00:30:00Z'), utc('2026-10-25T00:30:00Z')]);
    });
  });

  describe('Australia/Lord_Howe: a 30-minute shift', () => {
    const LORD_HOWE = 'Australia/Lord_Howe';
    const hours = SUNDAY_NIGHT('01:00', '04:00', LORD_HOWE);

    it('on 2026-04-05 (02:00 -> 01:30) 01:00–04:00 holds 3.5 hours', () => {
      expect(nextOpening(utc('2026-04-04T00:00:00Z'), hours)).toBe(utc('2026-04-04T14:00:00Z')); // 01:00 +11:00
      expect(openSecondsBetween(utc('2026-04-04T00:00:00Z'), utc('2026-04-05T00:00:00Z'), hours)).toBe(3.5 * HOUR);
      expect(local(addOpenTime(utc('2026-04-04T14:00:00Z'), 3.5 * HOUR, hours), LORD_HOWE)).toBe('2026-04-05T04:00:00.000+10:30');
    });

    it('on 2026-10-04 (02:00 -> 02:30) 01:00–04:00 holds 2.5 hours', () => {
      expect(nextOpening(utc('2026-10-03T00:00:00Z'), hours)).toBe(utc('2026-10-03T14:30:00Z')); // 01:00 +10:30
      expect(openSecondsBetween(utc('2026-10-03T00:00:00Z'), utc('2026-10-04T00:00:00Z'), hours)).toBe(2.5 * HOUR);
      const due = addOpenTime(utc('2026-10-03T14:30:00Z'), HOUR, hours);
      expect(due).toBe(utc('2026-10-03T15:30:00Z'));
      expect(local(due, LORD_HOWE)).toBe('2026-10-04T02:30:00.000+11:00');
      // A normal Sunday holds 3.
      expect(openSecondsBetween(utc('2026-09-26T00:00:00Z'), utc('2026-09-27T00:00:00Z'), hours)).toBe(3 * HOUR);
    });
  });

  describe('America/New_York', () => {
    const NEW_YORK = 'America/New_York';
    const daily: BusinessHours = { timeZone: NEW_YORK, weekly: days(ALL_WEEK, [{ start: '09:00', end: '17:00' }]) };

    it('spring forward (2026-03-08): Saturday 16:00 + 2 h is Sunday 10:00 EDT, 17 real hours later', () => {
      const created = at('2026-03-07T16:00', NEW_YORK);
      const due = addOpenTime(created, 2 * HOUR, daily);
      expect(local(due, NEW_YORK)).toBe('2026-03-08T10:00:00.000-04:00');
      expect(due - created).toBe(17 * HOUR * 1000);
    });

    it('fall back (2026-11-01): Saturday 16:00 + 2 h is Sunday 10:00 EST, 19 real hours later', () => {
      const created = at('2026-10-31T16:00', NEW_YORK);
      const due = addOpenTime(created, 2 * HOUR, daily);
      expect(local(due, NEW_YORK)).toBe('2026-11-01T10:00:00.000-05:00');
      expect(due - created).toBe(19 * HOUR * 1000);
    });
  });

  it('a branch open around the clock counts real time across both changes', () => {
    const always: BusinessHours = { timeZone: MADRID, weekly: days(ALL_WEEK, [{ start: '00:00', end: '24:00' }]) };
    const start = utc('2026-03-28T10:00:00Z');
    expect(addOpenTime(start, 2 * 24 * HOUR, always)).toBe(start + 2 * 24 * HOUR * 1000);
    expect(openSecondsBetween(utc('2026-10-24T00:00:00Z'), utc('2026-10-26T00:00:00Z'), always)).toBe(48 * HOUR);
    expect(isOpen(utc('2026-03-29T01:00:00Z'), always)).toBe(true);
  });
});

describe('without business hours (null): wall-clock time', () => {
  const t = at('2026-01-17T03:00'); // a Saturday night

  it('adds plain seconds', () => {
    expect(addOpenTime(t, 2 * HOUR, null)).toBe(t + 2 * HOUR * 1000);
    expect(addOpenTime(t, 0, null)).toBe(t);
  });

  it('counts plain seconds and is always open', () => {
    expect(openSecondsBetween(t, t + 5_000, null)).toBe(5);
    expect(openSecondsBetween(t, t, null)).toBe(0);
    expect(openSecondsBetween(t + 5_000, t, null)).toBe(0);
    expect(isOpen(t, null)).toBe(true);
  });
});

describe('openSecondsBetween consistency (seeded pseudo-random inputs)', () => {
  /** mulberry32: a tiny deterministic PRNG, so failures reproduce. */
  function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  const configs: Record<string, BusinessHours> = {
    office: OFFICE,
    lunchBreak: LUNCH_BREAK,
    aroundTheClock: { timeZone: MADRID, weekly: days(ALL_WEEK, [{ start: '00:00', end: '24:00' }]) },
    oneHourAWeek: { timeZone: MADRID, weekly: { 3: [{ start: '10:00', end: '11:00' }] } },
    dstNights: {
      timeZone: MADRID,
      weekly: {
        6: [{ start: '22:00', end: '24:00' }],
        7: [
          { start: '00:00', end: '02:40' },
          { start: '03:00', end: '04:00' },
        ],
      },
    },
    lordHowe: {
      timeZone: 'Australia/Lord_Howe',
      weekly: { ...days(MON_FRI, [{ start: '08:30', end: '17:30' }]), 7: [{ start: '01:00', end: '04:00' }] },
    },
    newYork: {
      timeZone: 'America/New_York',
      weekly: days(
        [1, 3, 5, 6],
        [
          { start: '07:15', end: '12:45' },
          { start: '13:30', end: '20:00' },
        ],
      ),
    },
  };
  // Starts spread over 2026, half of them within three days of a DST change somewhere.
  const transitions = ['2026-03-08', '2026-03-29', '2026-04-05', '2026-10-04', '2026-10-25', '2026-11-01'].map((d) =>
    utc(`${d}T00:00:00Z`),
  );

  it.each(Object.entries(configs))('%s', (_name, hours) => {
    const random = prng(0xb5e55);
    const pick = (n: number) => Math.floor(random() * n);
    let openStarts = 0;
    for (let i = 0; i < 150; i++) {
      const start =
        i % 2 === 0
          ? utc('2026-01-01T00:00:00Z') + pick(365 * 24 * 60) * 60_000 + pick(60) * 1000
          : transitions[pick(transitions.length)] + (pick(6 * 24 * 60) - 3 * 24 * 60) * 60_000;
      const seconds = [pick(60), pick(4 * HOUR), pick(3 * 24 * HOUR), pick(100 * HOUR)][i % 4];
      const due = addOpenTime(start, seconds, hours);
      const open = isOpen(start, hours);
      if (open) openStarts++;

      expect(due).toBeGreaterThanOrEqual(start);
      expect(openSecondsBetween(start, due, hours)).toBe(seconds);
      expect(addOpenTime(start, 0, hours)).toBe(open ? start : nextOpening(start, hours));
      if (seconds > 0) {
        expect(isOpen(due - 1, hours)).toBe(true); // the last millisecond counted was open
        const split = 1 + pick(seconds);
        expect(addOpenTime(addOpenTime(start, seconds - split, hours), split, hours)).toBe(due);
      }
    }
    expect(openStarts).toBeGreaterThan(0);
  });
});

describe('far future and termination', () => {
  const weekly1h: BusinessHours = { timeZone: MADRID, weekly: { 3: [{ start: '10:00', end: '11:00' }] } };

  it('a branch open one hour a week with a 10-hour SLA is due ten Wednesdays later', () => {
    expect(local(addOpenTime(at('2026-01-05T00:00'), 10 * HOUR, weekly1h))).toBe('2026-03-11T11:00:00.000+01:00');
    expect(local(addOpenTime(at('2026-03-01T00:00'), 10 * HOUR, weekly1h))).toBe('2026-05-06T11:00:00.000+02:00');
  });

  it('a deadline beyond the scan horizon throws a RangeError, quickly', () => {
    const started = performance.now();
    expect(() => addOpenTime(at('2026-01-05T00:00'), 600 * HOUR, weekly1h)).toThrow(RangeError);
    expect(() => addOpenTime(at('2026-01-05T00:00'), 600 * HOUR, weekly1h)).toThrow(`more than ${MAX_SCAN_DAYS} days ahead`);
    expect(() => openSecondsBetween(0, 20 * 365 * 86_400_000, weekly1h)).toThrow(RangeError);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('the worst case (every weekday full of intervals, ten years) stays fast', () => {
    const pad = (n: number) => String(n).padStart(2, '0');
    const busy = Array.from({ length: MAX_INTERVALS_PER_DAY }, (_, i) => ({
      start: `${pad(Math.floor(i / 2))}:${pad((i % 2) * 30)}`,
      end: `${pad(Math.floor(i / 2))}:${pad((i % 2) * 30 + 15)}`,
    }));
    const hours: BusinessHours = { timeZone: MADRID, weekly: days(ALL_WEEK, busy) };
    const started = performance.now();
    expect(() => addOpenTime(0, 1e12, hours)).toThrow(RangeError);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it.each<[string, BusinessHours]>([
    ['no weekday at all', { timeZone: MADRID, weekly: {} }],
    ['only empty days', { timeZone: MADRID, weekly: { 1: [], 6: [] } }],
  ])('hours with no opening (%s): never open, nextOpening null, addOpenTime throws', (_name, closed) => {
    const t = at('2026-01-12T10:00');
    expect(isOpen(t, closed)).toBe(false);
    expect(nextOpening(t, closed)).toBeNull();
    expect(openSecondsBetween(t, t + 100 * 366 * 86_400_000, closed)).toBe(0);
    expect(() => addOpenTime(t, HOUR, closed)).toThrow(/no opening interval on any weekday/);
    expect(() => addOpenTime(t, 0, closed)).toThrow(/no opening interval on any weekday/);
  });

  it('rejects nonsensical arguments', () => {
    const t = at('2026-01-12T10:00');
    expect(() => addOpenTime(t, -1, OFFICE)).toThrow(RangeError);
    expect(() => addOpenTime(t, Number.NaN, null)).toThrow(RangeError);
    expect(() => addOpenTime(Number.POSITIVE_INFINITY, 1, OFFICE)).toThrow(RangeError);
    expect(() => isOpen(Number.NaN, OFFICE)).toThrow(RangeError);
    expect(() => addOpenTime(t, 1, { timeZone: 'Nowhere/Land', weekly: {} })).toThrow(/invalid business hours: timeZone/);
  });
});

describe('validateBusinessHours', () => {
  const issuesOf = (input: unknown) => {
    const result = validateBusinessHours(input);
    return result.ok ? [] : result.issues;
  };
  const pathsOf = (input: unknown) => issuesOf(input).map((i) => i.path);
  const withDay = (day: string, intervals: unknown) => ({ timeZone: MADRID, weekly: { [day]: intervals } });

  it('accepts valid hours and returns a clean copy', () => {
    const result = validateBusinessHours({
      timeZone: 'Europe/Madrid',
      extra: true,
      weekly: {
        '1': [
          { start: '09:00', end: '13:00', note: 'morning' },
          { start: '13:00', end: '14:00' }, // touching is not overlapping
        ],
        7: [{ start: '20:00', end: '24:00' }],
        3: [],
      },
    });
    expect(result).toEqual({
      ok: true,
      value: {
        timeZone: 'Europe/Madrid',
        weekly: {
          1: [
            { start: '09:00', end: '13:00' },
            { start: '13:00', end: '14:00' },
          ],
          3: [],
          7: [{ start: '20:00', end: '24:00' }],
        },
      },
    });
    expect(validateBusinessHours(OFFICE).ok).toBe(true);
    expect(validateBusinessHours({ timeZone: MADRID, weekly: {} }).ok).toBe(true);
  });

  it('names an end before its start by path', () => {
    const issues = issuesOf(
      withDay('3', [
        { start: '09:00', end: '13:00' },
        { start: '15:00', end: '14:00' },
      ]),
    );
    expect(issues).toEqual([{ path: 'weekly.3.1.end', message: 'must be after start (15:00)' }]);
    expect(pathsOf(withDay('3', [{ start: '09:00', end: '09:00' }]))).toEqual(['weekly.3.0.end']);
  });

  it('names overlapping intervals of a day', () => {
    const issues = issuesOf(
      withDay('2', [
        { start: '09:00', end: '13:00' },
        { start: '12:00', end: '14:00' },
      ]),
    );
    expect(issues).toEqual([{ path: 'weekly.2.1', message: 'overlaps weekly.2.0 (09:00–13:00) on the same day' }]);
    // Nested in an earlier wide interval, listed in any order.
    expect(
      pathsOf(
        withDay('5', [
          { start: '12:00', end: '13:00' },
          { start: '09:00', end: '18:00' },
          { start: '10:00', end: '11:00' },
        ]),
      ).sort(),
    ).toEqual(['weekly.5.1', 'weekly.5.2']);
  });

  it('checks the time format', () => {
    expect(pathsOf(withDay('1', [{ start: '9:00', end: '12:00' }]))).toEqual(['weekly.1.0.start']);
    expect(pathsOf(withDay('1', [{ start: '24:00', end: '24:00' }]))).toEqual(['weekly.1.0.start']);
    expect(pathsOf(withDay('1', [{ start: '10:00', end: '23:60' }]))).toEqual(['weekly.1.0.end']);
    expect(pathsOf(withDay('1', [{ start: '10:00:00', end: '24:01' }]))).toEqual(['weekly.1.0.start', 'weekly.1.0.end']);
    expect(pathsOf(withDay('1', [{ start: 900, end: null }]))).toEqual(['weekly.1.0.start', 'weekly.1.0.end']);
    expect(issuesOf(withDay('1', [{ end: '10:00' }]))).toEqual([{ path: 'weekly.1.0.start', message: 'required: a time "HH:MM"' }]);
  });

  it('checks the time zone', () => {
    expect(issuesOf({ timeZone: 'Mars/Olympus_Mons', weekly: {} })).toEqual([
      { path: 'timeZone', message: 'unknown IANA time zone "Mars/Olympus_Mons"' },
    ]);
    expect(pathsOf({ weekly: {} })).toEqual(['timeZone']);
    expect(pathsOf({ timeZone: '', weekly: {} })).toEqual(['timeZone']);
    expect(isValidTimeZone('America/New_York')).toBe(true);
    expect(isValidTimeZone('Nowhere/Land')).toBe(false);
  });

  it('accepts ISO weekday keys 1–7 only', () => {
    expect(pathsOf({ timeZone: MADRID, weekly: { 0: [], 8: [], mon: [], '01': [], 7: [] } })).toEqual([
      'weekly.0',
      'weekly.8',
      'weekly.mon',
      'weekly.01',
    ]);
  });

  it('checks the shape', () => {
    expect(pathsOf(null)).toEqual(['']);
    expect(pathsOf('Mon–Fri 9–19')).toEqual(['']);
    expect(pathsOf([])).toEqual(['']);
    expect(pathsOf({ timeZone: MADRID })).toEqual(['weekly']);
    expect(pathsOf({ timeZone: MADRID, weekly: [] })).toEqual(['weekly']);
    expect(pathsOf(withDay('2', { start: '09:00', end: '10:00' }))).toEqual(['weekly.2']);
    expect(pathsOf(withDay('2', ['09:00-10:00']))).toEqual(['weekly.2.0']);
    const tooMany = Array.from({ length: MAX_INTERVALS_PER_DAY + 1 }, (_, i) => ({
      start: `00:${String(i).padStart(2, '0')}`,
      end: '00:59',
    }));
    expect(pathsOf(withDay('4', tooMany))).toEqual(['weekly.4']);
    // Several problems at once, all reported.
    expect(pathsOf({ timeZone: 'Nowhere/Land', weekly: { 9: [], 1: [{ start: 'x', end: '10:00' }] } })).toEqual([
      'timeZone',
      'weekly.1.0.start',
      'weekly.9',
    ]);
  });

  it('parseTimeOfDay', () => {
    expect(parseTimeOfDay('00:00')).toBe(0);
    expect(parseTimeOfDay('23:59')).toBe(23 * 60 + 59);
    expect(parseTimeOfDay('24:00')).toBeNull();
    expect(parseTimeOfDay('24:00', true)).toBe(24 * 60);
    expect(parseTimeOfDay('7:30')).toBeNull();
  });
});
