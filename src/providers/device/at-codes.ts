/**
 * Final result codes of AT commands and what they mean: `+CME ERROR` (3GPP TS 27.007 §9.2),
 * `+CMS ERROR` (TS 27.005 §3.2.5; 0–127 are the network's RP cause values, TS 24.011 §8.2.5.4).
 * Note that the two tables overlap in numbers, not in meaning (CME 10 is "SIM not inserted",
 * CMS 10 is "call barred").
 */

/** A final result code other than OK. */
export type AtFinal =
  | { readonly type: 'CMS' | 'CME'; readonly code: number }
  | { readonly type: 'CMS' | 'CME'; readonly text: string }
  | { readonly type: 'ERROR'; readonly text: string }

const CME: ReadonlyMap<number, string> = new Map([
  [0, 'phone failure'], [1, 'no connection to phone'], [3, 'operation not allowed'], [4, 'operation not supported'],
  [5, 'PH-SIM PIN required'], [10, 'SIM not inserted'], [11, 'SIM PIN required'], [12, 'SIM PUK required'],
  [13, 'SIM failure'], [14, 'SIM busy'], [15, 'SIM wrong'], [16, 'incorrect password'], [17, 'SIM PIN2 required'],
  [18, 'SIM PUK2 required'], [20, 'memory full'], [24, 'text string too long'], [25, 'invalid characters in text string'],
  [26, 'dial string too long'], [27, 'invalid characters in dial string'], [30, 'no network service'],
  [31, 'network timeout'], [32, 'network not allowed, emergency calls only'], [100, 'unknown error'],
])

const CMS: ReadonlyMap<number, string> = new Map([
  [1, 'unassigned number'], [8, 'operator determined barring'], [10, 'call barred'],
  [21, 'short message transfer rejected'], [27, 'destination out of service'], [28, 'unidentified subscriber'],
  [29, 'facility rejected'], [30, 'unknown subscriber'], [38, 'network out of order'], [41, 'temporary failure'],
  [42, 'congestion'], [47, 'resources unavailable'], [50, 'requested facility not subscribed'],
  [69, 'requested facility not implemented'], [95, 'invalid message'], [96, 'invalid mandatory information'],
  [111, 'protocol error'], [127, 'interworking error'],
  [300, 'ME failure'], [301, 'SMS service of ME reserved'], [302, 'operation not allowed'], [303, 'operation not supported'],
  [304, 'invalid PDU mode parameter'], [305, 'invalid text mode parameter'], [310, 'SIM not inserted'],
  [311, 'SIM PIN required'], [312, 'PH-SIM PIN required'], [313, 'SIM failure'], [314, 'SIM busy'], [315, 'SIM wrong'],
  [316, 'SIM PUK required'], [317, 'SIM PIN2 required'], [318, 'SIM PUK2 required'], [320, 'memory failure'],
  [321, 'invalid memory index'], [322, 'memory full'], [330, 'SMSC address unknown'], [331, 'no network service'],
  [332, 'network timeout'], [340, 'no +CNMA acknowledgement expected'], [500, 'unknown error'],
])

/**
 * Codes that say the device, its SIM or the network cannot send right now, not that this message
 * is bad: another provider may well deliver it, so the send is `unavailable` (fail over).
 */
const CMS_DEVICE = new Set([38, 41, 42, 47, 300, 301, 310, 311, 312, 313, 314, 315, 316, 317, 318, 320, 322, 330, 331, 332])
const CME_DEVICE = new Set([0, 1, 5, 10, 11, 12, 13, 14, 15, 16, 17, 18, 30, 31, 32])

/** `+CMS ERROR: 500 (unknown error)`, `+CME ERROR: 10 (SIM not inserted)`, `ERROR`. */
export function describeAtFinal(final: AtFinal): string {
  if (final.type === 'ERROR') return `${final.text} (enable AT+CMEE=1 on the modem for a numeric code)`
  if ('text' in final) return `+${final.type} ERROR: ${final.text}`
  const meaning = (final.type === 'CMS' ? CMS : CME).get(final.code)
  return `+${final.type} ERROR: ${final.code}${meaning === undefined ? '' : ` (${meaning})`}`
}

/** True when the code means "the device cannot send now" rather than "this message was refused". */
export function isDeviceProblem(final: AtFinal): boolean {
  if (final.type === 'ERROR' || 'text' in final) return false
  return (final.type === 'CMS' ? CMS_DEVICE : CME_DEVICE).has(final.code)
}
