/** The provider's two login pages: directory password, then the SMS code. */
import type { Request, Response } from 'express'
import { csrfInput, esc, page } from '../shared/web.js'

const ERRORS: Record<string, string> = {
  password: 'Wrong user name or password.',
  restart: 'Too many wrong codes. Sign in again.',
  'no-token': 'There is no phone for the SMS code on your account. Ask the administrator to enrol one.',
}

const action = (uid: string, step: string): string => esc(`/interaction/${encodeURIComponent(uid)}/${step}`)

export function passwordPage(req: Request, res: Response, uid: string, error: string | undefined): string {
  const message = error === undefined ? undefined : ERRORS[error]
  return page(res, 'Identity provider: sign in', `
<p class="muted">Demo accounts: alice / alice-password, bob / bob-password. An SMS code follows.</p>
${message === undefined ? '' : `<p class="error" role="alert">${esc(message)}</p>`}
<form method="post" action="${action(uid, 'password')}">
  ${csrfInput(req)}
  <label>User <input name="username" autocomplete="username" required autofocus></label><br>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label><br>
  <button type="submit">Continue</button>
</form>
<p><a href="${action(uid, 'abort')}">Cancel</a></p>`)
}

export function otpPage(req: Request, res: Response, uid: string, masked: string | undefined, wait: number, failed: boolean): string {
  const to = masked === undefined ? 'your phone' : `<strong id="masked-phone">${esc(masked)}</strong>`
  const body = `<p>We sent a code by SMS to ${to}.</p>
${failed ? '<p class="error" role="alert">That code was not right, or it has expired.</p>' : ''}
<form method="post" action="${action(uid, 'otp')}">
  ${csrfInput(req)}
  <label>Code <input name="otp" autocomplete="one-time-code" inputmode="numeric" pattern="[0-9]*" maxlength="8" required autofocus></label>
  <button type="submit">Verify</button>
</form>
<form method="post" action="${action(uid, 'resend')}">
  ${csrfInput(req)}
  <input type="hidden" name="resend" value="1">
  <button type="submit" id="resend"${wait > 0 ? ' disabled' : ''}>Send a new code</button>
  <span id="cooldown" class="muted">${wait > 0 ? `available in ${wait} s` : ''}</span>
</form>
<p><a href="${action(uid, 'abort')}">Cancel</a></p>`
  // Enables the resend button when the cooldown is over (the engine enforces it regardless).
  const script = wait > 0
    ? `let w=${wait};const b=document.getElementById('resend'),c=document.getElementById('cooldown');const t=setInterval(()=>{w--;c.textContent=w>0?'available in '+w+' s':'';if(w<=0){b.disabled=false;clearInterval(t)}},1000)`
    : ''
  return page(res, 'Identity provider: SMS code', body, script)
}
