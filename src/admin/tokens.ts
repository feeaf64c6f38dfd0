/**
 * Token administration (`/admin/init`, `show`, `remove`, `enable`, `disable`, `reset`, `set`).
 * The seed and the PIN hash never leave this module.
 */
import type { Core } from '../core.js'
import { OtpError, ParameterError } from '../errors.js'
import { maskPhone, validatePhone } from '../phone/index.js'
import type { TokenPatch, TokenRecord } from '../stores/types.js'
import { MAX_PIN_LENGTH, buildToken, parseMaxFail, type EnrollParams } from '../tokens/enroll.js'
import { AUTO_SERIAL_PREFIX } from '../validate/autoenroll.js'
import { isDecoy } from '../validate/decoy.js'
import { resolveUser } from '../validate/user.js'

/** A token as the library lists it (`otp.tokens.show`): typed, camelCase. No seed, no PIN hash. */
export interface TokenInfo {
  readonly serial: string
  readonly type: 'sms'
  /** Owner's login, or null for an unassigned token. */
  readonly user: string | null
  readonly realm: string | null
  readonly phone: string
  readonly description: string
  readonly active: boolean
  readonly failcount: number
  readonly maxfail: number
  /** The HOTP counter of the last OTP sent. */
  readonly counter: number
  readonly countWindow: number
  readonly otplen: 6 | 8
  readonly hashlib: 'sha1' | 'sha256' | 'sha512'
  /** Epoch ms. */
  readonly createdAt: number
}

/** A token as `/admin/show` lists it on the wire (LinOTP names). */
export interface TokenView {
  'LinOtp.TokenSerialnumber': string
  'LinOtp.TokenType': 'sms'
  'LinOtp.Username': string
  'LinOtp.RealmNames': string[]
  'LinOtp.TokenDesc': string
  'LinOtp.Isactive': boolean
  'LinOtp.FailCount': number
  'LinOtp.MaxFail': number
  'LinOtp.Count': number
  'LinOtp.CountWindow': number
  'LinOtp.OtpLen': number
  'LinOtp.TokenInfo': { phone: string; hashlib: string }
}

export function tokenInfo(t: TokenRecord): TokenInfo {
  return {
    serial: t.serial,
    type: 'sms',
    user: t.user,
    realm: t.realm,
    phone: t.phone,
    description: t.description,
    active: t.active,
    failcount: t.failcount,
    maxfail: t.maxfail,
    counter: t.counter,
    countWindow: t.countWindow,
    otplen: t.otplen,
    hashlib: t.hashlib,
    createdAt: t.createdAt,
  }
}

/** LinOTP's names for a listed token (the admin router's answer). */
export function tokenView(t: TokenInfo): TokenView {
  return {
    'LinOtp.TokenSerialnumber': t.serial,
    'LinOtp.TokenType': 'sms',
    'LinOtp.Username': t.user ?? '',
    'LinOtp.RealmNames': t.realm === null ? [] : [t.realm],
    'LinOtp.TokenDesc': t.description,
    'LinOtp.Isactive': t.active,
    'LinOtp.FailCount': t.failcount,
    'LinOtp.MaxFail': t.maxfail,
    'LinOtp.Count': t.counter,
    'LinOtp.CountWindow': t.countWindow,
    'LinOtp.OtpLen': t.otplen,
    'LinOtp.TokenInfo': { phone: t.phone, hashlib: t.hashlib },
  }
}

/** What {@link initToken} takes: LinOTP's `/admin/init` parameters and sms-otp's `reenroll`. */
export interface InitParams extends EnrollParams {
  /**
   * Without a `serial`, a user who already owns a token is refused (`ERR_OTP_TOKEN_EXISTS`)
   * unless this is true (`true`, `1` on the wire): then the user gets one more token, the old
   * ones stay (remove them with `tokens.remove`). Ignored with an explicit `serial` (a taken
   * serial is refused anyway) and for unassigned tokens. @default false
   */
  readonly reenroll?: boolean | string | undefined
}

