/**
 * Judging a gateway's HTTP reply, shared by the HTTP-based providers (HttpSMSProvider with its
 * RETURN_* rules, RestSMSProvider by status alone).
 */
import type { SendResult } from '../types.js'

/** The one reply rule that applies (LinOTP precedence), or the HTTP status when none is set. */
export type ReplyRule =
  | { readonly kind: 'RETURN_SUCCESS_REGEX' | 'RETURN_FAIL_REGEX'; readonly regex: RegExp }
  | { readonly kind: 'RETURN_SUCCESS' | 'RETURN_FAIL'; readonly prefix: string }
  | { readonly kind: 'status' }

/**
 * HTTP statuses that say the gateway cannot take messages right now, whatever the message: it is
 * down or overloaded (5xx, 408, 429) or our credentials are not accepted (401, 403, 407). Another
 * provider may well deliver, so these fail over instead of ending the loop.
 */
const OUTAGE_STATUSES = new Set([401, 403, 407, 408, 429])

function outage(status: number): SendResult | undefined {
  if (status >= 500 || OUTAGE_STATUSES.has(status)) return { status: 'unavailable', reason: `gateway cannot take messages (HTTP ${status})` }
  return undefined
}

/**
 * Judges a gateway reply. Exactly one RETURN_* rule applies, by LinOTP's precedence. A rule that
 * *matches* decides; otherwise an outage status (see {@link OUTAGE_STATUSES}) makes the send
 * `unavailable` (LinOTP ignores the status, which turns a 503 error page into "rejected" under a
 * success rule and into a silently lost "sent" under a fail rule). Reasons name the rule and the
 * HTTP status only: gateways echo the phone number and the SMS text.
 */
export function evaluateReply(rule: ReplyRule, status: number, body: string): SendResult {
  if (status >= 300 && status < 400) {
    return { status: 'rejected', reason: `gateway answered with a redirect (HTTP ${status}); redirects are not followed, configure the final URL` }
  }
  const down = outage(status)
  switch (rule.kind) {
    case 'RETURN_SUCCESS_REGEX':
      return rule.regex.test(body) ? { status: 'sent' } : (down ?? rejected(`gateway reply did not match ${rule.kind}`, status))
    case 'RETURN_FAIL_REGEX':
      return rule.regex.test(body) ? rejected(`gateway reply matched ${rule.kind}`, status) : (down ?? { status: 'sent' })
    case 'RETURN_SUCCESS':
      return body.startsWith(rule.prefix) ? { status: 'sent' } : (down ?? rejected(`gateway reply did not match ${rule.kind}`, status))
    case 'RETURN_FAIL':
      return body.startsWith(rule.prefix) ? rejected(`gateway reply matched ${rule.kind}`, status) : (down ?? { status: 'sent' })
    case 'status':
      if (status >= 200 && status < 300) return { status: 'sent' }
      return down ?? rejected('gateway answered with an error status', status)
  }
}

function rejected(reason: string, status: number): SendResult {
  return { status: 'rejected', reason: `${reason} (HTTP ${status})` }
}
