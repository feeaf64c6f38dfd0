/**
 * CSRF protection for the example's forms: the synchronizer-token pattern. Each session holds a
 * random token; every form carries it in a hidden field (`_csrf`); a POST whose field does not
 * match the session's token is refused with 403 before any handler runs. (csurf is deprecated;
 * this is the whole of what a server-rendered app needs.)
 *
 * The token lives in the session, so it changes whenever the session is regenerated (each login
 * step): a token seen before login is worthless after it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { NextFunction, Request, Response } from 'express'

/** Name of the hidden form field. */
export const CSRF_FIELD = '_csrf'

interface CsrfSession { csrfToken?: string }

function sessionOf(req: Request): CsrfSession {
  // express-session is mounted before every route; the cast names the one key this module owns.
  return req.session as unknown as CsrfSession
}

/** This session's token, created on first use (256 random bits, base64url). */
export function csrfToken(req: Request): string {
  const s = sessionOf(req)
  s.csrfToken ??= randomBytes(32).toString('base64url')
  return s.csrfToken
}

/** Constant-time comparison of two strings (a length difference is not a secret: tokens have one length). */
function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Middleware for every state-changing POST (after the body parser): 403 unless the form's
 * `_csrf` field is exactly this session's token. A missing field, an array, or a session without
 * a token are all refused.
 */
export function verifyCsrf(onRefused: (req: Request, res: Response) => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const body: unknown = req.body
    const sent = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[CSRF_FIELD] : undefined
    const expected = sessionOf(req).csrfToken
    if (typeof sent !== 'string' || expected === undefined || !same(sent, expected)) {
      res.status(403)
      onRefused(req, res)
      return
    }
    next()
  }
}
