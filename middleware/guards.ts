/**
 * Requests that must not act: methods other than GET and POST (a HEAD from a link prefetcher or a
 * monitoring probe would otherwise send an SMS), credentials in URLs under `noGet`, and admin
 * operations that never settle (answered 504 at their deadline).
 */
import type { RequestHandler, Response } from 'express'
import { OtpError, ParameterError } from '../src/errors.js'
import { errorEnvelope } from './http.js'

/** Methods the LinOTP endpoints answer. */
export const ALLOWED_METHODS = ['GET', 'POST'] as const

/**
 * Refuses every method but GET and POST with 405 `ERR_OTP_METHOD_NOT_ALLOWED` and an `Allow`
 * header, before the body is read. Express answers HEAD with GET routes and `router.all` with
 * anything, so without this a HEAD request would run the check.
 */
export function allowGetAndPost(): RequestHandler {
  return (req, res, next) => {
    if ((ALLOWED_METHODS as readonly string[]).includes(req.method)) return next()
    res.set('Allow', ALLOWED_METHODS.join(', '))
    next(new OtpError('ERR_OTP_METHOD_NOT_ALLOWED', `method ${req.method.slice(0, 16)} is not allowed: use GET or POST`, { status: 405 }))
  }
}

/**
 * `noGet`: credentials stay out of URLs (proxy and access logs). Runs after `parseParams`. A GET
 * carrying one of `names` is refused with 405 (`Allow: POST`); any other request that puts one
 * into its query string with 400 `ERR_OTP_INVALID_PARAMETER`.
 */
export function refuseCredentialsInUrl(names: readonly string[]): RequestHandler {
  return (req, res, next) => {
    const params = req.smsOtpParams ?? {}
    const given = names.filter((n) => Object.prototype.hasOwnProperty.call(params, n))
    if (given.length === 0) return next()
    if (req.method === 'GET') {
      res.set('Allow', 'POST')
      return next(new OtpError('ERR_OTP_METHOD_NOT_ALLOWED', `GET requests carrying '${given[0]}' are refused (no-get): send it with POST in the request body`, { status: 405 }))
    }
    const q = req.originalUrl.indexOf('?')
    // parseParams refuses a name given twice, so a name found in the query came from the query.
    const inUrl = q < 0 ? undefined : given.find((n) => new URLSearchParams(req.originalUrl.slice(q + 1)).has(n))
    if (inUrl !== undefined) return next(new ParameterError(`'${inUrl}' must be sent in the request body, not in the URL (no-get)`))
    next()
  }
}

/** Default deadline of an admin request. @default 30 s */
export const DEFAULT_ADMIN_TIMEOUT_MS = 30_000

/**
 * Answers 504 `ERR_OTP_TIMEOUT` when the request has not been answered within `ms`, whatever the
 * operation is doing (it may still finish; see `onTimeout`). A late answer must check
 * `res.headersSent` and drop itself.
 */
export function deadline(ms: number, onTimeout: (res: Response, message: string) => void = () => {}): RequestHandler {
  return (_req, res, next) => {
    const timer = setTimeout(() => {
      if (res.headersSent) return
      const message = `the operation did not finish within ${ms / 1000} s; it may still complete`
      onTimeout(res, message)
      res.status(504).json(errorEnvelope('ERR_OTP_TIMEOUT', message))
    }, ms)
    timer.unref()
    const clear = (): void => clearTimeout(timer)
    res.once('finish', clear)
    res.once('close', clear)
    next()
  }
}
