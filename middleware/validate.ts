/**
 * LinOTP-compatible `/validate/*` router over an sms-otp engine. Mount it where LinOTP's API was:
 * `app.use(validateRouter(otp))`. GET and POST, form and JSON bodies.
 */
import { Router, type Request } from 'express'
import { BlockList, isIPv6 } from 'node:net'
import type { SmsOtp } from '../src/sms-otp.js'
import { TRANSACTION_ID } from '../src/challenges/ids.js'
import type { CheckRequest } from '../src/validate/types.js'
import { envelope, normaliseIp, param, parseParams, type Params } from './http.js'

/** Builds the router. */
export function validateRouter(otp: SmsOtp): Router {
  const router = Router()
  router.use('/validate', parseParams())
  const trusted = trustedCallers(otp)

  router.all('/validate/check', async (req, res) => {
    const r = await otp.check(checkRequest(req, trusted))
    res.json(envelope(r.value, r.detail))
  })

  router.all('/validate/simplecheck', async (req, res) => {
    const r = await otp.simplecheck(checkRequest(req, trusted))
    res.type('text/plain').send(r.text)
  })

  router.all('/validate/smspin', async (req, res) => {
    const r = await otp.smspin(checkRequest(req, trusted))
    res.json(envelope(r.value, r.detail, r.id ?? 0))
  })

  router.all('/validate/check_t', async (req, res) => {
    const p = params(req)
    const pass = param(p, 'pass')
    const id = param(p, 'transactionid') ?? param(p, 'state')
    const client = clientOf(req, p, trusted)
    if (pass === undefined || id === undefined || !TRANSACTION_ID.test(id)) {
      res.json(envelope(false))
      return
    }
    const r = await otp.checkT(pass, id, client)
    res.json(envelope(r.value, r.detail, r.value.value ? 1 : 0))
  })

  router.all('/validate/check_s', async (req, res) => {
    const r = await otp.checkS(checkRequest(req, trusted))
    res.json(envelope(r.value, r.detail, 0, r.status))
  })

  return router
}

function params(req: Request): Params {
  return req.smsOtpParams ?? {}
}

function checkRequest(req: Request, trusted: () => BlockList | undefined): CheckRequest {
  const p = params(req)
  const id = param(p, 'transactionid') ?? param(p, 'state')
  return {
    user: param(p, 'user'),
    realm: param(p, 'realm'),
    pass: param(p, 'pass'),
    // A malformed id can never match: keep it as an impossible id so the answer is a plain false.
    transactionId: id === undefined ? undefined : TRANSACTION_ID.test(id) ? id : '0',
    serial: param(p, 'serial'),
    data: param(p, 'data'),
    message: param(p, 'message'),
    challenge: param(p, 'challenge'),
    client: clientOf(req, p, trusted),
    authInfo: param(p, 'auth_info')?.toLowerCase() === 'true',
  }
}

/**
 * The end user's address: the caller's remote address, unless the caller is listed in config
 * `mayOverwriteClient` (a RADIUS server, an SSO front-end); then its `client` parameter or the
 * first `X-Forwarded-For` entry, as in LinOTP.
 */
export function clientOf(req: Request, p: Params, trusted: () => BlockList | undefined): string | undefined {
  const remote = normaliseIp(req.socket.remoteAddress)
  const list = trusted()
  if (remote === undefined || list === undefined || !list.check(remote, isIPv6(remote) ? 'ipv6' : 'ipv4')) return remote
  const claimed = normaliseIp(param(p, 'client')) ?? normaliseIp(String(req.headers['x-forwarded-for'] ?? '').split(',')[0])
  return claimed ?? remote
}

/** The `mayOverwriteClient` list, rebuilt only when the config value changes. */
function trustedCallers(otp: SmsOtp): () => BlockList | undefined {
  let source: string | undefined
  let list: BlockList | undefined
  return () => {
    const value = otp.core.settings.config.string('mayOverwriteClient')
    if (value !== source) {
      source = value
      list = buildBlockList(value)
    }
    return list
  }
}

function buildBlockList(value: string): BlockList | undefined {
  const entries = value.split(/[\s,]+/).filter((e) => e !== '')
  if (entries.length === 0) return undefined
  const list = new BlockList()
  for (const entry of entries) {
    const [address, prefix] = entry.split('/')
    const ip = normaliseIp(address)
    if (ip === undefined) continue
    const type = isIPv6(ip) ? 'ipv6' : 'ipv4'
    if (prefix === undefined) list.addAddress(ip, type)
    else list.addSubnet(ip, Number(prefix), type)
  }
  return list
}
