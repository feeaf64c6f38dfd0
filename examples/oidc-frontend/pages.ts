/** The front-end's pages that carry forms: the SMS code page and the sign-out button. */
import type { Request, Response } from 'express'
import { csrfInput, esc, page } from '../shared/web.js'

export function logoutForm(req: Request): string {
  return `<form method="post" action="/logout">${csrfInput(req)}<button type="submit">Sign out</button></form>`
}

/**
 * The SMS code page: the masked number, the code field (`one-time-code`, numeric keypad), and
 * resend, disabled while `wait` seconds of the cooldown are left.
 */
export function otpPage(req: Request, res: Response, masked: string | undefined, wait: number, failed: boolean): string {
  const to = masked === undefined ? 'your phone' : `<strong id="masked-phone">${esc(masked)}</strong>`
  const body = `<p>We sent a code by SMS to ${to}.</p>
${failed ? '<p class="error" role="alert">That code was not right, or it has expired.</p>' : ''}
<form method="post" action="/otp">
  ${csrfInput(req)}
  <label>Code <input name="otp" autocomplete="one-time-code" inputmode="numeric" pattern="[0-9]*" maxlength="8" required autofocus></label>
  <button type="submit">Verify</button>
</form>
<form method="post" action="/otp/resend">
  ${csrfInput(req)}
  <button type="submit" id="resend"${wait > 0 ? ' disabled' : ''}>Send a new code</button>
  <span id="cooldown" class="muted">${wait > 0 ? `available in ${wait} s` : ''}</span>
</form>`
  // Enables the resend button when the cooldown is over (the server enforces it regardless).
  const script = wait > 0
    ? `let w=${wait};const b=document.getElementById('resend'),c=document.getElementById('cooldown');const t=setInterval(()=>{w--;c.textContent=w>0?'available in '+w+' s':'';if(w<=0){b.disabled=false;clearInterval(t)}},1000)`
    : ''
  return page(res, 'Enter the SMS code', body, script)
}
