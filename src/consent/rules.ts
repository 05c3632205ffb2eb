import { CHANNELS, type Channel } from '../channels/types';
import { OPTED_OUT, type ConsentAnswer, type ConsentDecision, type MessageKind } from './definitions';

/**
 * Consent decisions, pure (the workflow and the activities use the same rules):
 * - transactional messages are allowed unless the customer opted out of them on that channel;
 * - optional messages follow the customer's answer for optional messages on that channel, else the
 *   company's default (`optional_messages_default`); and never go where the customer opted out
 *   of transactional messages (who refuses reminders by SMS refuses everything by SMS).
 */
export function decide(kind: MessageKind, channel: Channel, answers: readonly ConsentAnswer[], optionalDefault: boolean): ConsentDecision {
  const answer = (k: MessageKind) => answers.find((a) => a.channel === channel && a.kind === k)?.granted;
  if (answer('transactional') === false) return 'opted_out';
  if (kind === 'transactional') return 'allowed';
  return (answer('optional') ?? optionalDefault) ? 'allowed' : 'opted_out';
}

/** The decision for every channel. */
export function decideAll(
  kind: MessageKind,
  answers: readonly ConsentAnswer[],
  optionalDefault: boolean,
): Record<Channel, ConsentDecision> {
  return Object.fromEntries(CHANNELS.map((c) => [c, decide(kind, c, answers, optionalDefault)])) as Record<Channel, ConsentDecision>;
}

/** `opted_out: …` naming the channels refused, for the notification's final status. */
export function optedOutReason(kind: MessageKind, channels: readonly Channel[]): string {
  const list = channels.length <= 1 ? channels.join('') : `${channels.slice(0, -1).join(', ')} and ${channels[channels.length - 1]}`;
  return `${OPTED_OUT}: the customer opted out of ${kind} messages by ${list}`;
}

/**
 * What an inbound SMS keyword means (the carriers' standard words, case-insensitive, the whole
 * message trimmed): opt out, opt in, or nothing.
 */
export function smsKeyword(body: string): 'opt_out' | 'opt_in' | null {
  const word = body.trim().toUpperCase();
  if (['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT'].includes(word)) return 'opt_out';
  if (['START', 'UNSTOP', 'YES', 'OPTIN'].includes(word)) return 'opt_in';
  return null;
}