/** Largest page `/admin/show` and `tokens.show` hand out at once. */
export const MAX_PAGE_SIZE = 10_000
/** Page size when none is asked for (the store's own bound). */
export const DEFAULT_PAGE_SIZE = 1000
/** Every token of a query: no store limit in practice. */
const ALL = Number.MAX_SAFE_INTEGER

/**
 * Enrols an SMS token; returns its serial.
 * @throws ParameterError `ERR_OTP_TOKEN_EXISTS` when, without a serial, the user has a token already and `reenroll` is not set
 */
export async function initToken(core: Core, params: InitParams): Promise<string> {
  // Auto-enrolment derives its serials from the user; one made by hand would block that user's.
  if (params.serial?.toUpperCase().startsWith(AUTO_SERIAL_PREFIX)) throw new ParameterError(`serial: the prefix ${AUTO_SERIAL_PREFIX} is reserved for auto-enrolled tokens`)
  const owner = ownerOf(core, params.user, params.realm)
  if (params.serial === undefined && owner.user !== null && !isTrue(params.reenroll)) {
    const owned = (await core.store.tokens.list({ user: owner.user }, ALL)).filter((t) => t.realm === owner.realm && !isDecoy(t.serial))
    if (owned.length > 0) {
      const serials = owned.slice(0, 3).map((t) => t.serial).join(', ')
      throw new ParameterError(
        `user '${owner.user.slice(0, 64)}' has a token already (${serials}${owned.length > 3 ? ', ...' : ''}): pass reenroll=true to enrol another one, or a serial`,
        'ERR_OTP_TOKEN_EXISTS',
      )
    }
  }
  const config = core.settings.config
  const token = buildToken(
    params,
    owner,
    { otplen: config.int('DefaultOtpLen'), maxfail: config.int('DefaultMaxFailCount'), countWindow: config.int('DefaultCountWindow') },
    core.secrets,
    core.clock.now(),
  )
  await core.store.tokens.create(token)
  core.logger.info({ serial: token.serial, user: owner.user, realm: owner.realm, phone: maskPhone(token.phone) }, 'token enrolled')
  return token.serial
}

/** Which tokens {@link showTokens} and {@link pageTokens} list, and which slice of them. */
export interface ShowFilter {
  readonly serial?: string | undefined
  readonly user?: string | undefined
  readonly realm?: string | undefined
  /** At most this many tokens (1 … {@link MAX_PAGE_SIZE}). @default 1000 */
  readonly limit?: number | undefined
  /** Skip this many first (tokens are ordered by serial). @default 0 */
  readonly offset?: number | undefined
}

/** One page of tokens and how many match in all. */
export interface TokenPage {
  readonly tokens: TokenInfo[]
  /** Tokens matching the filter, all pages together. */
  readonly total: number
}

/** What {@link showTokens} returns: the page, and (not enumerable) how many match in all. */
export type TokenList = TokenInfo[] & { readonly total?: number }

/**
 * Tokens by serial and/or owner, ordered by serial, `limit` of them from `offset` on. The array
 * carries `total`, the number of matching tokens over all pages (a non-enumerable property, so
 * the array compares and serialises as a plain list).
 */
export async function showTokens(core: Core, filter: ShowFilter): Promise<TokenList> {
  const { tokens, total } = await pageTokens(core, filter)
  return Object.defineProperty(tokens, 'total', { value: total, enumerable: false })
}

/**
 * Like {@link showTokens}, with the number of all matching tokens (`total`), for paging.
 * @throws ParameterError for a limit outside 1 … {@link MAX_PAGE_SIZE} or a negative offset
 */
