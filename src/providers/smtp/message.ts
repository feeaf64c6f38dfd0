/**
 * The e-mail an SmtpSMSProvider sends: LinOTP's `<phone>` / `<otp>` tags replaced in `mailto`,
 * `subject` and `body`, with the checks that keep a phone number or an SMS text from changing
 * anything but the values they stand for. A substituted value can never add a header (no line
 * breaks or other control characters in header fields), never add a recipient and never redirect
 * the mail (the address must come out as exactly one mailbox, and a value placed into `mailto`
 * may only hold characters that cannot start address syntax).
 */
import addressparser from 'nodemailer/lib/addressparser'

/** A parsed mailbox: optional display name and the bare address. */
export interface Mailbox {
  readonly name: string
  readonly address: string
}

/** What goes over the wire, or why nothing does. */
export type ComposedMail =
  | { readonly ok: true; readonly to: Mailbox; readonly subject: string; readonly body: string }
  | { readonly ok: false; readonly reason: string }

/** The three templates of a provider config. */
export interface MailTemplates {
  readonly mailto: string
  readonly subject: string
  readonly body: string
}

/** C0 controls, DEL, C1 controls (NEL) and the Unicode line/paragraph separators. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
/** The same without CR, LF and TAB, which a mail body may hold. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const BODY_CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/
/** What a value substituted into `mailto` may hold: atext without the address-syntax risk. */
const ADDRESS_VALUE = /^[A-Za-z0-9+._=-]*$/
const TAG = /<phone>|<otp>/g

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
const DOMAIN = new RegExp(`^(?:${LABEL}\\.)*${LABEL}\\.?$|^\\[(?:IPv6:[0-9A-Fa-f:.]+|[0-9.]+)\\]$`)

/** True for a bare `local@domain` address (ASCII, dot-atom local part, host name or IP literal). */
export function isMailAddress(address: string): boolean {
  if (address.length > 254) return false
  const at = address.lastIndexOf('@')
  if (at <= 0) return false
  const local = address.slice(0, at)
  const domain = address.slice(at + 1)
  return local.length <= 64 && LOCAL_PART.test(local) && DOMAIN.test(domain)
}

/**
 * Parses an address field that must name exactly one mailbox (`a@b` or `Name <a@b>`).
 * Returns undefined for anything else: several addresses, a group, an invalid address,
 * control characters.
 */
export function parseSingleMailbox(field: string): Mailbox | undefined {
  if (CONTROL_CHARS.test(field)) return undefined
  const parsed = addressparser(field)
  if (parsed.length !== 1) return undefined
  const entry = parsed[0]
  if (entry === undefined || entry.group !== undefined || !isMailAddress(entry.address)) return undefined
  return Object.freeze({ name: entry.name, address: entry.address })
}

/** Replaces both tags in one pass, so a value that itself contains a tag is never expanded. */
export function substituteTags(template: string, phone: string, text: string): string {
  return template.replace(TAG, (tag) => (tag === '<phone>' ? phone : text))
}

/**
 * Builds the recipient, subject and body for one SMS. `<otp>` stands for the whole SMS text
 * (which contains the OTP), as in LinOTP. Reasons never contain the phone or the text.
 */
export function composeMail(templates: MailTemplates, phone: string, text: string): ComposedMail {
  if (CONTROL_CHARS.test(phone)) return refuse('the phone number contains control characters')
  if (BODY_CONTROL_CHARS.test(text)) return refuse('the SMS text contains control characters')
  const inMailto = { phone: templates.mailto.includes('<phone>'), text: templates.mailto.includes('<otp>') }
  if (inMailto.phone && !ADDRESS_VALUE.test(phone)) {
    return refuse('the phone number contains characters that cannot go into the mailto address (allowed: letters, digits, + . _ = -); set MSISDN to strip separators')
  }
  if (inMailto.text && !ADDRESS_VALUE.test(text)) {
    return refuse('the SMS text contains characters that cannot go into the mailto address')
  }
  if (/[\r\n]/.test(text) && templates.subject.includes('<otp>')) {
    return refuse('the SMS text contains a line break and the subject template puts it into a header')
  }
  const to = parseSingleMailbox(substituteTags(templates.mailto, phone, text))
  if (to === undefined) return refuse('mailto is not a single valid e-mail address after substituting the tags')
  return {
    ok: true,
    to,
    subject: substituteTags(templates.subject, phone, text),
    body: substituteTags(templates.body, phone, text),
  }
}

function refuse(reason: string): ComposedMail {
  return { ok: false, reason: `${reason}; nothing was sent` }
}
