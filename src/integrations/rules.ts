/**
 * Pure rules of the Cal.com webhook: what each trigger Cal.com can send means here, which attendee
 * a booking is for, how free texts are bounded (truncated, never refused), and the key a delivery
 * is recorded under. Shapes as Cal.com builds them (packages/features/webhooks in calcom/cal.com):
 * `{triggerEvent, createdAt, payload}`, the booking payload being the CalendarEvent spread
 * (attendees first the booker, then the guests as `{email, name: "", firstName: "", lastName: ""}`;
 * a seat of a seated event: the booking's uid, `attendeeSeatId`, the new seat's attendee last).
 */

/** What the service does with a trigger. */
export type TriggerHandling =
  { kind: 'book' } | { kind: 'reschedule' } | { kind: 'cancel' } | { kind: 'no_show' } | { kind: 'ignore'; why: string };

const ignore = (why: string): TriggerHandling => ({ kind: 'ignore', why });

/**
 * Every value of Cal.com's `WebhookTriggerEvents` (and the test delivery `PING`), with what it does
 * here. A trigger not in this list (a newer Cal.com) is recorded as ignored, never refused.
 */
export const CALCOM_TRIGGERS: Record<string, TriggerHandling> = {
  BOOKING_CREATED: { kind: 'book' },
  // A paid booking: Cal.com sends BOOKING_PAID (and BOOKING_CREATED) once paid; whichever comes first books it.
  BOOKING_PAID: { kind: 'book' },
  BOOKING_RESCHEDULED: { kind: 'reschedule' },
  BOOKING_CANCELLED: { kind: 'cancel' },
  // The organiser rejected a request: nothing was booked here (a request books nothing), unless an appointment has this uid.
  BOOKING_REJECTED: { kind: 'cancel' },
  BOOKING_NO_SHOW_UPDATED: { kind: 'no_show' },
  BOOKING_REQUESTED: ignore(
    'a booking request waiting for the organiser’s confirmation in Cal.com: it is booked when Cal.com sends BOOKING_CREATED',
  ),
  BOOKING_PAYMENT_INITIATED: ignore('waiting for the payment in Cal.com: it is booked when Cal.com sends BOOKING_PAID or BOOKING_CREATED'),
  MEETING_STARTED: ignore('a Cal Video meeting started: appointments keep their own status'),
  MEETING_ENDED: ignore('a Cal Video meeting ended: appointments keep their own status'),
  AFTER_HOSTS_CAL_VIDEO_NO_SHOW: ignore('Cal Video’s own no-show detection: no-shows are taken from BOOKING_NO_SHOW_UPDATED'),
  AFTER_GUESTS_CAL_VIDEO_NO_SHOW: ignore('Cal Video’s own no-show detection: no-shows are taken from BOOKING_NO_SHOW_UPDATED'),
  RECORDING_READY: ignore('a Cal Video recording: not used'),
  RECORDING_TRANSCRIPTION_GENERATED: ignore('a Cal Video transcript: not used'),
  INSTANT_MEETING: ignore('an instant meeting (a notification to team members): not an appointment'),
  FORM_SUBMITTED: ignore('a routing form response: not a booking'),
  FORM_SUBMITTED_NO_EVENT: ignore('a routing form response without a booking'),
  ROUTING_FORM_FALLBACK_HIT: ignore('a routing form fell back: not a booking'),
  OOO_CREATED: ignore('an organiser’s out-of-office entry: not a booking'),
  DELEGATION_CREDENTIAL_ERROR: ignore('a Cal.com credential problem: for the Cal.com administrator'),
  WRONG_ASSIGNMENT_REPORT: ignore('a report about a round-robin assignment: not a booking'),
  PING: ignore('Cal.com’s test delivery (Ping test): the webhook works'),
};

export const handlingOf = (trigger: string): TriggerHandling =>
  CALCOM_TRIGGERS[trigger] ?? ignore(`trigger ${trigger} is not one this service acts on`);

/** How long the texts the service keeps may be (the API's own limits); longer ones are cut, not refused. */
export const TEXT_LIMITS = { name: 200, reason: 500, trigger: 64, key: 300 } as const;

/** `text` cut to at most `max` characters (whole code points), with an ellipsis when it was cut. */
export function truncate(text: string, max: number): string {
  const points = Array.from(text);
  return points.length <= max ? text : `${points.slice(0, max - 1).join('')}…`;
}

/** Deeper than this, a body is refused as rejected (Cal.com's bodies are a few levels deep). */
export const MAX_JSON_DEPTH = 64;

