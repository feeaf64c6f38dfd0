/**
 * The decoy token: what makes a request for an unknown user (or a user with no usable token) cost
 * what a known user with a wrong PIN costs, so response times do not tell a guesser which logins
 * exist.
 *
 * A known user's wrong PIN costs one store write (the attempt is counted before anything is
 * compared, with its fsync on SQLite) and the PIN hash comparisons. Returning "no token" straight
 * away would answer several times faster. So such requests do the same work on a real stored
 * token that nobody owns: an attempt is reserved on it and the PIN compared against its hash.
 * Its failcount only grows (its maxfail is the largest safe integer, so it never locks), it is
 * inactive and owned by nobody, its serial is one that enrolment refuses, and the admin API
 * neither lists nor selects it.
 */
import { randomBytes } from 'node:crypto'
import type { Core } from '../core.js'
import { isOtpError } from '../errors.js'
import type { TokenRecord } from '../stores/types.js'
import { pinMatches, splitPass, type PinMode } from '../tokens/pin.js'

/** Serial of the decoy token. `~` is outside the enrolment alphabet, so no admin can create it. */
export const DECOY_SERIAL = '~decoy'

/** Is this the decoy's serial? Lookups by serial treat it as absent. */
export function isDecoy(serial: string): boolean {
  return serial === DECOY_SERIAL
}

/** The decoy of each store, read once: a second read per request would be work the known path does not do. */
const known = new WeakMap<object, TokenRecord>()

/** Creates the decoy token when the store has none (idempotent; safe across processes). */
export async function ensureDecoy(core: Pick<Core, 'store' | 'secrets' | 'clock'>): Promise<void> {
  const stored = await core.store.tokens.get(DECOY_SERIAL)
  if (stored) {
    known.set(core.store, stored)
    return
  }
  const decoy: TokenRecord = {
    serial: DECOY_SERIAL, type: 'sms', user: null, realm: null, phone: '+10000000000',
    pinHash: core.secrets.hashPin(randomBytes(16).toString('base64')),
    seed: core.secrets.encryptSeed(DECOY_SERIAL, randomBytes(20)),
    hashlib: 'sha1', otplen: 6, counter: 0, failcount: 0, maxfail: Number.MAX_SAFE_INTEGER,
    countWindow: 10, active: false, description: 'timing decoy (do not remove)', createdAt: core.clock.now(),
  }
  try {
    await core.store.tokens.create(decoy)
    known.set(core.store, decoy)
  } catch (err) {
    if (!isOtpError(err, 'ERR_OTP_TOKEN_EXISTS')) throw err // another process made it first
    const theirs = await core.store.tokens.get(DECOY_SERIAL)
    if (theirs) known.set(core.store, theirs)
  }
}

/**
 * Spends what a known user's wrong PIN would: one reserved attempt (a store write), the challenge
 * lookup of an answer by transaction id, and the PIN comparisons `classify` makes for a token whose PIN is wrong. Never throws: a missing decoy
 * (never ensured, or deleted from the database) only costs the equality of timings, not the answer.
 */
export async function spendDecoy(core: Core, pass: string | undefined, transaction: (() => Promise<unknown>) | undefined, mode: PinMode): Promise<void> {
  const token = known.get(core.store)
  if (!token) return
  await core.store.tokens.reserveAttempt(DECOY_SERIAL).catch(() => undefined)
  // An answer by transaction id looks its challenges up (once per request: the check's own lookup).
  if (transaction !== undefined) await transaction().catch(() => undefined)
  if (mode !== 'token_pin') {
    // No PIN hash is compared: the whole pass is an OTP for the token's open challenges.
    if (transaction === undefined) await core.store.challenges.listOpen(DECOY_SERIAL, core.clock.now()).catch(() => undefined)
    return
  }
  const given = pass ?? ''
  const split = splitPass(given, token, mode, core.settings.config.bool('PrependPin'))
  pinMatches(split.pin, token, mode, core.secrets)
  // Without a transaction id, `classify` also tries the whole pass as a PIN.
  if (transaction === undefined) pinMatches(given, token, mode, core.secrets)
}
