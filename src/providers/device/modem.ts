/**
 * DeviceSMSProvider native mode: AT commands straight to a GSM modem on a serial port.
 *
 * Each send is one session (open → AT → ATE0 → AT+CMEE=1 → AT+CPIN? [→ AT+CPIN="…"] →
 * AT+CMGF → [AT+CSCA] → AT+CMGS per part → close). Opening per send costs a few milliseconds
 * against seconds of radio time, and it means a hung modem never keeps the port: every wait is
 * bounded and the port is closed on every path, so the next send (or gnokii, or minicom) can open it.
 */
import { randomInt } from 'node:crypto'
import { realpathSync } from 'node:fs'
import type { Logger } from '../../logger.js'
import { maskPhone } from '../../phone/index.js'
import { AtChannel, AtFailure, nativePort, type PortFactory } from './at.js'
import { isDeviceProblem } from './at-codes.js'
import { BAD_DESTINATION, deviceDestination, exclusive } from './common.js'
import { fitsTextMode } from './text-mode.js'
import { encodeSubmit, PduError, type SubmitPdu } from './pdu.js'
import type { SendResult, SmsMessage, SmsProvider } from '../types.js'

/** Options of native mode (see the key table in docs/providers.md). */
export interface ModemOptions {
  readonly mode: 'native'
  /** Serial device path, e.g. `/dev/ttyUSB2`. */
  readonly port: string
  /** @default 115200 */
  readonly baudRate: number
  /** SIM PIN, sent only when the SIM asks for it. Never logged. */
  readonly pin: string | undefined
  /** Service centre number for `AT+CSCA`; the SIM's own when undefined. */
  readonly smsc: string | undefined
  /** Per-command timeout (open, AT, AT+CPIN, … and the `> ` prompt). @default 10000 */
  readonly timeoutMs: number
  /** Wait for `+CMGS` after the message was handed over (network round trip). @default 60000 */
  readonly sendTimeoutMs: number
  /** `auto`: text mode for plain short texts, PDU mode otherwise. @default 'auto' */
  readonly format: 'auto' | 'text' | 'pdu'
}

/** What one session needs to do after the SIM is ready. */
type Job =
  | { readonly kind: 'check' }
  | { readonly kind: 'text'; readonly phone: string; readonly text: string }
  | { readonly kind: 'pdu'; readonly pdus: readonly SubmitPdu[] }

/**
 * Builds the native-mode provider. No I/O until the first send.
 * @param makePort builds the serial port object; tests inject one whose binding misbehaves
 */