/**
 * The parsed body with every string (and key) made storable: PostgreSQL's text and jsonb cannot
 * hold U+0000 or a lone surrogate, so they become U+FFFD. Throws TooDeep when nested deeper than
 * MAX_JSON_DEPTH (checked before going one level further).
 */
export function storable(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return cleanText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_JSON_DEPTH) throw new TooDeep();
  if (Array.isArray(value)) return value.map((v) => storable(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[cleanText(k)] = storable(v, depth + 1);
  return out;
}
export class TooDeep extends Error {}
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
export const cleanText = (s: string) => s.replace(UNSTORABLE, '\uFFFD');

export interface CalcomAttendee {
  email?: unknown;
  name?: unknown;
  timeZone?: unknown;
  phoneNumber?: unknown;
  bookingSeat?: { referenceUid?: unknown } | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const attendeesOf = (payload: Record<string, unknown>): CalcomAttendee[] =>
  Array.isArray(payload.attendees) ? (payload.attendees.filter(isObject) as CalcomAttendee[]) : [];

/** A seated event's delivery: a seat of its own, or Cal.com says the event has seats. */
export function isSeated(payload: Record<string, unknown>): boolean {
  return (
    typeof payload.attendeeSeatId === 'string' ||
    (typeof payload.seatsPerTimeSlot === 'number' && payload.seatsPerTimeSlot > 0) ||
    attendeesOf(payload).some((a) => isObject(a.bookingSeat))
  );
}

/**
 * The attendee the booking is for: the booker (the first attendee; guests follow), or for a seat
 * of a seated event the attendee holding `attendeeSeatId` (Cal.com appends the new seat's attendee
 * last). Undefined when the payload has none.
 */
export function bookerOf(payload: Record<string, unknown>): CalcomAttendee | undefined {
  const attendees = attendeesOf(payload);
  const seat = payload.attendeeSeatId;
  if (typeof seat === 'string')
    return attendees.find((a) => isObject(a.bookingSeat) && a.bookingSeat.referenceUid === seat) ?? attendees.at(-1);
  return attendees[0];
}

const lower = (v: unknown) => (typeof v === 'string' ? v.trim().toLowerCase() : '');

/** The lower-cased e-mail addresses of a payload's attendees (a seat's cancellation lists the seat's attendee only). */
export const attendeeEmails = (payload: Record<string, unknown>): Set<string> =>
  new Set(
    attendeesOf(payload)
      .map((a) => lower(a.email))
      .filter(Boolean),
  );

/**
 * What a delivery is recorded under, unique per company and trigger: Cal.com's retries and two
 * copies at once find the same key. A booking trigger: its uid, and for a seat its seat reference
 * (or, for a seat's cancellation, which names none, its attendees); a no-show update: the booking
 * and the exact body (a booking may be marked, unmarked and marked again); anything else, or a
 * booking trigger without a uid: the exact body. `bodyDigest` is the raw body's SHA-256 (hex);
 * `digest` hashes a text the same way (attendees' addresses never appear in a key).
 */
export function deliveryKey(
  trigger: string,
  payload: Record<string, unknown> | undefined,
  bodyDigest: string,
  digest: (text: string) => string,
): string {
  const body = `body:${bodyDigest.slice(0, 40)}`;
  if (!payload) return body;
  const handling = handlingOf(trigger);
  if (handling.kind === 'no_show') {
    const uid = typeof payload.bookingUid === 'string' ? payload.bookingUid : '-';
    return truncate(`${uid}/no-show/${bodyDigest.slice(0, 40)}`, TEXT_LIMITS.key);
  }
  const uid = typeof payload.uid === 'string' && payload.uid.trim() ? payload.uid : undefined;
  if (!uid || (handling.kind === 'ignore' && !trigger.startsWith('BOOKING_') && !trigger.startsWith('MEETING_'))) return body;
  let key = uid;
  if (typeof payload.attendeeSeatId === 'string') key += `/seat:${payload.attendeeSeatId}`;
  else if (handling.kind === 'cancel' && isSeated(payload))
    key += `/attendees:${digest([...attendeeEmails(payload)].sort().join('\n')).slice(0, 24)}`;
  return truncate(key, TEXT_LIMITS.key);
}

/** The booking uid a recorded key is about (null for a key made of the body). */
export const bookingUidOfKey = (key: string): string | null => (key.startsWith('body:') ? null : key.split('/')[0]);
