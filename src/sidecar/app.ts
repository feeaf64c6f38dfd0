/**
 * `createSidecar()`: an Express app that speaks LinOTP's HTTP API over an sms-otp engine.
 */
import express, { type Express } from 'express'
import { adminRouter } from '../../middleware/admin.js'
import { errorEnvelope, errorHandler } from '../../middleware/http.js'
import type { ThrottleOptions } from '../../middleware/throttle.js'
import { validateRouter } from '../../middleware/validate.js'
import { describeError, invalidOption } from '../errors.js'
import type { Logger } from '../logger.js'
import type { SmsOtp } from '../sms-otp.js'

export interface SidecarOptions {
  readonly otp: SmsOtp
  /** Bearer token for `/admin` and `/system`. Absent: those answer 404. */
  readonly adminToken?: string | undefined
  readonly logger: Logger
  /**
   * Which API the app serves: `all`; `validate` (`/admin` and `/system` answer 404); `admin`
   * (only `/admin` and `/system`, for a listener of its own: `serve({ adminPort })`).
   * `/healthz` is always there.
   * @default 'all'
   */
  readonly api?: 'all' | 'validate' | 'admin' | undefined
  /** Refuse GET requests carrying `pass` (and admin `pin`, `otpkey`, `config`). @default false */
  readonly noGet?: boolean | undefined
  /** Deadline of every admin request in ms (then 504). @default 30_000 */
  readonly adminTimeoutMs?: number | undefined
  /** Back-off for refused admin credentials; `false` turns it off. @default 5 per minute, 30 s doubling to 1 h */
  readonly adminThrottle?: ThrottleOptions | false | undefined
}

/**
 * @example
 * const app = createSidecar({ otp, adminToken: process.env.SMS_OTP_ADMIN_TOKEN, logger, noGet: true })
 * app.listen(5001, '127.0.0.1')
 */
export function createSidecar(options: SidecarOptions): Express {
  const api = options.api ?? 'all'
  if (api === 'admin' && !options.adminToken) throw invalidOption('adminToken', "an app with api 'admin' needs an admin token")
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', false) // the client address logic is ours (mayOverwriteClient)
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' })
  })
  if (api !== 'admin') app.use(validateRouter(options.otp, { noGet: options.noGet }))
  if (api !== 'validate') {
    app.use(adminRouter(options.otp, { token: options.adminToken, timeoutMs: options.adminTimeoutMs, throttle: options.adminThrottle, noGet: options.noGet }))
  }
  app.use((_req, res) => {
    res.status(404).json(errorEnvelope('ERR_OTP_NOT_FOUND', 'no such endpoint'))
  })
  app.use(errorHandler((err) => options.logger.error({ err: describeError(err) }, 'request failed')))
  return app
}
