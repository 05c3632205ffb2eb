import { createHmac, randomUUID } from 'node:crypto';

/**
 * Cal.com deliveries in the shape Cal.com's own code gives them (calcom/cal.com, read for these
 * fixtures; none of its code is copied):
 * - packages/features/webhooks/lib/sendPayload.ts: the body is `JSON.stringify({triggerEvent,
 *   createdAt, payload})`, `Content-Type: application/json`, `X-Cal-Signature-256` the hex
 *   HMAC-SHA256 of that exact string with the webhook's secret (`no-secret-provided` without one);
 *   `payload.description` falls back to `additionalNotes`; organizer and attendees carry `utcOffset`.
 * - packages/features/webhooks/lib/factory/versioned/v2021-10-20/BookingPayloadBuilder.ts: the
 *   booking payload is the CalendarEvent spread plus bookingId, status (ACCEPTED, PENDING,
 *   CANCELLED, REJECTED), eventTitle, eventDescription, price, currency, length, metadata and the
 *   trigger's extras (cancelledBy, cancellationReason, requestReschedule; rescheduleId,
 *   rescheduleUid, rescheduleStartTime, rescheduleEndTime, rescheduledBy; paymentId, paymentData);
 *   attendees get firstName/lastName; BOOKING_NO_SHOW_UPDATED is `{bookingUid, bookingId, attendees:
 *   [{email, noShow}], message}`; MeetingPayloadBuilder, RecordingPayloadBuilder,
 *   OOOPayloadBuilder, InstantMeetingBuilder, FormPayloadBuilder for the other triggers.
 * - handleNewBooking: the booker is the first attendee, each guest follows as `{email, name: "",
 *   firstName: "", lastName: "", timeZone, language: {locale: "en"}}`; `language.translate` is a
 *   function and vanishes from the JSON.
 * - handleSeats/create/createNewSeat.ts: a new seat's delivery has the seated booking's uid,
 *   `attendeeSeatId` (the seat's reference uid) and the booking's attendees with the new one last;
 *   handleSeats/cancel/cancelAttendeeSeat.ts: a seat's BOOKING_CANCELLED lists that seat's attendee only.
 * - packages/trpc/server/routers/viewer/webhook/testTrigger.handler.ts: the Ping test (`PING`).
 * - The trigger list: WebhookTriggerEvents (packages/prisma) as offered by the webhook form
 *   (packages/features/webhooks/components/WebhookForm.tsx).
 */

export const H = 3_600_000;

/** How Cal.com signs: hex HMAC-SHA256 of the exact body string. */
export const sign = (raw: string, secret: string) => createHmac('sha256', secret).update(raw).digest('hex');

/** How Cal.com sends: the envelope, stringified once (those bytes are signed and posted). */
export const envelope = (triggerEvent: string, payload: unknown, createdAt = new Date().toISOString()) =>
  JSON.stringify({ triggerEvent, createdAt, payload });

export interface Person {
  name: string;
  email: string;
  timeZone?: string;
  phoneNumber?: string;
  locale?: string;
}

/** An attendee as BookingPayloadBuilder writes it (the booker's first and last name split at the first space). */
export function attendee(p: Person) {
  const [firstName, ...rest] = p.name.trim().split(' ');
  return {
    email: p.email,
    name: p.name,
    firstName: firstName ?? '',
    lastName: rest.join(' '),
    timeZone: p.timeZone ?? 'Europe/Lisbon',
    ...(p.phoneNumber ? { phoneNumber: p.phoneNumber } : {}),
    language: { locale: p.locale ?? 'en' },
    utcOffset: 60,
  };
}

/** A guest the booker added: handleNewBooking's shape (no name at all). */
export const guest = (email: string, timeZone = 'Europe/Lisbon') => ({
  email,
  name: '',
  firstName: '',
  lastName: '',
  timeZone,
  language: { locale: 'en' },
  utcOffset: 60,
});

export interface BookingOptions {
  uid?: string;
  eventTypeId: number | string;
  startsAt: number;
  minutes?: number;
  status?: 'ACCEPTED' | 'PENDING' | 'CANCELLED' | 'REJECTED';
  booker?: Person;
  guests?: string[];
  attendees?: unknown[];
  extra?: Record<string, unknown>;
}

/** A booking trigger's payload as BookingPayloadBuilder (v2021-10-20) and sendPayload make it. */
export function bookingPayload(o: BookingOptions): Record<string, unknown> {
  const uid = o.uid ?? randomUUID().replace(/-/g, '').slice(0, 22);
  const booker = o.booker ?? { name: 'Dora Marques', email: `dora.${uid}@example.test` };
  const start = new Date(o.startsAt).toISOString();
  const end = new Date(o.startsAt + (o.minutes ?? 45) * 60_000).toISOString();
  const attendees = o.attendees ?? [attendee(booker), ...(o.guests ?? []).map((g) => guest(g, booker.timeZone))];
  return {
    type: 'haircut',
    title: `Haircut between Salon Lumen and ${booker.name}`,
    description: '',
    additionalNotes: '',
    customInputs: {},
    startTime: start,
    endTime: end,
    organizer: {
      id: 7,
      name: 'Salon Lumen',
      email: 'bookings@salon-lumen.example',
      username: 'salon-lumen',
      usernameInOrg: null,
      timeZone: 'Europe/Madrid',
      language: { locale: 'es' },
      timeFormat: 'h:mma',
      utcOffset: 60,
    },
    responses: {
      name: { label: 'your_name', value: booker.name },
      email: { label: 'email_address', value: booker.email },
      location: { label: 'location', value: { optionValue: '', value: 'inPerson' } },
      ...(o.guests?.length ? { guests: { label: 'additional_guests', value: o.guests } } : {}),
    },
    userFieldsResponses: {},
    attendees,
    location: 'Rua Augusta 10, Lisboa',
    destinationCalendar: null,
    hideCalendarNotes: false,
    requiresConfirmation: false,
    eventTypeId: o.eventTypeId,
    seatsShowAttendees: true,
    seatsPerTimeSlot: null,
    seatsShowAvailabilityCount: true,
    schedulingType: null,
    iCalUID: `${uid}@Cal.com`,
    iCalSequence: 0,
    uid,
    bookingId: Math.floor(Math.random() * 1e6),
    hashedLink: null,
    conferenceData: undefined,
    eventTitle: 'Haircut',
    eventDescription: null,
    price: 0,
    currency: 'usd',
    length: o.minutes ?? 45,
    smsReminderNumber: undefined,
    assignmentReason: null,
    metadata: {},
    status: o.status ?? 'ACCEPTED',
    ...(o.extra ?? {}),
  };
}

