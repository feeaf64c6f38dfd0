/**
 * LinOTP-compatible `/admin/*` and `/system/*` routers, protected by a bearer token. With no token
 * configured the routes do not exist (404): the admin API is never open without a credential.
 *
 * Every request is audited (middleware/admin-audit.ts), refused credentials are throttled per
 * client address (middleware/throttle.ts), only GET and POST act, and every request has a
 * deadline after which it answers 504.
 */
import type { Registry } from 'prom-client'
import { Router, type RequestHandler, type Response } from 'express'
import { createHash, timingSafeEqual } from 'node:crypto'
import { OtpError, ParameterError, invalidOption } from '../src/errors.js'
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, tokenView } from '../src/admin/tokens.js'
import { parseProviderTimeout } from '../src/settings/providers.js'
import { LINOTP_CLASS, LINOTP_TYPE } from '../src/users/definitions.js'
import type { SmsOtp } from '../src/sms-otp.js'
import { auditAdmin, noteError, noteOf, noteSelection, type AdminNote } from './admin-audit.js'
import { DEFAULT_ADMIN_TIMEOUT_MS, allowGetAndPost, deadline, refuseCredentialsInUrl } from './guards.js'
import { envelope, errorEnvelope, normaliseIp, param, parseParams, required, type Params } from './http.js'
import { FailureThrottle, addressKey, type ThrottleOptions } from './throttle.js'

export interface AdminOptions {
  /** Bearer token admins must present, at least 16 characters. Empty or absent: admin API answers 404. */
  readonly token?: string | undefined
  /** Deadline of every admin request in ms; then it answers 504 `ERR_OTP_TIMEOUT`. @default 30_000 */
  readonly timeoutMs?: number | undefined
  /**
   * Back-off for refused credentials per client address (429 `ERR_OTP_RATE_LIMITED`), on the
   * engine's clock unless one is given; `false` turns it off.
   * @default 5 refusals per minute block for 30 s, doubling up to 1 h
   */
  readonly throttle?: ThrottleOptions | false | undefined
  /** Refuse GET requests carrying `pin`, `otpkey` or `config`, and those parameters in any URL. @default false */
  readonly noGet?: boolean | undefined
  /**
   * Serve these metrics at `GET /metrics`, behind the same token and throttle as the admin API
   * (refused scrapes are audited, accepted ones are not). @default undefined (404)
   */
  readonly metrics?: Registry | undefined
}

/** Shortest admin token accepted anywhere. */
export const MIN_ADMIN_TOKEN = 16

/** Admin parameters that are credentials: under `noGet` they must not travel in a URL. */
const ADMIN_CREDENTIALS = ['pin', 'otpkey', 'config']

/**
 * Builds the admin router.
 * @throws TypeError `ERR_OTP_INVALID_OPTION` for a token shorter than {@link MIN_ADMIN_TOKEN} or a bad deadline.
 * @example app.use(adminRouter(otp, { token: process.env.SMS_OTP_ADMIN_TOKEN, timeoutMs: 10_000 }))
 */
