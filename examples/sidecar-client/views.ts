/**
 * The OTP page of the sidecar client. LinOTP's answer carries no phone number and resending means
 * giving the password again, so this page is simpler than the Passport example's.
 */
import { CSRF_FIELD } from '../express-passport/csrf.js'
import { esc } from '../express-passport/views.js'

export function otpPage(csrf: string, error: string | undefined): string {
  const field = `<input type="hidden" name="${CSRF_FIELD}" value="${esc(csrf)}">`
  return `${error === undefined ? '' : `<p class="error" role="alert">${esc(error)}</p>`}
<p>We sent a code by SMS to the phone registered for your account.</p>
<form method="post" action="/otp">
  ${field}
  <label>Code <input name="otp" autocomplete="one-time-code" inputmode="numeric" pattern="[0-9]*" maxlength="8" required autofocus></label>
  <button type="submit">Verify</button>
</form>
<form method="post" action="/logout">${field}<button type="submit" class="link">No code? Start over</button></form>`
}