/** The payload of every trigger that is not about a booking's life, as Cal.com's builders make them. */
export function otherTriggerPayloads(bookingUid: string): Record<string, unknown> {
  return {
    MEETING_STARTED: {
      id: 901,
      uid: bookingUid,
      title: 'Haircut between Salon Lumen and Dora Marques',
      startTime: new Date().toISOString(),
      endTime: new Date(Date.now() + 45 * 60_000).toISOString(),
      user: { email: 'bookings@salon-lumen.example', name: 'Salon Lumen', timeZone: 'Europe/Madrid', locale: 'es' },
      attendees: [{ email: 'dora@example.test', name: 'Dora Marques', timeZone: 'Europe/Lisbon', locale: 'en' }],
      eventType: { id: 1, slug: 'haircut', title: 'Haircut' },
    },
    MEETING_ENDED: { id: 901, uid: bookingUid, title: 'Haircut', startTime: new Date().toISOString(), attendees: [] },
    AFTER_HOSTS_CAL_VIDEO_NO_SHOW: {
      bookingId: 901,
      webhook: { id: 'wh_1', subscriberUrl: 'https://x.example', time: 5, timeUnit: 'MINUTE' },
    },
    AFTER_GUESTS_CAL_VIDEO_NO_SHOW: {
      bookingId: 901,
      webhook: { id: 'wh_1', subscriberUrl: 'https://x.example', time: 5, timeUnit: 'MINUTE' },
    },
    RECORDING_READY: { downloadLink: 'https://cal.example/recordings/abc' },
    RECORDING_TRANSCRIPTION_GENERATED: {
      downloadLinks: { transcription: [{ format: 'json', link: 'https://cal.example/t.json' }], recording: 'https://cal.example/r.mp4' },
    },
    INSTANT_MEETING: {
      title: 'Instant meeting',
      body: 'Dora Marques is waiting',
      icon: 'https://cal.example/icon.png',
      url: 'https://cal.example/video/abc',
      actions: [{ action: 'connect-action', title: 'Join', type: 'button', image: null }],
      requireInteraction: false,
      type: 'instant meeting',
    },
    FORM_SUBMITTED: {
      formId: 'f1',
      formName: 'Which treatment?',
      teamId: null,
      responses: { 'Your name': { value: 'Dora', response: 'Dora' } },
      'Your name': 'Dora',
    },
    FORM_SUBMITTED_NO_EVENT: { formId: 'f1', formName: 'Which treatment?', teamId: null, responses: {} },
    ROUTING_FORM_FALLBACK_HIT: {
      formId: 'f1',
      formName: 'Which treatment?',
      teamId: null,
      responses: {},
      fallbackAction: { type: 'customPageMessage' },
    },
    OOO_CREATED: {
      oooEntry: {
        id: 3,
        start: new Date().toISOString(),
        end: new Date(Date.now() + 3 * 24 * H).toISOString(),
        createdAt: new Date().toISOString(),
        updatedAt: new Date().toISOString(),
        notes: null,
        reason: { emoji: '🏝️', reason: 'vacation' },
        reasonId: 1,
        user: { id: 7, name: 'Alex', username: 'alex', timeZone: 'Europe/Madrid', email: 'alex@salon-lumen.example' },
        toUser: null,
        uuid: randomUUID(),
      },
    },
    DELEGATION_CREDENTIAL_ERROR: {
      error: { type: 'CalendarAppDelegationCredentialInvalidGrantError', message: 'invalid_grant' },
      credential: { id: -1, type: 'google_calendar', appId: 'google-calendar' },
      user: { id: 7, email: 'alex@salon-lumen.example' },
    },
    WRONG_ASSIGNMENT_REPORT: {
      booking: { uid: bookingUid, id: 901, title: 'Haircut', startTime: new Date().toISOString() },
      report: { reportedBy: { id: 7, email: 'alex@salon-lumen.example' }, correctAssignee: null, notes: 'wrong person' },
    },
  };
}

/** The Ping test of Cal.com's webhook form (testTrigger.handler.ts through sendPayload). */
export function pingPayload() {
  const now = new Date().toISOString();
  const language = { locale: 'en' };
  return {
    type: 'Test',
    title: 'Test trigger event',
    startTime: now,
    endTime: now,
    attendees: [{ email: 'jdoe@example.com', name: 'John Doe', timeZone: 'Europe/London', language, utcOffset: 0 }],
    organizer: { name: 'Cal', email: 'no-reply@cal.com', timeZone: 'Europe/London', language, utcOffset: 0 },
  };
}