export function createModemProvider(options: ModemOptions, log: Logger, makePort: PortFactory = nativePort): SmsProvider {
  const closer = new AbortController()
  const active = new Set<Promise<SendResult>>()
  /** Set once the SIM refused the PIN: retrying would burn the remaining attempts and PUK-lock it. */
  let pinRefused = false

  /** Runs `job` in a session, tracked so that `close()` can wait until the port is released. */
  function session(job: Job, signal: AbortSignal): Promise<SendResult> {
    if (closer.signal.aborted) return Promise.resolve({ status: 'unavailable', reason: 'provider is closed' })
    const running = runSession(job, signal)
    active.add(running)
    void running.finally(() => active.delete(running))
    return running
  }

  async function runSession(job: Job, signal: AbortSignal): Promise<SendResult> {
    const both = AbortSignal.any([signal, closer.signal])
    const key = `serial:${deviceKey(options.port)}`
    const result = await exclusive(key, both, async () => {
      let at: AtChannel | undefined
      try {
        at = await AtChannel.open(options.port, options.baudRate, options.timeoutMs, both, makePort)
        const unlocked = await prepare(at, both)
        if (unlocked !== undefined) return unlocked
        if (job.kind === 'check') return { status: 'sent' } as const
        return await deliver(at, job, both)
      } catch (err) {
        return failure(err)
      } finally {
        await at?.close()
      }
    })
    return result ?? { status: 'unavailable', reason: 'aborted while waiting for the modem (another message was being sent)' }
  }

  /** AT, echo off, numeric errors, SIM PIN. Returns a result when the SIM cannot be used. */
  async function prepare(at: AtChannel, signal: AbortSignal): Promise<SendResult | undefined> {
    const t = options.timeoutMs
    await at.command('AT', t, signal)
    await at.command('ATE0', t, signal)
    // Numeric +CME/+CMS codes make reasons useful; a modem without AT+CMEE still works.
    await at.command('AT+CMEE=1', t, signal).catch((err: unknown) => {
      if (!(err instanceof AtFailure && err.kind === 'final')) throw err
    })
    const lines = await at.command('AT+CPIN?', t, signal)
    const state = lines.map((l) => /^\+CPIN:\s*(.+)$/i.exec(l)?.[1]?.trim().toUpperCase()).find((s) => s !== undefined)
    if (state === 'READY') return undefined
    if (state !== 'SIM PIN') {
      return { status: 'unavailable', reason: `the SIM is not ready (${state === undefined ? 'no +CPIN answer' : state.replace(/[^A-Z0-9 ]/g, '').slice(0, 20)}): unlock it manually` }
    }
    if (options.pin === undefined) return { status: 'unavailable', reason: 'the SIM asks for its PIN and no PIN is configured (key PIN)' }
    if (pinRefused) return { status: 'unavailable', reason: 'the SIM refused the configured PIN before; not retried (a PUK lock would follow): fix PIN and reload the provider' }
    try {
      await at.command(`AT+CPIN="${options.pin}"`, t, signal, 'AT+CPIN=<PIN>')
    } catch (err) {
      if (err instanceof AtFailure && err.kind === 'final') {
        pinRefused = true
        log.warn({ port: options.port }, 'the SIM refused the configured PIN; it will not be sent again until the provider is reloaded')
        return { status: 'unavailable', reason: `the SIM refused the configured PIN: ${err.message}; not retried` }
      }
      throw err
    }
    return undefined
  }

  async function deliver(at: AtChannel, job: Exclude<Job, { kind: 'check' }>, signal: AbortSignal): Promise<SendResult> {
    const t = options.timeoutMs
    await at.command(job.kind === 'text' ? 'AT+CMGF=1' : 'AT+CMGF=0', t, signal)
    if (options.smsc !== undefined) await at.command(`AT+CSCA="${options.smsc}"`, t, signal)
    const references: string[] = []
    const total = job.kind === 'text' ? 1 : job.pdus.length
    try {
      if (job.kind === 'text') references.push(reference(await at.submit(`AT+CMGS="${job.phone}"`, job.text, t, options.sendTimeoutMs, signal)))
      else for (const pdu of job.pdus) references.push(reference(await at.submit(`AT+CMGS=${pdu.length}`, pdu.hex, t, options.sendTimeoutMs, signal)))
    } catch (err) {
      const result = failure(err)
      if (references.length === 0) return result
      // The handset may show the first parts; the admin should know the message went out in part.
      return { status: result.status, reason: `${result.reason} (after ${references.length} of ${total} parts were sent)` }
    }
    log.debug({ port: options.port, format: job.kind, parts: total, references }, 'modem accepted the SMS')
    return { status: 'sent', gatewayId: references.join(',') }
  }

  return {
    async send(msg: SmsMessage, signal: AbortSignal): Promise<SendResult> {
      const phone = deviceDestination(msg.phone)
      if (phone === undefined) return BAD_DESTINATION
      if (options.format === 'text' && !fitsTextMode(msg.text)) {
        return { status: 'rejected', reason: 'MODE text: the text has characters text mode cannot carry safely (control characters, @ $ _ [ ] { } and non-ASCII) or is longer than 160; use MODE auto or pdu' }
      }
      // Encoded before the port is opened: a text that cannot be sent is refused without touching the modem.
      let job: Job = { kind: 'text', phone, text: msg.text }
      if (options.format === 'pdu' || (options.format === 'auto' && !fitsTextMode(msg.text))) {
        try {
          job = { kind: 'pdu', pdus: encodeSubmit(phone, msg.text, { reference: randomInt(256) }) }
        } catch (err) {
          if (err instanceof PduError) return { status: 'rejected', reason: err.message }
          throw err
        }
      }
      const started = Date.now()
      const result = await session(job, signal)
      log.debug({ port: options.port, phone: maskPhone(phone), ms: Date.now() - started, result: result.status, ...(result.status !== 'sent' && { reason: result.reason }), transactionId: msg.transactionId }, 'modem session finished')
      return result
    },
    test(signal: AbortSignal): Promise<SendResult> {
      return session({ kind: 'check' }, signal)
    },
    /** Aborts a running session and resolves once its port is closed. Idempotent. */
    async close(): Promise<void> {
      closer.abort()
      await Promise.allSettled([...active])
    },
  }
}

/**
 * The queue key of a port: its real path, so `/dev/serial/by-id/…` and `/dev/ttyUSB2` share one
 * queue. Synchronous on purpose: sends must queue in the order they were called.
 */
function deviceKey(port: string): string {
  try {
    return realpathSync(port)
  } catch {
    return port // not there (unplugged): the open fails and reports it
  }
}

/** `+CMGS: <mr>` → the message reference (the modem's, not a secret). */
function reference(lines: string[]): string {
  for (const line of lines) {
    const m = /^\+CMGS:\s*(\d{1,3})/.exec(line)
    if (m) return m[1] as string
  }
  return '?'
}

/** Maps a failed step to a result: the device side is `unavailable`, a refused message `rejected`. */
function failure(err: unknown): Exclude<SendResult, { status: 'sent' }> {
  if (err instanceof AtFailure) {
    if (err.kind === 'final' && err.final !== undefined && err.command === 'AT+CMGS' && !isDeviceProblem(err.final)) {
      return { status: 'rejected', reason: err.message }
    }
    return { status: 'unavailable', reason: err.message }
  }
  return { status: 'unavailable', reason: `internal error (${err instanceof Error ? err.name : typeof err})` }
}
