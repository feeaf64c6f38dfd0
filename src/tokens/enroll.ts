/**
 * Enrolment of SMS tokens (`/admin/init`, LinOTP §1.1): parameters checked once, seed generated
 * server-side (20 random bytes) or imported as hex, then encrypted; the PIN hashed. The seed is
 * never returned.
 */
import { randomBytes } from 'node:crypto'
import type { Secrets } from '../crypto/secrets.js'
import { ParameterError } from '../errors.js'
import { parseHexSeed } from '../otp/hotp.js'
import { validatePhone } from '../phone/index.js'
import { configBool } from '../providers/config-values.js'
import type { HashLib, TokenRecord } from '../stores/types.js'

/** Parameters of `/admin/init` for `type=sms`. Strings are accepted for every field (HTTP). */
export interface EnrollParams {
  /** Must be `sms` when given. */
  readonly type?: string | undefined
  readonly user?: string | undefined
  readonly realm?: string | undefined
  /** Mandatory. */
  readonly phone?: string | undefined
  readonly pin?: string | undefined
  /** @default `LSSM` + 8 random hex digits */
  readonly serial?: string | undefined
  /** Hex seed (spaces and dashes ignored), at least 16 bytes. Excludes `genkey`. */
  readonly otpkey?: string | undefined
  readonly genkey?: string | boolean | undefined
  /** @default config `DefaultOtpLen` (6) */
  readonly otplen?: string | number | undefined
  /** @default 'sha1' */
  readonly hashlib?: string | undefined
  readonly description?: string | undefined
  readonly maxfail?: string | number | undefined
}

export interface EnrollDefaults {
  readonly otplen: number
  readonly maxfail: number
  readonly countWindow: number
}

export const MAX_PIN_LENGTH = 128
const SERIAL = /^[A-Za-z0-9_.:-]{1,64}$/

/** Builds the record for a new token (not yet stored). `owner` is already resolved. */
export function buildToken(
  params: EnrollParams,
  owner: { user: string | null; realm: string | null },
  defaults: EnrollDefaults,
  secrets: Secrets,
  now: number,
): TokenRecord {
  if (params.type !== undefined && params.type.toLowerCase() !== 'sms') {
    throw new ParameterError(`type: only 'sms' tokens are supported, got ${JSON.stringify(params.type.slice(0, 20))}`)
  }
  const phone = validatePhone(params.phone)
  const serial = params.serial ?? `LSSM${randomBytes(4).toString('hex').toUpperCase()}`
  if (!SERIAL.test(serial)) throw new ParameterError('serial: 1 to 64 letters, digits, _ . : - only')
  const genkey = params.genkey !== undefined && configBool(params.genkey)
  if (genkey && params.otpkey !== undefined) throw new ParameterError("give either 'otpkey' or 'genkey', not both")
  let seed: Buffer
  if (params.otpkey !== undefined) {
    const parsed = parseHexSeed(params.otpkey)
    if (parsed === undefined) throw new ParameterError('otpkey: must be hexadecimal (an even number of 0-9 a-f digits, at most 128 bytes)')
    if (parsed.length < 16) throw new ParameterError('otpkey: must be at least 16 bytes (32 hex digits, RFC 4226)')
    seed = parsed
  } else {
    seed = randomBytes(20)
  }
  const pin = params.pin ?? ''
  if (pin.length > MAX_PIN_LENGTH) throw new ParameterError(`pin: longer than ${MAX_PIN_LENGTH} characters`)
  const description = params.description ?? ''
  if (description.length > 256) throw new ParameterError('description: longer than 256 characters')
  return {
    serial,
    type: 'sms',
    user: owner.user,
    realm: owner.realm,
    phone,
    pinHash: secrets.hashPin(pin),
    seed: secrets.encryptSeed(serial, seed),
    hashlib: parseHashlib(params.hashlib),
    otplen: parseOtplen(params.otplen ?? defaults.otplen),
    counter: 0,
    failcount: 0,
    maxfail: params.maxfail === undefined ? defaults.maxfail : parseMaxFail(params.maxfail),
    countWindow: defaults.countWindow,
    active: true,
    description,
    createdAt: now,
  }
}

export function parseHashlib(value: string | undefined): HashLib {
  const v = (value ?? 'sha1').trim().toLowerCase()
  if (v === 'sha1' || v === 'sha256' || v === 'sha512') return v
  throw new ParameterError('hashlib: expected sha1, sha256 or sha512')
}

export function parseOtplen(value: string | number): 6 | 8 {
  const n = Number(value)
  if (n === 6 || n === 8) return n
  throw new ParameterError('otplen: expected 6 or 8')
}

export function parseMaxFail(value: string | number): number {
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new ParameterError('MaxFailCount: expected an integer from 1 to 1000000')
  return n
}