export async function pageTokens(core: Core, filter: ShowFilter): Promise<TokenPage> {
  const limit = filter.limit ?? DEFAULT_PAGE_SIZE
  const offset = filter.offset ?? 0
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new ParameterError(`limit: expected an integer from 1 to ${MAX_PAGE_SIZE}`)
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ParameterError('offset: expected an integer, 0 or more')
  let matching: TokenRecord[]
  if (filter.serial !== undefined) {
    const t = isDecoy(filter.serial) ? undefined : await core.store.tokens.get(filter.serial)
    matching = t ? [t] : []
  } else if (filter.user !== undefined) {
    const owner = ownerOf(core, filter.user, filter.realm)
    matching = (await core.store.tokens.list({ user: owner.user ?? '' }, ALL)).filter((t) => t.realm === owner.realm)
  } else {
    matching = (await core.store.tokens.list(filter.realm === undefined ? {} : { realm: filter.realm.toLowerCase() }, ALL)).filter((t) => !isDecoy(t.serial))
  }
  return { tokens: matching.slice(offset, offset + limit).map(tokenInfo), total: matching.length }
}

/** Selects tokens by serial or by user (LinOTP admin semantics); at least one must be given. */
export async function selectTokens(core: Core, serial: string | undefined, user: string | undefined, realm: string | undefined): Promise<TokenRecord[]> {
  if (serial !== undefined) {
    const t = isDecoy(serial) ? undefined : await core.store.tokens.get(serial)
    return t ? [t] : []
  }
  if (user === undefined) throw new ParameterError("Missing parameter: 'serial' or 'user'")
  const owner = ownerOf(core, user, realm)
  return (await core.store.tokens.list({ user: owner.user ?? '' })).filter((t) => t.realm === owner.realm)
}

export async function removeTokens(core: Core, tokens: TokenRecord[]): Promise<number> {
  let n = 0
  for (const t of tokens) {
    await core.store.challenges.removeForToken(t.serial)
    if (await core.store.tokens.remove(t.serial)) n++
  }
  return n
}

export async function patchTokens(core: Core, tokens: TokenRecord[], patch: TokenPatch): Promise<number> {
  let n = 0
  for (const t of tokens) if (await core.store.tokens.update(t.serial, patch)) n++
  return n
}

/** `/admin/set` parameters turned into a patch: pin, phone, MaxFailCount. */
export function setPatch(core: Core, params: { pin?: string | undefined; phone?: string | undefined; MaxFailCount?: string | undefined }): TokenPatch {
  const patch: { -readonly [K in keyof TokenPatch]: TokenPatch[K] } = {}
  if (params.pin !== undefined) {
    if (params.pin.length > MAX_PIN_LENGTH) throw new ParameterError(`pin: longer than ${MAX_PIN_LENGTH} characters`)
    patch.pinHash = core.secrets.hashPin(params.pin)
  }
  if (params.phone !== undefined) patch.phone = validatePhone(params.phone)
  if (params.MaxFailCount !== undefined) patch.maxfail = parseMaxFail(params.MaxFailCount)
  if (Object.keys(patch).length === 0) throw new ParameterError("Missing parameter: one of 'pin', 'phone', 'MaxFailCount'")
  return patch
}

function ownerOf(core: Core, user: string | undefined, realm: string | undefined): { user: string | null; realm: string | null } {
  if (user === undefined || user.trim() === '') {
    return { user: null, realm: realm === undefined || realm.trim() === '' ? null : checkRealm(core, realm.trim().toLowerCase()) }
  }
  if (user.length > 256) throw new ParameterError('user: longer than 256 characters')
  const who = resolveUser(core.settings, user, realm)
  return { user: who.login, realm: who.realm === null ? null : checkRealm(core, who.realm) }
}

function isTrue(v: boolean | string | undefined): boolean {
  return v === true || (typeof v === 'string' && ['true', '1', 'yes'].includes(v.trim().toLowerCase()))
}

function checkRealm(core: Core, realm: string): string {
  if (core.settings.realms.length > 0 && !core.settings.realms.some((r) => r.name === realm)) {
    throw new OtpError('ERR_OTP_INVALID_PARAMETER', `realm '${realm.slice(0, 64)}' does not exist`)
  }
  return realm
}
