/**
 * Pieces both DeviceSMSProvider modes share: the destination check that keeps a phone number
 * from ever being read as a gnokii option or an AT command, a seconds reader for timeouts, and a
 * per-device queue (a phone or modem handles one message at a time).
 */
import { ConfigError } from '../../errors.js'
import type { SendResult } from '../types.js'

const DESTINATION = /^\+?[0-9]{1,20}$/
/** Separators a stored number may carry (see `validatePhone`); removed, never interpreted. */
const SEPARATORS = /[ ()./-]/g

/**
 * The destination as the device gets it: an optional `+` and 1–20 digits, after dropping the
 * separators enrolment allows. Anything else (letters, CR/LF, quotes, a leading `-`) gives
 * undefined and the message is rejected before a process is started or a byte is written.
 */
export function deviceDestination(phone: string): string | undefined {
  const compact = phone.replace(SEPARATORS, '')
  return DESTINATION.test(compact) ? compact : undefined
}

/** The `rejected` result for a destination {@link deviceDestination} refused. */
export const BAD_DESTINATION: SendResult = Object.freeze({
  status: 'rejected',
  reason: 'the phone number must be an optional + followed by digits (set MSISDN to normalise stored numbers)',
})

/**
 * A timeout in seconds (number or numeric string, fractions allowed) → milliseconds.
 * @throws ConfigError naming the key.
 */
export function configSeconds(config: Record<string, unknown>, key: string, fallbackSeconds: number): number {
  const value = config[key]
  if (value === undefined || value === null || value === '') return Math.round(fallbackSeconds * 1000)
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN
  if (!Number.isFinite(n) || n <= 0 || n > 3600) {
    throw new ConfigError(`${key}: expected seconds (a number above 0, at most 3600), got ${JSON.stringify(value)}`)
  }
  return Math.max(1, Math.round(n * 1000))
}

const tails = new Map<string, Promise<void>>()

/**
 * Runs `job` when every earlier job for the same `key` (device) has finished. The queue is
 * module-wide, so two provider records that name the same device still take turns.
 * Resolves `undefined` without running `job` when `signal` aborts while waiting.
 */
export async function exclusive<T>(key: string, signal: AbortSignal, job: () => Promise<T>): Promise<T | undefined> {
  const previous = tails.get(key) ?? Promise.resolve()
  let release = (): void => {}
  const mine = new Promise<void>((resolve) => {
    release = resolve
  })
  // Whoever queues next waits for the previous job and for this one, even if this one gave up.
  const tail = previous.then(() => mine)
  tails.set(key, tail)
  try {
    if (!(await untilOrAbort(previous, signal))) return undefined
    return await job()
  } finally {
    release()
    if (tails.get(key) === tail) tails.delete(key)
  }
}

/** Resolves true when `p` settles, false when `signal` aborts first. */
function untilOrAbort(p: Promise<void>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const onAbort = () => resolve(false)
    signal.addEventListener('abort', onAbort, { once: true })
    void p.then(() => {
      signal.removeEventListener('abort', onAbort)
      resolve(true)
    })
  })
}
