/**
 * Options of `requireSecondFactor()`, validated once at construction (coded TypeErrors naming the
 * option) and frozen, and the same-origin check for the "back to where you were" redirect.
 */
import type { Request } from 'express'
import { invalidOption } from '../src/errors.js'
import { DeviceSigner } from '../src/login/devices.js'
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
  /**
   * "Remember this device": when `verify` receives the field `remember` (any of `1`, `on`,
   * `true`, `yes`), the browser gets a signed cookie that skips the SMS for this user for `days`.
   * Revoke with `otp.devices.revoke({ user, realm })` or `otp.devices.revokeAll()`.
   * @default off
   * @example { days: 30, secret: process.env.DEVICE_SECRET } // 32+ bytes, kept across restarts
   */
  readonly rememberDevice?: RememberDeviceOptions
}

/** Options of the remembered-device cookie. */
export interface RememberDeviceOptions {
  /** Days a remembered device skips the SMS (1 to 365). */
  readonly days: number
  /** HMAC key of the cookie: at least 32 bytes, the same on every instance and across restarts. */
  readonly secret: string | Buffer
  /** @default 'smsOtpDevice' */
  readonly cookieName?: string
  /** Send the cookie over HTTPS only. Browsers treat http://localhost as secure too. @default true */
  readonly secure?: boolean
  /** The form / JSON field of `verify` that asks to remember. @default 'remember' */
  readonly field?: string
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
  readonly remember: { readonly signer: DeviceSigner; readonly ms: number; readonly cookieName: string; readonly secure: boolean; readonly field: string } | undefined
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
    remember: resolveRemember(options.rememberDevice, fields),
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

function resolveRemember(r: RememberDeviceOptions | undefined, fields: { otp: string; transactionId: string }): ResolvedGate['remember'] {
  if (r === undefined) return undefined
  if (typeof r !== 'object' || r === null) throw invalidOption('rememberDevice', 'an object { days, secret }')
  if (!Number.isSafeInteger(r.days) || r.days < 1 || r.days > 365) throw invalidOption('rememberDevice.days', 'an integer from 1 to 365')
  const cookieName = r.cookieName ?? 'smsOtpDevice'
  // RFC 6265 token characters only: the name goes into a Set-Cookie header as is.
  if (typeof cookieName !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(cookieName)) throw invalidOption('rememberDevice.cookieName', 'letters, digits, _ and - (1 to 64)')
  const field = r.field ?? 'remember'
  if (typeof field !== 'string' || field === '' || field === fields.otp || field === fields.transactionId) throw invalidOption('rememberDevice.field', 'a non-empty field name of its own')
  if (r.secure !== undefined && typeof r.secure !== 'boolean') throw invalidOption('rememberDevice.secure', 'a boolean')
  return Object.freeze({ signer: new DeviceSigner(r.secret), ms: r.days * 86_400_000, cookieName, secure: r.secure ?? true, field })
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
