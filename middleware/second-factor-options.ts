/**
 * Options of `requireSecondFactor()`, validated once at construction (coded TypeErrors naming the
 * option) and frozen, and the same-origin check for the "back to where you were" redirect.
 */
import type { Request } from 'express'
import { invalidOption } from '../src/errors.js'
import { loginOf } from '../src/login/pending.js'
import type { SmsOtp } from '../src/sms-otp.js'
import type { SecondFactorUser } from '../strategies/options.js'

/** Options of `requireSecondFactor(otp, options)`. */
export interface GateOptions {
  /** The OTP page (a same-origin path): HTML requests without the factor are sent here (303). */
  readonly otpPath: string
  /** Where `verify` sends the browser when no original URL was remembered. @default '/' */
  readonly successPath?: string
  /**
   * The first factor's user. @default a string `req.user`, or its `username` property
   * @example (req) => (req.session as { user?: string }).user
   */
  readonly getUser?: (req: Request) => SecondFactorUser | string | undefined
  /** Realm passed to the engine. @default the engine's default realm */
  readonly realm?: string
  /** Lifetime of a pending challenge in the gate, in seconds. @default 300 */
  readonly ttlSeconds?: number
  /** Wrong answers allowed per challenge before a new SMS is needed. @default 3 */
  readonly maxAttempts?: number
  /** Session key of the pending challenge (shared shape with the Passport strategy). @default 'smsOtp' */
  readonly sessionKey?: string
  /** Session key of the "second factor done" marker. @default 'smsOtpVerified' */
  readonly markerKey?: string
  /** Session key of the remembered original URL. @default 'smsOtpReturnTo' */
  readonly returnKey?: string
  /** Form / JSON field names read by `verify`. @default { otp: 'otp', transactionId: 'transactionId' } */
  readonly fields?: { readonly otp?: string; readonly transactionId?: string }
  /** End user's address for client-subnet policies. @default `req.ip` (set Express `trust proxy` behind a proxy) */
  readonly client?: (req: Request) => string | undefined
}

export interface ResolvedGate {
  readonly otp: SmsOtp
  readonly otpPath: string
  /** `otpPath` without its query. */
  readonly otpPathname: string
  readonly successPath: string
  readonly getUser: (req: Request) => SecondFactorUser | string | undefined
  readonly realm: string | undefined
  readonly ttlMs: number
  readonly maxAttempts: number
  readonly sessionKey: string
  readonly markerKey: string
  readonly returnKey: string
  readonly fields: { readonly otp: string; readonly transactionId: string }
  readonly client: (req: Request) => string | undefined
}

const KEY = /^[A-Za-z_$][\w$]{0,63}$/

export function resolveGateOptions(otp: SmsOtp, options: GateOptions): ResolvedGate {
  const engine = otp as unknown
  if (typeof engine !== 'object' || engine === null || typeof (engine as SmsOtp).trigger !== 'function' || typeof (engine as SmsOtp).verify !== 'function') {
    throw invalidOption('otp', 'the engine from `await createSmsOtp(...)`')
  }
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object with at least `otpPath`')
  if (typeof options.otpPath !== 'string' || safeReturnPath(options.otpPath) !== options.otpPath) throw invalidOption('otpPath', 'a same-origin path starting with a single /')
  const successPath = options.successPath ?? '/'
  if (typeof successPath !== 'string' || safeReturnPath(successPath) !== successPath) throw invalidOption('successPath', 'a same-origin path starting with a single /')
  const ttlSeconds = options.ttlSeconds ?? 300
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400) throw invalidOption('ttlSeconds', 'an integer from 1 to 86400')
  const maxAttempts = options.maxAttempts ?? 3
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) throw invalidOption('maxAttempts', 'an integer from 1 to 100')
  if (options.realm !== undefined && (typeof options.realm !== 'string' || options.realm === '')) throw invalidOption('realm', 'a non-empty string')
  const keys = { sessionKey: options.sessionKey ?? 'smsOtp', markerKey: options.markerKey ?? 'smsOtpVerified', returnKey: options.returnKey ?? 'smsOtpReturnTo' }
  for (const [name, v] of Object.entries(keys)) {
    if (typeof v !== 'string' || !KEY.test(v) || v === '__proto__' || v === 'cookie' || v === 'passport') throw invalidOption(name, "a plain identifier other than 'cookie' and 'passport'")
  }
  if (new Set(Object.values(keys)).size !== 3) throw invalidOption('sessionKey', 'sessionKey, markerKey and returnKey must differ')
  const fields = { otp: options.fields?.otp ?? 'otp', transactionId: options.fields?.transactionId ?? 'transactionId' }
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v !== 'string' || v === '') throw invalidOption(`fields.${k}`, 'a non-empty string')
  }
  if (fields.otp === fields.transactionId) throw invalidOption('fields', 'every field needs its own name')
  for (const fn of ['getUser', 'client'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function') throw invalidOption(fn, 'a function')
  }
  return Object.freeze({
    otp,
    otpPath: options.otpPath,
    otpPathname: options.otpPath.split('?')[0] ?? options.otpPath,
    successPath,
    getUser: options.getUser ?? ((req: Request) => loginOf(req.user)),
    realm: options.realm,
    ttlMs: ttlSeconds * 1000,
    maxAttempts,
    ...keys,
    fields: Object.freeze(fields),
    client: options.client ?? ((req: Request) => req.ip),
  })
}

/**
 * `url` when it is a same-origin path, else undefined. Refused: `//host` and `/\host` (browsers
 * read both as another origin), any scheme (`https:`, `javascript:`), control characters and
 * anything longer than 2048 characters.
 */
export function safeReturnPath(url: string): string | undefined {
  if (url.length > 2048 || !url.startsWith('/')) return undefined
  if (url[1] === '/' || url[1] === '\\') return undefined
  // eslint-disable-next-line no-control-regex -- control characters (tab, newline) are stripped by browsers and hide `//`
  if (/[\u0000-\u001f\u007f\\]/.test(url)) return undefined
  return url
}
