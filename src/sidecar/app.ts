/**
 * `createSidecar()`: an Express app that speaks LinOTP's HTTP API over an sms-otp engine.
 */
import express, { type Express, type RequestHandler } from 'express'
import type { Registry } from 'prom-client'
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
  /**
   * Serve the engine's metrics (`createSmsOtp({ metrics })`) at `/metrics` on this app, behind the
   * admin token (`Authorization: Bearer …`), where the admin API is served (`api` `all` or
   * `admin`). For a listener of its own use {@link createMetricsApp}. @default false (404)
   */
  readonly metrics?: boolean | undefined
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
  let metrics: Registry | undefined
  if (options.metrics === true && api !== 'validate') {
    if (!options.otp.metrics) throw invalidOption('metrics', 'the engine has no metrics: createSmsOtp({ metrics: createMetrics() })')
    if (!options.adminToken) throw invalidOption('metrics', 'metrics on the admin side need an admin token')
    metrics = options.otp.metrics.registry
  }
  if (api !== 'admin') app.use(validateRouter(options.otp, { noGet: options.noGet }))
  if (api !== 'validate') {
    app.use(adminRouter(options.otp, { token: options.adminToken, timeoutMs: options.adminTimeoutMs, throttle: options.adminThrottle, noGet: options.noGet, metrics }))
  }
  app.use((_req, res) => {
    res.status(404).json(errorEnvelope('ERR_OTP_NOT_FOUND', 'no such endpoint'))
  })
  app.use(errorHandler((err) => options.logger.error({ err: describeError(err) }, 'request failed')))
  return app
}

/**
 * An app that serves only `/metrics` (and `/healthz`), without a credential: for a listener of its
 * own (`sms-otp serve --metrics-port`), on a loopback or private address.
 */
export function createMetricsApp(otp: SmsOtp, logger: Logger): Express {
  const metrics = otp.metrics
  if (!metrics) throw invalidOption('metrics', 'the engine has no metrics: createSmsOtp({ metrics: createMetrics() })')
  const app = express()
  app.disable('x-powered-by')
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' })
  })
  app.get('/metrics', metricsHandler(metrics.registry))
  app.use((_req, res) => {
    res.status(404).json(errorEnvelope('ERR_OTP_NOT_FOUND', 'no such endpoint'))
  })
  app.use(errorHandler((err) => logger.error({ err: describeError(err) }, 'request failed')))
  return app
}

/** Answers a scrape with the registry's metrics (no credential: see {@link createMetricsApp}). */
export function metricsHandler(registry: Registry): RequestHandler {
  return (_req, res, next) => {
    registry.metrics().then((text) => {
      res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(text)
    }, next)
  }
}
