/**
 * `createSidecar()`: an Express app that speaks LinOTP's HTTP API over an sms-otp engine.
 */
import express, { type Express } from 'express'
import { adminRouter } from '../../middleware/admin.js'
import { errorEnvelope, errorHandler } from '../../middleware/http.js'
import { validateRouter } from '../../middleware/validate.js'
import { describeError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { SmsOtp } from '../sms-otp.js'

export interface SidecarOptions {
  readonly otp: SmsOtp
  /** Bearer token for `/admin` and `/system`. Absent: those answer 404. */
  readonly adminToken?: string | undefined
  readonly logger: Logger
}

export function createSidecar(options: SidecarOptions): Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', false) // the client address logic is ours (mayOverwriteClient)
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' })
  })
  app.use(validateRouter(options.otp))
  app.use(adminRouter(options.otp, { token: options.adminToken }))
  app.use((_req, res) => {
    res.status(404).json(errorEnvelope('ERR_OTP_NOT_FOUND', 'no such endpoint'))
  })
  app.use(errorHandler((err) => options.logger.error({ err: describeError(err) }, 'request failed')))
  return app
}
