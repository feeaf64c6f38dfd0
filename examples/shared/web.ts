/**
 * Small web plumbing of the example: security headers with a per-response CSP nonce, HTML
 * escaping and the page layout, and a synchronizer-token CSRF check for every form.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { NextFunction, Request, RequestHandler, Response } from 'express'

/** HTML-escapes text for element content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The request's session as a plain record of this app's keys (express-session is mounted first). */
export function sessionOf<T extends object>(req: Request): T & Record<string, unknown> {
  return req.session as unknown as T & Record<string, unknown>
}

/**
 * No caching of pages that carry tokens, no framing, no referrer (the authorization response's
 * `code` is in a URL), scripts only with this response's nonce.
 */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  const nonce = randomBytes(16).toString('base64')
  res.locals.nonce = nonce
  res.set({
    'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'`,
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
  })
  next()
}

/** A complete page around `body`; `script` runs under the response's CSP nonce. */
export function page(res: Response, title: string, body: string, script = ''): string {
  const nonce = String(res.locals.nonce ?? '')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}
input,button{font-size:1.1rem;padding:.4rem .6rem;margin:.2rem 0}.error{color:#b00020}.muted{color:#555}</style>
</head><body><h1>${esc(title)}</h1>
${body}
${script === '' ? '' : `<script nonce="${esc(nonce)}">${script}</script>`}
</body></html>`
}

/** Name of the hidden form field that carries the CSRF token. */
export const CSRF_FIELD = '_csrf'

interface CsrfRecord { readonly sid: string; readonly token: string }

/**
 * This session's CSRF token, as a hidden input. The token is bound to the session id: when the
 * id is regenerated (after each login step) a token seen before is worthless and a new one is made.
 */
export function csrfInput(req: Request): string {
  const session = sessionOf<{ csrf?: CsrfRecord }>(req)
  let record = session.csrf
  if (record === undefined || record.sid !== req.sessionID) {
    record = { sid: req.sessionID, token: randomBytes(32).toString('base64url') }
    session.csrf = record
  }
  return `<input type="hidden" name="${CSRF_FIELD}" value="${esc(record.token)}">`
}

/** Refuses (403) a POST whose form does not carry this session's token. Mount after the body parser. */
export function verifyCsrf(req: Request, res: Response, next: NextFunction): void {
  const record = sessionOf<{ csrf?: CsrfRecord }>(req).csrf
  const body: unknown = req.body
  const sent = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[CSRF_FIELD] : undefined
  if (record === undefined || record.sid !== req.sessionID || typeof sent !== 'string' || !sameText(sent, record.token)) {
    res.status(403).type('html').send(page(res, 'Request refused', '<p>The form has expired. <a href="/">Start again</a>.</p>'))
    return
  }
  next()
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
