/**
 * The example's HTML: four small pages, a stylesheet and the resend countdown script. Every value
 * that reaches a page goes through `esc()`; the Content-Security-Policy allows no inline script,
 * so even a missed escape could not run code.
 */
import type { Response } from 'express'
import { CSRF_FIELD } from './csrf.js'

/** HTML-escapes text for element content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/** Sends a page with the headers every page gets (no caching of authenticated pages, no framing). */
export function sendPage(res: Response, title: string, body: string): void {
  res.set({ 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer', 'X-Content-Type-Options': 'nosniff' })
  res.type('html').send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · sms-otp example</title><link rel="stylesheet" href="/style.css"></head>
<body><main><h1>${esc(title)}</h1>
${body}
</main></body></html>
`)
}

const csrfField = (token: string): string => `<input type="hidden" name="${CSRF_FIELD}" value="${esc(token)}">`
const notice = (text: string | undefined, kind: 'error' | 'info' = 'error'): string =>
  text === undefined ? '' : `<p class="${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${esc(text)}</p>`

export function loginPage(csrf: string, error?: string): string {
  return `${notice(error)}
<form method="post" action="/login">
  ${csrfField(csrf)}
  <label>User name <input name="username" autocomplete="username" required autofocus></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>
<p class="hint">Demo users: alice / alice-password, bob / bob-password.</p>`
}

export interface OtpView {
  readonly csrf: string
  readonly maskedPhone: string | undefined
  /** Seconds until the resend button works. */
  readonly resendIn: number
  readonly error?: string | undefined
  readonly info?: string | undefined
}

export function otpPage(v: OtpView): string {
  const to = v.maskedPhone === undefined ? 'your phone' : `<strong class="phone">${esc(v.maskedPhone)}</strong>`
  const wait = v.resendIn > 0
  return `${notice(v.error)}${notice(v.info, 'info')}
<p>We sent a code by SMS to ${to}.</p>
<form method="post" action="/otp">
  ${csrfField(v.csrf)}
  <label>Code <input name="otp" autocomplete="one-time-code" inputmode="numeric" pattern="[0-9]*" maxlength="8" required autofocus></label>
  <button type="submit">Verify</button>
</form>
<form method="post" action="/otp/resend">
  ${csrfField(v.csrf)}
  <button type="submit" id="resend" data-resend-in="${esc(v.resendIn)}"${wait ? ' disabled' : ''}>${wait ? `Send a new code (in ${esc(v.resendIn)} s)` : 'Send a new code'}</button>
</form>
<form method="post" action="/logout">${csrfField(v.csrf)}<button type="submit" class="link">Cancel</button></form>
<script src="/countdown.js"></script>`
}

export function profilePage(csrf: string, login: string, name: string | undefined): string {
  return `<p>Signed in as <strong id="user">${esc(login)}</strong>${name === undefined ? '' : ` (${esc(name)})`}, with password and SMS code.</p>
<form method="post" action="/logout">${csrfField(csrf)}<button type="submit">Sign out</button></form>`
}

export function errorPage(message: string): string {
  return `${notice(message)}<p><a href="/login">Back to the sign-in page</a></p>`
}

export const STYLE_CSS = `body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;margin:0}
main{max-width:26rem;margin:3rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
label{display:block;margin:.75rem 0}input{display:block;width:100%;box-sizing:border-box;padding:.5rem;font-size:1.1rem}
button{padding:.5rem 1rem;font-size:1rem;margin:.25rem 0}button.link{background:none;border:0;color:#06c;padding:0}
.error{color:#a00}.info{color:#060}.hint{color:#666;font-size:.9rem}form{margin:.5rem 0}`

/** Counts the resend button down and enables it at zero (the server enforces the cooldown anyway). */
export const COUNTDOWN_JS = `(() => {
  const b = document.getElementById('resend')
  if (!b) return
  let left = Number(b.dataset.resendIn) || 0
  const tick = () => {
    if (left <= 0) { b.disabled = false; b.textContent = 'Send a new code'; return }
    b.textContent = 'Send a new code (in ' + left + ' s)'
    left -= 1
    setTimeout(tick, 1000)
  }
  tick()
})()
`
