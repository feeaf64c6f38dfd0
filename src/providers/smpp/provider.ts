/**
 * LinOTP's SMPPSMSProvider (spec §3.4): SMS as `submit_sm` over one persistent
 * `bind_transceiver` (see {@link SmppClient}).
 *
 * Deviations from LinOTP, on purpose:
 * - One bind per provider instance, shared by all sends, with a window, keep-alive and reconnect
 *   (LinOTP connects, binds and unbinds for every SMS).
 * - The encoding is chosen per message: GSM 03.38 (data_coding 0) when the text fits, else UCS-2
 *   (data_coding 8); `target_encoding` is accepted and ignored with a warning. LinOTP encodes in
 *   Latin-1 with data_coding 3 and silently drops characters it cannot encode.
 * - Long texts are sent as concatenated parts with a UDH, so handsets show one message (LinOTP
 *   sends independent 153-byte chunks).
 * - A leading `+` is removed from the destination when dest_addr_ton is 1 (international): in
 *   SMPP the TON carries that information and many SMSCs refuse the `+`.
 * - A refused submit is `rejected` with the SMPP status; connection, bind and timeout problems are
 *   `unavailable` so the dispatcher fails over (LinOTP returns false for all of them after connecting).
 */
import { randomInt } from 'node:crypto'
import { maskPhone } from '../../phone/mask.js'
import { guardedLookup } from '../net/destinations.js'
import { LOCAL } from '../resources.js'
import { parseSmppConfig, type SmppOptions } from './config.js'
import { encodeSms, type EncodedSms } from './encoding.js'
import { describeStatus, SmppStatus, type SmppPdu } from './lib.js'
import { isDeliveryReceipt, parseReceipt, ReceiptMap } from './receipts.js'
import { SmppClient, SmppUnavailableError } from './session.js'
import type { ProviderClass, SendResult, SmsMessage, SmsProvider } from '../types.js'

export type { SmppOptions } from './config.js'

/** Submit statuses that say "the SMSC is in trouble", not "this message is wrong": try elsewhere. */
const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([SmppStatus.INVALID_BIND_STATUS, SmppStatus.SYSTEM_ERROR, SmppStatus.MESSAGE_QUEUE_FULL])

/** Judges a submit_sm_resp status. */
export function judgeSubmitStatus(status: number, part: string): SendResult | undefined {
  if (status === SmppStatus.OK) return undefined
  const reason = `SMSC refused the message${part}: ${describeStatus(status)}`
  return TRANSIENT_STATUSES.has(status) ? { status: 'unavailable', reason } : { status: 'rejected', reason }
}

/** The destination_addr for a phone: trimmed, `+` dropped for TON international. */
function destination(phone: string, ton: number): string | undefined {
  let addr = phone.trim()
  if (ton === 1 && addr.startsWith('+')) addr = addr.slice(1)
  return addr !== '' && addr.length <= 20 && /^[\x21-\x7e]+$/.test(addr) ? addr : undefined
}

export const SmppSmsProviderClass: ProviderClass<SmppOptions> = {
  id: 'SMPPSMSProvider',
  parse: parseSmppConfig,
  create(options, ctx): SmsProvider {
    const log = ctx.logger.child({ class: 'SMPPSMSProvider' }) // the loader already binds the provider name
    const receipts = new ReceiptMap()
    const onDeliver = (pdu: SmppPdu) => {
      if (!isDeliveryReceipt(pdu)) {
        log.debug({}, 'mobile-originated message ignored')
        return
      }
      const receipt = parseReceipt(pdu)
      if (receipt === undefined) return log.warn({}, 'delivery receipt without a message id ignored')
      const target = receipts.find(receipt.messageId)
      const fields = { messageId: receipt.messageId, state: receipt.state, error: receipt.error }
      if (target === undefined) log.info(fields, 'delivery receipt for an unknown message')
      else {
        // The transaction id answers a still-open challenge together with the OTP: debug level only.
        log.info({ ...fields, phone: target.phone }, 'SMS delivery receipt')
        log.debug({ messageId: receipt.messageId, transactionId: target.transactionId }, 'SMS delivery receipt: transaction')
      }
    }
    // No I/O here: the bind opens with the first send or test().
    const client = new SmppClient({ ...options, lookup: guardedLookup(ctx.resources ?? LOCAL) }, log, onDeliver)
    let reference = randomInt(256)

    async function submitAll(msg: SmsMessage, addr: string, encoded: EncodedSms, signal: AbortSignal): Promise<SendResult> {
      const ids: string[] = []
      const total = encoded.parts.length
      for (const [i, part] of encoded.parts.entries()) {
        const where = total > 1 ? ` (part ${i + 1} of ${total})` : ''
        let resp: SmppPdu
        try {
          resp = await client.submit({
            service_type: '',
            source_addr_ton: options.sourceAddrTon,
            source_addr_npi: options.sourceAddrNpi,
            source_addr: options.sourceAddr,
            dest_addr_ton: options.destAddrTon,
            dest_addr_npi: options.destAddrNpi,
            destination_addr: addr,
            esm_class: encoded.esmClass,
            registered_delivery: options.registeredDelivery ? 1 : 0,
            data_coding: encoded.dataCoding,
            short_message: part, // a Buffer: the package sends it as is
          }, signal)
        } catch (err) {
          const reason = err instanceof SmppUnavailableError ? err.message : 'SMPP client error'
          return { status: 'unavailable', reason: `${reason}${where}` }
        }
        const refused = judgeSubmitStatus(resp.command_status, where)
        if (refused !== undefined) return refused
        const id = typeof resp.message_id === 'string' ? resp.message_id : ''
        ids.push(id)
        if (options.registeredDelivery && id !== '') receipts.remember(id, { transactionId: msg.transactionId, phone: maskPhone(msg.phone) })
      }
      const gatewayId = ids.filter((id) => id !== '').join(',')
      return gatewayId === '' ? { status: 'sent' } : { status: 'sent', gatewayId }
    }

    return {
      async send(msg, signal): Promise<SendResult> {
        if (signal.aborted) return { status: 'unavailable', reason: 'send aborted' }
        const addr = destination(msg.phone, options.destAddrTon)
        if (addr === undefined) return { status: 'rejected', reason: 'destination number is not usable as an SMPP address (empty, too long or not ASCII)' }
        let encoded: EncodedSms
        try {
          encoded = encodeSms(msg.text, reference)
        } catch (err) {
          return { status: 'rejected', reason: err instanceof RangeError ? `text too long: ${err.message}` : 'text cannot be encoded' }
        }
        if (encoded.parts.length > 1) reference = (reference + 1) % 256
        const started = Date.now()
        const result = await submitAll(msg, addr, encoded, signal)
        log.debug(
          { phone: maskPhone(msg.phone), transactionId: msg.transactionId, encoding: encoded.encoding, parts: encoded.parts.length, result: result.status, ms: Date.now() - started },
          'SMS submitted',
        )
        return result
      },
      async test(signal): Promise<SendResult> {
        try {
          await client.ensureBound(signal)
          return { status: 'sent' }
        } catch (err) {
          return { status: 'unavailable', reason: err instanceof SmppUnavailableError ? err.message : 'SMPP client error' }
        }
      },
      close: () => client.close(),
    }
  },
}
