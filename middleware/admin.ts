/**
 * LinOTP-compatible `/admin/*` and `/system/*` routers, protected by a bearer token. With no token
 * configured the routes do not exist (404): the admin API is never open without a credential.
 */
import { Router, type RequestHandler } from 'express'
import { createHash, timingSafeEqual } from 'node:crypto'
import { OtpError, ParameterError, invalidOption } from '../src/errors.js'
import { parseProviderTimeout } from '../src/settings/providers.js'
import type { SmsOtp } from '../src/sms-otp.js'
import { envelope, errorEnvelope, param, parseParams, required, type Params } from './http.js'

export interface AdminOptions {
  /** Bearer token admins must present, at least 16 characters. Empty or absent: admin API answers 404. */
  readonly token?: string | undefined
}

/** Shortest admin token accepted anywhere. */
export const MIN_ADMIN_TOKEN = 16

/**
 * Builds the admin router.
 * @throws TypeError `ERR_OTP_INVALID_OPTION` for a token shorter than {@link MIN_ADMIN_TOKEN}.
 */
export function adminRouter(otp: SmsOtp, options: AdminOptions): Router {
  const router = Router()
  if (!options.token) return router
  if (options.token.length < MIN_ADMIN_TOKEN) throw invalidOption('token', `the admin token needs at least ${MIN_ADMIN_TOKEN} characters`)
  const guard = bearer(options.token)
  router.use(['/admin', '/system'], guard, parseParams())
  const p = (req: { smsOtpParams?: Params | undefined }): Params => req.smsOtpParams ?? {}
  const selection = (q: Params) => ({ serial: param(q, 'serial'), user: param(q, 'user'), realm: param(q, 'realm') })

  router.all('/admin/init', async (req, res) => {
    const q = p(req)
    const serial = await otp.tokens.init({
      type: param(q, 'type'), user: param(q, 'user'), realm: param(q, 'realm'), phone: param(q, 'phone'), pin: param(q, 'pin'),
      serial: param(q, 'serial'), otpkey: param(q, 'otpkey'), genkey: param(q, 'genkey'), otplen: param(q, 'otplen'),
      hashlib: param(q, 'hashlib'), description: param(q, 'description'),
    })
    res.json(envelope(true, { serial }))
  })
  router.all('/admin/show', async (req, res) => {
    const tokens = await otp.tokens.show(selection(p(req)))
    res.json(envelope({ resultset: { tokens: tokens.length }, data: tokens }))
  })
  for (const action of ['remove', 'enable', 'disable', 'reset'] as const) {
    router.all(`/admin/${action}`, async (req, res) => {
      res.json(envelope(await otp.tokens[action](selection(p(req)))))
    })
  }
  router.all('/admin/set', async (req, res) => {
    const q = p(req)
    const n = await otp.tokens.set(selection(q), { pin: param(q, 'pin'), phone: param(q, 'phone'), MaxFailCount: param(q, 'MaxFailCount') })
    res.json(envelope(n))
  })

  router.all('/system/setProvider', async (req, res) => {
    const q = p(req)
    checkType(q)
    const name = required(q, 'name')
    const className = required(q, 'class')
    const timeout = parseProviderTimeout(param(q, 'timeout'))
    const warnings = await otp.providers.set({ name, className, config: param(q, 'config') ?? '', timeout }, isTrue(param(q, 'default')))
    res.json(envelope(true, warnings.length ? { warnings } : undefined))
  })
  router.all('/system/getProvider', (req, res) => {
    const q = p(req)
    checkType(q)
    const name = param(q, 'name')
    const listed = otp.providers.list().filter((pr) => name === undefined || pr.name === name)
    const value = Object.fromEntries(listed.map((pr) => [pr.name, { Class: pr.className, Config: pr.config, Timeout: String(pr.timeout), Default: pr.default }]))
    res.json(envelope(value))
  })
  router.all('/system/delProvider', async (req, res) => {
    const q = p(req)
    checkType(q)
    const refusal = await otp.providers.delete(required(q, 'name'))
    res.json(refusal === undefined ? envelope(true) : envelope(false, { message: refusal }))
  })
  router.all('/system/setDefaultProvider', async (req, res) => {
    const q = p(req)
    checkType(q)
    const name = required(q, 'name')
    res.json((await otp.providers.setDefault(name)) ? envelope(true) : envelope(false, { message: `Unknown provider! '${name}'` }))
  })
  router.all('/system/testProvider', async (req, res) => {
    const q = p(req)
    const result = await otp.providers.test(required(q, 'name'), param(q, 'phone'))
    res.json(envelope(result.status === 'sent', { ...result }))
  })

  router.all('/system/setPolicy', async (req, res) => {
    const q = p(req)
    const policy = await otp.policies.set({ ...q, name: required(q, 'name') })
    res.json(envelope({ [`setPolicy ${policy.name}`]: true }, { policy }))
  })
  router.all('/system/getPolicy', (req, res) => {
    const name = param(p(req), 'name')
    const value = Object.fromEntries(otp.policies.list().filter((x) => name === undefined || x.name === name).map((x) => [x.name, x]))
    res.json(envelope(value))
  })
  router.all('/system/delPolicy', async (req, res) => {
    const name = required(p(req), 'name')
    res.json(envelope({ [`delPolicy ${name}`]: await otp.policies.delete(name) }))
  })

  router.all('/system/setConfig', async (req, res) => {
    const entries = { ...p(req) }
    if (Object.keys(entries).length === 0) throw new ParameterError('Missing parameter: give one or more key=value pairs')
    const { keys, warnings } = await otp.config.set(entries)
    res.json(envelope(Object.fromEntries(keys.map((k) => [`setConfig ${k}:${entries[k]}`, true])), warnings.length ? { warnings } : undefined))
  })
  router.all('/system/getConfig', (req, res) => {
    const key = param(p(req), 'key')
    const all = otp.config.get()
    const hidden = Object.fromEntries(Object.entries(all).filter(([k]) => k !== 'SMSProviderConfig'))
    res.json(envelope(key === undefined ? hidden : { [`getConfig ${key}`]: hidden[key] ?? null }))
  })
  router.all('/system/delConfig', async (req, res) => {
    const key = required(p(req), 'key')
    res.json(envelope({ [`delConfig ${key}`]: await otp.config.delete(key) }))
  })
  router.all('/system/setRealm', async (req, res) => {
    const q = p(req)
    await otp.realms.set(required(q, 'realm'), isTrue(param(q, 'default')))
    res.json(envelope(true))
  })
  router.all('/system/getRealms', (_req, res) => {
    res.json(envelope(Object.fromEntries(otp.realms.list().map((r) => [r.name, { default: r.default }]))))
  })
  return router
}

/** `Authorization: Bearer <token>`, compared in constant time. */
function bearer(token: string): RequestHandler {
  const expected = createHash('sha256').update(token).digest()
  return (req, res, next) => {
    const header = req.headers.authorization ?? ''
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    const given = createHash('sha256').update(m?.[1] ?? '').digest()
    if (m && timingSafeEqual(given, expected)) return next()
    res.status(401).set('WWW-Authenticate', 'Bearer realm="sms-otp admin"').json(errorEnvelope('ERR_OTP_UNAUTHORIZED', 'admin credential missing or wrong'))
  }
}

function checkType(q: Params): void {
  const type = param(q, 'type')
  if (type !== undefined && type.toLowerCase() !== 'sms') throw new OtpError('ERR_OTP_INVALID_PARAMETER', "type: only 'sms' providers are supported")
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['true', '1'].includes(v.trim().toLowerCase())
}
