/**
 * LinOTP-compatible `/validate/*` router over an sms-otp engine. Mount it where LinOTP's API was:
 * `app.use(validateRouter(otp))`. GET and POST, form and JSON bodies; any other method (HEAD
 * above all: Express would run the check for it) answers 405 before anything is read.
 */
import { Router, type Request, type RequestHandler } from 'express'
import { isIPv6, type BlockList } from 'node:net'
import { parseAddressList } from '../src/settings/config.js'
import type { SmsOtp } from '../src/sms-otp.js'
import type { ValidateOutcome } from '../src/metrics/index.js'
import { TRANSACTION_ID } from '../src/challenges/ids.js'
import type { CheckRequest } from '../src/validate/types.js'
import { allowGetAndPost, refuseCredentialsInUrl } from './guards.js'
import { envelope, normaliseIp, param, parseParams, type Params } from './http.js'

/** Options of {@link validateRouter}. */
export interface ValidateOptions {
  /**
   * Refuse a GET request that carries `pass` (405 `ERR_OTP_METHOD_NOT_ALLOWED`, `Allow: POST`) and
   * a `pass` in the URL of any request (400): credentials stay out of proxy and access logs.
   * GET without `pass` keeps working.
   * @default false (LinOTP accepts GET with `pass`)
   */
  readonly noGet?: boolean | undefined
}

/**
 * Builds the router.
 * @example app.use(validateRouter(otp, { noGet: true }))
 */
export function validateRouter(otp: SmsOtp, options: ValidateOptions = {}): Router {
  const router = Router()
  router.use('/validate', allowGetAndPost(), parseParams())
  if (options.noGet) router.use('/validate', refuseCredentialsInUrl(['pass']))
  const trusted = trustedCallers(otp)

  // With engine metrics, each request counts once under its endpoint and outcome; a thrown error
  // (a 500) counts as `error`.
  const counted = (endpoint: string, handler: (req: Request, res: Parameters<RequestHandler>[1]) => Promise<ValidateOutcome>): RequestHandler => {
    const metrics = otp.metrics
    if (!metrics) return async (req, res) => void (await handler(req, res))
    return async (req, res) => {
      let outcome: ValidateOutcome = 'error'
      try {
        outcome = await handler(req, res)
      } finally {
        metrics.validate(endpoint, outcome)
      }
    }
  }

  router.all('/validate/check', counted('check', async (req, res) => {
    const r = await otp.check(checkRequest(req, trusted))
    res.json(envelope(r.value, r.detail))
    return outcomeOf(r.value, r.challenge !== undefined, r.internalError === true)
  }))

  router.all('/validate/simplecheck', counted('simplecheck', async (req, res) => {
    const r = await otp.simplecheck(checkRequest(req, trusted))
    res.type('text/plain').send(r.text)
    // ':-( <transactionid> <message>' is a challenge; a bare ':-(' a refusal.
    return outcomeOf(r.value, r.text.length > 3, false)
  }))

  router.all('/validate/smspin', counted('smspin', async (req, res) => {
    const r = await otp.smspin(checkRequest(req, trusted))
    res.json(envelope(r.value, r.detail, r.id ?? 0))
    // value true here means "the SMS was sent", never "authenticated".
    return r.internalError === true ? 'error' : r.value ? 'challenge' : 'rejected'
  }))

  router.all('/validate/check_t', counted('check_t', async (req, res) => {
    const p = params(req)
    const pass = param(p, 'pass')
    const id = param(p, 'transactionid') ?? param(p, 'state')
    const client = clientOf(req, p, trusted)
    if (pass === undefined || id === undefined || !TRANSACTION_ID.test(id)) {
      res.json(envelope(false))
      return 'rejected'
    }
    const r = await otp.checkT(pass, id, client)
    res.json(envelope(r.value, r.detail, r.value.value ? 1 : 0))
    return r.value.value ? 'accepted' : 'rejected'
  }))

  router.all('/validate/check_s', counted('check_s', async (req, res) => {
    const r = await otp.checkS(checkRequest(req, trusted))
    res.json(envelope(r.value, r.detail, 0, r.status))
    return outcomeOf(r.value, r.challenge !== undefined, !r.status)
  }))

  return router
}

function outcomeOf(accepted: boolean, challenge: boolean, internalError: boolean): ValidateOutcome {
  return internalError ? 'error' : accepted ? 'accepted' : challenge ? 'challenge' : 'rejected'
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
 * `mayOverwriteClient` (a RADIUS server, an SSO front-end); then the last `X-Forwarded-For` entry
 * (the one the trusted proxy added) or, without that header, its `client` parameter.
 */
export function clientOf(req: Request, p: Params, trusted: () => BlockList | undefined): string | undefined {
  const remote = normaliseIp(req.socket.remoteAddress)
  const list = trusted()
  if (remote === undefined || list === undefined || !list.check(remote, isIPv6(remote) ? 'ipv6' : 'ipv4')) return remote
  // A trusted proxy appends the address it saw: the last X-Forwarded-For entry is the one it
  // vouches for, and it beats a `client` parameter, which a proxy may pass through from the end
  // user. Callers that set no header (RADIUS servers) name the user's address with `client`.
  const forwarded = req.headers['x-forwarded-for']
  const claimed = forwarded !== undefined ? normaliseIp(String(forwarded).split(',').at(-1)) : normaliseIp(param(p, 'client'))
  return claimed ?? remote
}

/** The `mayOverwriteClient` list, rebuilt only when the config value changes. */
function trustedCallers(otp: SmsOtp): () => BlockList | undefined {
  let source: string | undefined
  let list: BlockList | undefined
  return () => {
    const value = otp.core.settings.config.string('mayOverwriteClient')
    if (value !== source) {
      // Values are validated when set; a bad stored value (older release) trusts nobody.
      try {
        list = parseAddressList(value, 'mayOverwriteClient')
      } catch {
        list = undefined
      }
      source = value
    }
    return list
  }
}
