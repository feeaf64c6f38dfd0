/**
 * Options of {@link SmsOtpStrategy}, validated once at construction (coded TypeErrors naming the
 * option) and frozen, and the bounded reading of its form fields.
 */
import type * as express from 'express'
import { invalidOption } from '../src/errors.js'
import { handleHome, loginOf, sessionHome, type PendingHome } from '../src/login/pending.js'
import type { SmsOtp } from '../src/sms-otp.js'

/** Who answers the second factor: the engine's login and realm. */
export interface SecondFactorUser {
  readonly user: string
  readonly realm?: string | undefined
  /**
   * A phone the host vouches for (a verified OIDC `phone_number` claim), used only to auto-enrol
   * a user without a token whose directory entry has no `mobile` (policy `autoenrollment`).
   */
  readonly phone?: string | undefined
}

/** Options of the Passport strategy. */
export interface SmsOtpStrategyOptions {
  /** The engine (`await createSmsOtp(...)`). */
  readonly otp: SmsOtp
  /** Strategy name for `passport.authenticate(name)`. @default 'sms-otp' */
  readonly name?: string
  /**
   * `'pin'`: the strategy checks username + PIN itself (`otp.check`), then the OTP.
   * `'external'`: another strategy did the first factor; this one works on `req.user` and only
   * does the SMS step (`otp.trigger`, `otp.verify`).
   * @default 'pin'
   */
  readonly firstFactor?: 'pin' | 'external'
  /**
   * Where the pending challenge lives: `'session'` (`req.session[sessionKey]`) or `'handle'`
   * (a bounded in-process LRU keyed by an unguessable handle returned to the client, for
   * stateless APIs; one process only).
   * @default 'session'
   */
  readonly home?: 'session' | 'handle'
  /** @default 'smsOtp' */
  readonly sessionKey?: string
  /** Bounds of the handle home. @default { max: 10000 } */
  readonly lru?: { readonly max?: number }
  /** Realm passed to the engine. @default the engine's default realm */
  readonly realm?: string
  /** After the SMS is sent, redirect here (session home only) instead of failing with the challenge. */
  readonly otpUrl?: string
  /** Lifetime of a pending challenge in the face, in seconds. @default 300 */
  readonly ttlSeconds?: number
  /** Wrong answers allowed per challenge before the browser must start over. @default 3 */
  readonly maxAttempts?: number
  /** Form field names. @default { username: 'username', password: 'password', otp: 'otp', transactionId: 'transactionId', handle: 'handle', resend: 'resend' } */
  readonly fields?: Partial<Fields>
  /**
   * `'external'` mode: the engine user behind `req.user`.
   * @default a string `req.user`, or its `username` property
   * @example (user) => ({ user: (user as { email: string }).email, realm: 'staff' })
   */
  readonly userOf?: (reqUser: unknown) => SecondFactorUser | string
  /**
   * `'pin'` mode: the value handed to `success()`. @default `{ username, realm }`
   */
  readonly toUser?: (who: SecondFactorUser) => Express.User | Promise<Express.User>
  /** End user's address for client-subnet policies. @default `req.ip` (set Express `trust proxy` behind a proxy) */
  readonly client?: (req: express.Request) => string | undefined
}

export interface Fields {
  username: string
  password: string
  otp: string
  transactionId: string
  handle: string
  /** Any non-empty value asks for a new SMS for the open challenge (no PIN again). */
  resend: string
}

/** The checked, frozen options. */
export interface Resolved {
  readonly otp: SmsOtp
  readonly name: string
  readonly firstFactor: 'pin' | 'external'
  readonly home: PendingHome
  readonly realm: string | undefined
  readonly otpUrl: string | undefined
  readonly ttlMs: number
  readonly maxAttempts: number
  readonly fields: Readonly<Fields>
  readonly userOf: (reqUser: unknown) => SecondFactorUser | string | undefined
  readonly toUser: (who: SecondFactorUser) => Express.User | Promise<Express.User>
  readonly client: (req: express.Request) => string | undefined
}

const DEFAULT_FIELDS: Fields = { username: 'username', password: 'password', otp: 'otp', transactionId: 'transactionId', handle: 'handle', resend: 'resend' }

