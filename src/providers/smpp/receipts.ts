/**
 * Delivery receipts (`registered_delivery`): which transaction a `message_id` belongs to, and what
 * a receipt `deliver_sm` says. The receipt text quotes the start of the SMS (`text:...`), so only
 * its `id`, `stat` and `err` fields are ever read.
 */
import type { SmppPdu } from './lib.js'

/** What was remembered for one submitted part. */
export interface ReceiptTarget {
  readonly transactionId: string
  /** Already masked. */
  readonly phone: string
}

/** A parsed delivery receipt. */
export interface Receipt {
  readonly messageId: string
  /** `stat:` of the receipt text (DELIVRD, UNDELIV, ...) or the message_state TLV. */
  readonly state: string | undefined
  /** `err:` of the receipt text. */
  readonly error: string | undefined
}

/** message_id → transaction, bounded (oldest entries are dropped first). */
export class ReceiptMap {
  readonly #max: number
  readonly #map = new Map<string, ReceiptTarget>()

  /** @param max entries kept. @default 10000 */
  constructor(max = 10_000) {
    this.#max = max
  }

  get size(): number {
    return this.#map.size
  }

  remember(messageId: string, target: ReceiptTarget): void {
    const key = messageId.toLowerCase()
    this.#map.delete(key)
    this.#map.set(key, target)
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as string)
  }

  /**
   * The target of a receipt's id. SMSCs differ in how they print ids: some answer submit_sm with a
   * hex id and report it in decimal in the receipt (or the other way round), so both are tried.
   */
  find(messageId: string): ReceiptTarget | undefined {
    const key = messageId.toLowerCase()
    const exact = this.#map.get(key)
    if (exact !== undefined) return exact
    // An all-digit id may be either spelling, so both conversions are tried.
    if (/^\d{1,30}$/.test(key)) {
      const asHex = this.#map.get(BigInt(key).toString(16))
      if (asHex !== undefined) return asHex
    }
    if (/^[0-9a-f]{1,30}$/.test(key)) return this.#map.get(BigInt(`0x${key}`).toString(10))
    return undefined
  }
}

/** Is this deliver_sm an SMSC delivery receipt (esm_class message type 0x04)? */
export function isDeliveryReceipt(pdu: SmppPdu): boolean {
  return ((Number(pdu.esm_class) || 0) & 0x3c) === 0x04
}

const MESSAGE_STATES = ['SCHEDULED', 'ENROUTE', 'DELIVERED', 'EXPIRED', 'DELETED', 'UNDELIVERABLE', 'ACCEPTED', 'UNKNOWN', 'REJECTED', 'SKIPPED']

/** Reads id, state and error of a receipt; undefined when it carries no message id. */
export function parseReceipt(pdu: SmppPdu): Receipt | undefined {
  const sm = pdu.short_message
  const body = typeof sm === 'object' && sm !== null && 'message' in sm ? (sm as { message: unknown }).message : sm
  const raw = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('latin1') : ''
  // Everything from `text:` on is the start of the SMS itself: never looked at.
  const text = raw.split(/(?:^|\s)text:/i)[0] ?? ''
  const field = (name: string) => new RegExp(`(?:^|\\s)${name}:(\\S+)`, 'i').exec(text)?.[1]
  const tlvId = typeof pdu.receipted_message_id === 'string' && pdu.receipted_message_id !== '' ? pdu.receipted_message_id : undefined
  const messageId = tlvId ?? field('id')
  if (messageId === undefined) return undefined
  const tlvState = typeof pdu.message_state === 'number' ? MESSAGE_STATES[pdu.message_state] : undefined
  return { messageId, state: field('stat') ?? tlvState, error: field('err') }
}