export function adminRouter(otp: SmsOtp, options: AdminOptions): Router {
  const router = Router()
  if (!options.token) return router
  if (options.token.length < MIN_ADMIN_TOKEN) throw invalidOption('token', `the admin token needs at least ${MIN_ADMIN_TOKEN} characters`)
  const timeoutMs = options.timeoutMs ?? DEFAULT_ADMIN_TIMEOUT_MS
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw invalidOption('timeoutMs', 'expected a positive integer (milliseconds)')
  const throttle = options.throttle === false ? undefined : new FailureThrottle({ clock: otp.core.clock, ...options.throttle })
  const guard = bearer(options.token, throttle)
  const onTimeout = (res: Response, message: string): void => {
    noteOf(res).reason = `ERR_OTP_TIMEOUT: ${message}`
  }
  for (const area of ['admin', 'system'] as const) {
    router.use(`/${area}`, auditAdmin(otp, area), guard, allowGetAndPost(), deadline(timeoutMs, onTimeout), parseParams())
    if (options.noGet) router.use(`/${area}`, refuseCredentialsInUrl(ADMIN_CREDENTIALS))
  }
  const registry = options.metrics
  if (registry) {
    router.get('/metrics', auditAdmin(otp, 'system'), guard, (_req, res, next) => {
      noteOf(res).silent = true // a scrape every few seconds is no admin action worth a record
      registry.metrics().then((text) => {
        res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(text)
      }, next)
    })
  }

  /** One admin route: notes its action and selection, runs, answers (or drops a late answer). */
  const route = (path: string, action: string, run: (q: Params, note: AdminNote) => Promise<Record<string, unknown>> | Record<string, unknown>) => {
    router.all(path, async (req, res) => {
      const note = noteOf(res)
      const q = req.smsOtpParams ?? {}
      note.action = action
      noteSelection(path.slice(1), q, note)
      const body = await run(q, note)
      if (res.headersSent) note.late(note.ok) // the deadline answered already
      else res.json(body)
    })
  }
  const selection = (q: Params) => ({ serial: param(q, 'serial'), user: param(q, 'user'), realm: param(q, 'realm') })
  const refused = (note: AdminNote, reason: string): void => {
    note.ok = false
    note.reason = reason
  }

  route('/admin/init', 'token enrolled', async (q, note) => {
    const serial = await otp.tokens.init({
      type: param(q, 'type'), user: param(q, 'user'), realm: param(q, 'realm'), phone: param(q, 'phone'), pin: param(q, 'pin'),
      serial: param(q, 'serial'), otpkey: param(q, 'otpkey'), genkey: param(q, 'genkey'), otplen: param(q, 'otplen'),
      hashlib: param(q, 'hashlib'), description: param(q, 'description'), reenroll: param(q, 'reenroll'),
    })
    note.serial = serial
    return envelope(true, { serial })
  })
  route('/admin/show', 'tokens listed', async (q, note) => {
    // LinOTP's paging: `page` (1-based) and `pagesize` (LinOTP spells it `psize`; both are read).
    const pagesize = pageNumber(param(q, 'pagesize') ?? param(q, 'psize'), 'pagesize', DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    const page = pageNumber(param(q, 'page'), 'page', 1, Number.MAX_SAFE_INTEGER)
    const offset = (page - 1) * pagesize
    if (!Number.isSafeInteger(offset)) throw new ParameterError('page: too large')
    const tokens = await otp.tokens.show({ ...selection(q), limit: pagesize, offset })
    const total = tokens.total ?? tokens.length
    note.target.count = String(tokens.length)
    const pages = Math.ceil(total / pagesize)
    return envelope({ resultset: { tokens: total, pages, pagesize, page }, data: tokens.map(tokenView) })
  })
  const tokenActions = { remove: 'tokens removed', enable: 'tokens enabled', disable: 'tokens disabled', reset: 'failcount reset' } as const
  for (const [name, action] of Object.entries(tokenActions) as Array<[keyof typeof tokenActions, string]>) {
    route(`/admin/${name}`, action, async (q, note) => {
      const n = await otp.tokens[name](selection(q))
      note.target.count = String(n)
      return envelope(n)
    })
  }
  route('/admin/set', 'token changed', async (q, note) => {
    const n = await otp.tokens.set(selection(q), { pin: param(q, 'pin'), phone: param(q, 'phone'), MaxFailCount: param(q, 'MaxFailCount') })
    note.target.count = String(n)
    return envelope(n)
  })

  // sms-otp's own: the remembered devices of requireSecondFactor({ rememberDevice }).
  route('/admin/revokeDevices', 'remembered devices revoked', async (q, note) => {
    const user = param(q, 'user')
    if (user === undefined && !isTrue(param(q, 'all'))) throw new ParameterError("Missing parameter: 'user' (or all=true)")
    if (user === undefined) {
      note.target.scope = 'all'
      await otp.devices.revokeAll()
    } else {
      await otp.devices.revoke({ user, realm: param(q, 'realm') })
    }
    return envelope(true)
  })

  route('/system/setProvider', 'provider set', async (q, note) => {
    note.codeOnly = true // provider errors may quote the configuration
    checkType(q)
    const name = required(q, 'name')
    const className = required(q, 'class')
    const timeout = parseProviderTimeout(param(q, 'timeout'))
    const warnings = await otp.providers.set({ name, className, config: param(q, 'config') ?? '', timeout }, isTrue(param(q, 'default')), { origin: 'admin' })
    return envelope(true, warnings.length ? { warnings } : undefined)
  })
  route('/system/getProvider', 'providers read', (q) => {
    checkType(q)
    const name = param(q, 'name')
    const listed = otp.providers.list().filter((pr) => name === undefined || pr.name === name)
    return envelope(Object.fromEntries(listed.map((pr) => [pr.name, { Class: pr.className, Config: pr.config, Timeout: String(pr.timeout), Default: pr.default }])))
  })
  route('/system/delProvider', 'provider deleted', async (q, note) => {
    checkType(q)
    const refusal = await otp.providers.delete(required(q, 'name'))
    if (refusal !== undefined) refused(note, refusal)
    return refusal === undefined ? envelope(true) : envelope(false, { message: refusal })
  })
  route('/system/setDefaultProvider', 'default provider set', async (q, note) => {
    checkType(q)
    const name = required(q, 'name')
    if (await otp.providers.setDefault(name)) return envelope(true)
    refused(note, `Unknown provider! '${name}'`)
    return envelope(false, { message: `Unknown provider! '${name}'` })
  })
  route('/system/testProvider', 'provider tested', async (q, note) => {
    note.codeOnly = true // gateway replies may hold anything
    const result = await otp.providers.test(required(q, 'name'), param(q, 'phone'))
    if (result.status !== 'sent') refused(note, `provider test: ${result.status}`)
    return envelope(result.status === 'sent', { ...result })
  })

  route('/system/setPolicy', 'policy set', async (q) => {
    const policy = await otp.policies.set({ ...q, name: required(q, 'name') })
    return envelope({ [`setPolicy ${policy.name}`]: true }, { policy })
  })
  route('/system/getPolicy', 'policies read', (q) => {
    const name = param(q, 'name')
    return envelope(Object.fromEntries(otp.policies.list().filter((x) => name === undefined || x.name === name).map((x) => [x.name, x])))
  })
  route('/system/delPolicy', 'policy deleted', async (q, note) => {
    const name = required(q, 'name')
    const deleted = await otp.policies.delete(name)
    if (!deleted) refused(note, 'no such policy')
    return envelope({ [`delPolicy ${name}`]: deleted })
  })

  route('/system/setConfig', 'config set', async (q) => {
    const entries = { ...q }
    if (Object.keys(entries).length === 0) throw new ParameterError('Missing parameter: give one or more key=value pairs')
    const { keys, warnings } = await otp.config.set(entries)
    return envelope(Object.fromEntries(keys.map((k) => [`setConfig ${k}:${entries[k]}`, true])), warnings.length ? { warnings } : undefined)
  })
  route('/system/getConfig', 'config read', (q) => {
    const key = param(q, 'key')
    const hidden = Object.fromEntries(Object.entries(otp.config.get()).filter(([k]) => k !== 'SMSProviderConfig'))
    return envelope(key === undefined ? hidden : { [`getConfig ${key}`]: hidden[key] ?? null })
  })
  route('/system/delConfig', 'config deleted', async (q, note) => {
    const key = required(q, 'key')
    const deleted = await otp.config.delete(key)
    if (!deleted) refused(note, 'no such key')
    return envelope({ [`delConfig ${key}`]: deleted })
  })
  route('/system/setRealm', 'realm set', async (q, note) => {
    const list = param(q, 'resolvers')
    const resolvers = list?.split(',').map((r) => r.trim()).filter((r) => r !== '')
    if (resolvers !== undefined) note.target.resolvers = resolvers.join(',').slice(0, 512)
    await otp.realms.set(required(q, 'realm'), { default: isTrue(param(q, 'default')), ...(resolvers === undefined ? {} : { resolvers }) })
    return envelope(true)
  })
  route('/system/getRealms', 'realms read', () => envelope(Object.fromEntries(otp.realms.list().map((r) => [r.name, realmView(otp, r)]))))
  route('/system/delRealm', 'realm deleted', async (q, note) => {
    const realm = required(q, 'realm')
    const deleted = await otp.realms.delete(realm)
    if (!deleted) refused(note, 'no such realm')
    return envelope({ [`delRealm ${realm.trim().toLowerCase()}`]: deleted })
  })
  route('/system/setDefaultRealm', 'default realm set', async (q, note) => {
    const realm = required(q, 'realm')
    if (await otp.realms.setDefault(realm)) return envelope(true)
    refused(note, 'no such realm')
    return envelope(false, { message: `Unknown realm! '${realm.slice(0, 64)}'` })
  })
  route('/system/getDefaultRealm', 'default realm read', () => {
    const name = otp.realms.getDefault()
    const realm = otp.realms.list().find((r) => r.name === name)
    return envelope(realm === undefined ? {} : { [realm.name]: realmView(otp, realm) })
  })

  // User resolvers (LinOTP passwdresolver / ldapresolver). BINDPW is neither shown nor audited.
  route('/system/setResolver', 'resolver set', async (q, note) => {
    const name = required(q, 'name')
    note.target.resolver = name.slice(0, 64)
    const { name: _name, type, session: _session, ...params } = q
    const warnings = await otp.resolvers.set({ name, type: type ?? '', params }, { origin: 'admin' })
    return envelope(true, warnings.length ? { warnings } : undefined)
  })
  route('/system/getResolvers', 'resolvers read', () => envelope(Object.fromEntries(otp.resolvers.list().map((r) => [r.name, resolverView(r, false)]))))
  route('/system/getResolver', 'resolver read', (q, note) => {
    const name = required(q, 'resolver')
    note.target.resolver = name.slice(0, 64)
    const found = otp.resolvers.get(name)
    if (found === undefined) throw new ParameterError(`no resolver '${name.slice(0, 64)}'`)
    return envelope(resolverView(found, true))
  })
  route('/system/delResolver', 'resolver deleted', async (q, note) => {
    const name = required(q, 'resolver')
    note.target.resolver = name.slice(0, 64)
    const deleted = await otp.resolvers.delete(name)
    if (!deleted) refused(note, 'no such resolver')
    return envelope({ [`delResolver ${name.slice(0, 64)}`]: deleted })
  })

  router.use(['/admin', '/system'], noteError())
  return router
}

/**
 * `Authorization: Bearer <token>`, compared in constant time, behind the per-address throttle:
 * a blocked address gets 429 without its credential being looked at.
 */
function bearer(token: string, throttle: FailureThrottle | undefined): RequestHandler {
  const expected = createHash('sha256').update(token).digest()
  return (req, res, next) => {
    const note = noteOf(res)
    const key = addressKey(normaliseIp(req.socket.remoteAddress) ?? 'unknown')
    const state = throttle?.check(key)
    if (state?.blocked) {
      const seconds = Math.max(1, Math.ceil(state.retryAfterMs / 1000))
      note.action = 'credential refused'
      note.reason = `rate limited: ${state.refused} request(s) refused in this block, ${seconds} s left`
      // A burst is summarised: records for the 1st, 2nd, 4th, 8th ... refused request of a block.
      note.silent = (state.refused & (state.refused - 1)) !== 0
      res.status(429).set('Retry-After', String(seconds)).json(errorEnvelope('ERR_OTP_RATE_LIMITED', `too many refused credentials from this address; retry after ${seconds} s`))
      return
    }
    const header = req.headers.authorization
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
    const given = createHash('sha256').update(m?.[1] ?? '').digest()
    if (m && timingSafeEqual(given, expected)) {
      throttle?.succeed(key)
      return next()
    }
    const why = header === undefined ? 'admin credential missing' : m ? 'admin credential wrong' : 'not a bearer credential'
    const blockedFor = throttle?.fail(key)
    note.action = 'credential refused'
    note.reason = blockedFor === undefined ? why : `${why}; address blocked for ${Math.ceil(blockedFor / 1000)} s`
    res.status(401).set('WWW-Authenticate', 'Bearer realm="sms-otp admin"').json(errorEnvelope('ERR_OTP_UNAUTHORIZED', 'admin credential missing or wrong'))
  }
}

type ResolverListing = ReturnType<SmsOtp['resolvers']['list']>[number]
type RealmListing = ReturnType<SmsOtp['realms']['list']>[number]

/** LinOTP's spelling of a resolver in a realm: `useridresolver.LDAPIdResolver.IdResolver.<name>`. */
function resolverSpec(r: ResolverListing | undefined, name: string): string {
  return r === undefined || r.type === 'code' ? name : `${LINOTP_CLASS[r.type]}.${name}`
}

function resolverView(r: ResolverListing, withParams: boolean): Record<string, unknown> {
  const type = r.type === 'code' ? 'code' : LINOTP_TYPE[r.type]
  return { resolvername: r.name, type, origin: r.origin, spec: resolverSpec(r, r.name), ...(withParams ? { data: r.params } : {}) }
}

function realmView(otp: SmsOtp, r: RealmListing): Record<string, unknown> {
  const all = otp.resolvers.list()
  return { realmname: r.name, default: r.default, resolvers: r.resolvers, useridresolver: r.resolvers.map((n) => resolverSpec(all.find((x) => x.name === n), n)) }
}

function checkType(q: Params): void {
  const type = param(q, 'type')
  if (type !== undefined && type.toLowerCase() !== 'sms') throw new OtpError('ERR_OTP_INVALID_PARAMETER', "type: only 'sms' providers are supported")
}

/** A whole number from 1 to `max` (a paging parameter), or `fallback` when absent or empty. */
function pageNumber(v: string | undefined, name: string, fallback: number, max: number): number {
  if (v === undefined || v.trim() === '') return fallback
  const n = /^\s*\d{1,16}\s*$/.test(v) ? Number(v) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new ParameterError(`${name}: expected a whole number from 1 to ${max}`)
  return n
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['true', '1'].includes(v.trim().toLowerCase())
}
