import { createHash } from 'node:crypto';
import {
  bookerOf,
  bookingUidOfKey,
  CALCOM_TRIGGERS,
  cleanText,
  deliveryKey,
  handlingOf,
  isSeated,
  MAX_JSON_DEPTH,
  storable,
  TooDeep,
  truncate,
} from '../../src/integrations/rules';
import { SecretBox, SecretBoxError } from '../../src/integrations/secret-box';
import { parsePayloadKeys } from '../../src/temporal/payload-codec';
import { ROTATED_SECRET_KEY, TEST_SECRET_KEYS } from '../support/encryption';
import { attendee, bookingPayload, guest } from './calcom-fixtures';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** The Cal.com webhook's pure rules and the secret box, without servers. */
describe('Cal.com rules', () => {
  it('knows every trigger of Cal.com’s WebhookTriggerEvents and PING; an unknown one is ignored, not refused', () => {
    expect(Object.keys(CALCOM_TRIGGERS).sort()).toEqual(
      [
        'AFTER_GUESTS_CAL_VIDEO_NO_SHOW',
        'AFTER_HOSTS_CAL_VIDEO_NO_SHOW',
        'BOOKING_CANCELLED',
        'BOOKING_CREATED',
        'BOOKING_NO_SHOW_UPDATED',
        'BOOKING_PAID',
        'BOOKING_PAYMENT_INITIATED',
        'BOOKING_REJECTED',
        'BOOKING_REQUESTED',
        'BOOKING_RESCHEDULED',
        'DELEGATION_CREDENTIAL_ERROR',
        'FORM_SUBMITTED',
        'FORM_SUBMITTED_NO_EVENT',
        'INSTANT_MEETING',
        'MEETING_ENDED',
        'MEETING_STARTED',
        'OOO_CREATED',
        'PING',
        'RECORDING_READY',
        'RECORDING_TRANSCRIPTION_GENERATED',
        'ROUTING_FORM_FALLBACK_HIT',
        'WRONG_ASSIGNMENT_REPORT',
      ].sort(),
    );
    expect(handlingOf('BOOKING_CREATED')).toEqual({ kind: 'book' });
    expect(handlingOf('SOMETHING_NEW')).toEqual({ kind: 'ignore', why: 'trigger SOMETHING_NEW is not one this service acts on' });
  });

  it('cuts free texts by code points, with an ellipsis, and leaves short ones alone', () => {
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('abcd', 3)).toBe('ab…');
    // An emoji is one code point (two UTF-16 units): never cut in half.
    expect(truncate('😀😀😀😀', 3)).toBe('😀😀…');
  });

  it('makes every string storable and refuses nesting deeper than the limit before recursing further', () => {
    expect(cleanText('a\u0000b\ud800c\udc00d😀')).toBe('a\uFFFDb\uFFFDc\uFFFDd😀');
    expect(storable({ ['k\u0000']: ['x\u0000', 1, null, { y: '\ud83d' }] })).toEqual({ 'k\uFFFD': ['x\uFFFD', 1, null, { y: '\uFFFD' }] });
    let deep: unknown = 'leaf';
    for (let i = 0; i < MAX_JSON_DEPTH; i++) deep = [deep];
    expect(() => storable(deep)).not.toThrow();
    expect(() => storable([deep])).toThrow(TooDeep);
  });

  it('the attendee a booking is for: the booker before the guests, or a seat’s holder', () => {
    const booker = attendee({ name: 'Dora', email: 'dora@example.test' });
    const plain = bookingPayload({ eventTypeId: 1, startsAt: 0, attendees: [booker, guest('g@example.test')] });
    expect(bookerOf(plain)).toBe(booker);
    expect(isSeated(plain)).toBe(false);
    const held = { ...attendee({ name: 'Rui', email: 'rui@example.test' }), bookingSeat: { referenceUid: 'seat-2' } };
    const seated = bookingPayload({
      eventTypeId: 1,
      startsAt: 0,
      attendees: [{ ...booker, bookingSeat: { referenceUid: 'seat-1' } }, held],
      extra: { attendeeSeatId: 'seat-2', seatsPerTimeSlot: 4 },
    });
    expect(bookerOf(seated)).toBe(held);
    expect(isSeated(seated)).toBe(true);
    expect(bookerOf({ attendees: [] })).toBeUndefined();
    expect(bookerOf({ attendees: 'nobody' })).toBeUndefined();
  });

  it('the key a delivery is recorded under: the uid, a seat, a seat’s cancellation by its attendees, a no-show by its body, else the body', () => {
    const raw = Buffer.from('{"x":1}');
    const digest = sha(raw);
    const p = { uid: 'u1', attendees: [{ email: 'A@example.test' }] };
    expect(deliveryKey('BOOKING_CREATED', p, digest, sha)).toBe('u1');
    expect(deliveryKey('BOOKING_CREATED', { ...p, attendeeSeatId: 's9' }, digest, sha)).toBe('u1/seat:s9');
    const seatCancel = deliveryKey('BOOKING_CANCELLED', { ...p, seatsPerTimeSlot: 3 }, digest, sha);
    expect(seatCancel).toBe(`u1/attendees:${sha('a@example.test').slice(0, 24)}`);
    expect(seatCancel).not.toContain('example');
    expect(deliveryKey('BOOKING_NO_SHOW_UPDATED', { bookingUid: 'u1', attendees: [] }, digest, sha)).toBe(
      `u1/no-show/${digest.slice(0, 40)}`,
    );
    expect(deliveryKey('PING', { title: 'Test trigger event' }, digest, sha)).toBe(`body:${digest.slice(0, 40)}`);
    expect(deliveryKey('FORM_SUBMITTED', { uid: 'u1' }, digest, sha)).toBe(`body:${digest.slice(0, 40)}`);
    expect(deliveryKey('BOOKING_CREATED', undefined, digest, sha)).toBe(`body:${digest.slice(0, 40)}`);
    expect(bookingUidOfKey('u1/seat:s9')).toBe('u1');
    expect(bookingUidOfKey(`body:${digest}`)).toBeNull();
  });
});

describe('secret box', () => {
  const k1 = new SecretBox(parsePayloadKeys(TEST_SECRET_KEYS));
  const both = new SecretBox(parsePayloadKeys(`${TEST_SECRET_KEYS},${ROTATED_SECRET_KEY}`));
  const k2 = new SecretBox(parsePayloadKeys(ROTATED_SECRET_KEY));

  it('seals with the newest key, opens with any it has, and binds the ciphertext to its context and key id', () => {
    const sealed = k1.seal('whsec_abc', 'row-1');
    expect(sealed.keyId).toBe(TEST_SECRET_KEYS.split(':')[0]);
    expect(sealed.ciphertext.includes(Buffer.from('whsec_abc'))).toBe(false);
    expect(both.open(sealed, 'row-1')).toBe('whsec_abc');
    expect(both.seal('x', 'row-1').keyId).toBe(ROTATED_SECRET_KEY.split(':')[0]);
    // Two seals of one secret differ (random IV).
    expect(k1.seal('whsec_abc', 'row-1').ciphertext.equals(sealed.ciphertext)).toBe(false);
    expect(() => k1.open(sealed, 'row-2')).toThrow(SecretBoxError);
    expect(() => k2.open(sealed, 'row-1')).toThrow(/key "test-secrets-2026a", which this process does not have/);
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[14] ^= 1;
    expect(() => k1.open({ ...sealed, ciphertext: flipped }, 'row-1')).toThrow(/failed authentication/);
  });
});