export function resolveOptions(options: SmsOtpStrategyOptions): Resolved {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object with at least `otp`')
  const otp = options.otp as unknown
  if (typeof otp !== 'object' || otp === null || typeof (otp as SmsOtp).check !== 'function' || typeof (otp as SmsOtp).verify !== 'function') {
    throw invalidOption('otp', 'the engine from `await createSmsOtp(...)`')
  }
  const firstFactor = options.firstFactor ?? 'pin'
  if (firstFactor !== 'pin' && firstFactor !== 'external') throw invalidOption('firstFactor', "'pin' or 'external'")
  const homeKind = options.home ?? 'session'
  if (homeKind !== 'session' && homeKind !== 'handle') throw invalidOption('home', "'session' or 'handle'")
  const sessionKey = options.sessionKey ?? 'smsOtp'
  if (typeof sessionKey !== 'string' || !/^[A-Za-z_$][\w$]{0,63}$/.test(sessionKey) || sessionKey === '__proto__' || sessionKey === 'cookie') {
    throw invalidOption('sessionKey', "a plain identifier other than 'cookie'")
  }
  const ttlSeconds = options.ttlSeconds ?? 300
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400) throw invalidOption('ttlSeconds', 'an integer from 1 to 86400')
  const maxAttempts = options.maxAttempts ?? 3
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) throw invalidOption('maxAttempts', 'an integer from 1 to 100')
  const name = options.name ?? 'sms-otp'
  if (typeof name !== 'string' || name === '') throw invalidOption('name', 'a non-empty string')
  if (options.realm !== undefined && (typeof options.realm !== 'string' || options.realm === '')) throw invalidOption('realm', 'a non-empty string')
  if (options.otpUrl !== undefined) {
    // Relative paths or absolute http(s) URLs only: no `javascript:` and friends.
    if (typeof options.otpUrl !== 'string' || !/^(\/(?!\/)|https?:\/\/)/.test(options.otpUrl)) throw invalidOption('otpUrl', 'a path starting with / or an http(s) URL')
    // A redirect cannot carry the handle without putting it in URLs (logs, Referer).
    if (homeKind !== 'session') throw invalidOption('otpUrl', "needs home: 'session'")
  }
  const fields = { ...DEFAULT_FIELDS, ...options.fields }
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v !== 'string' || v === '') throw invalidOption(`fields.${k}`, 'a non-empty string')
  }
  if (new Set(Object.values(fields)).size !== Object.keys(fields).length) throw invalidOption('fields', 'every field needs its own name')
  for (const fn of ['userOf', 'toUser', 'client'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function') throw invalidOption(fn, 'a function')
  }
  const max = options.lru?.max ?? 10_000
  const home = homeKind === 'session' ? sessionHome(sessionKey) : handleHome({ max, ttlMs: ttlSeconds * 1000 })
  return Object.freeze({
    otp: options.otp,
    name,
    firstFactor,
    home,
    realm: options.realm,
    otpUrl: options.otpUrl,
    ttlMs: ttlSeconds * 1000,
    maxAttempts,
    fields: Object.freeze(fields),
    userOf: options.userOf ?? loginOf,
    toUser: options.toUser ?? ((who: SecondFactorUser) => ({ username: who.user, realm: who.realm ?? null })),
    client: options.client ?? ((req: express.Request) => req.ip),
  })
}

/** Longest accepted form value, in characters. */
export const MAX_FIELD = 256

/**
 * Reads the named form fields. Anything that is not a short, clean string (an array from `a=1&a=2`,
 * an object from `a[b]=1`, a number from JSON, 1 MB, control characters or U+FFFD from invalid
 * UTF-8) makes the whole request bad: `undefined` is returned and nothing is stored.
 */
export function readFields(body: unknown, names: readonly string[]): Record<string, string | undefined> | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const out: Record<string, string | undefined> = {}
  for (const name of names) {
    const v: unknown = Object.hasOwn(body, name) ? (body as Record<string, unknown>)[name] : undefined
    if (v === undefined || v === '') {
      out[name] = undefined
      continue
    }
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    if (typeof v !== 'string' || v.length > MAX_FIELD || /[\u0000-\u001f\u007f\ufffd]/.test(v)) return undefined
    out[name] = v
  }
  return out
}
