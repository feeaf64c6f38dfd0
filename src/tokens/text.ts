/**
 * SMS text composition (LinOTP §1.6 with Decision 4): request `challenge` → `smstext` policy →
 * request `data`/`message` → `<otp>` prepended when missing → placeholders.
 *
 * Under `enforce_smstext` every request-supplied text is ignored, `challenge` included: the text
 * goes out under the organisation's sender id, so whoever may call the validate API (with
 * `trigger_sms`, without a PIN) must not be able to choose it. Without the policy a request text is
 * allowed but capped (config `SMSRequestTextMaxParts`, one SMS part by default).
 */

export interface TextSources {
  /** Request parameter `challenge` (check_s / check). */
  readonly challenge?: string | undefined
  /** Request `data` (wins over `message`). */
  readonly data?: string | undefined
  readonly message?: string | undefined
  /** Value of the `smstext` policy, if one applies. */
  readonly policyText?: string | undefined
  /** `enforce_smstext` policy: ignore every request text. */
  readonly enforce: boolean
}

/** The template to send, and whether the request chose it (then its length is capped). */
export interface ChosenTemplate {
  /** Always contains `<otp>`. */
  readonly template: string
  readonly fromRequest: boolean
}

/** Chooses the template. `<otp>` is guaranteed to be in the result. */
export function chooseTemplate(src: TextSources): ChosenTemplate {
  let text = '<otp>'
  let fromRequest = false
  if (!src.enforce && src.challenge !== undefined) [text, fromRequest] = [src.challenge, true]
  if (src.policyText !== undefined && src.policyText !== '<otp>') [text, fromRequest] = [src.policyText, false]
  const requested = src.data ?? src.message
  if (!src.enforce && requested !== undefined) [text, fromRequest] = [requested, true]
  if (text === '') text = '<otp>'
  if (!text.includes('<otp>')) text = `<otp> ${text}`
  return { template: text, fromRequest }
}

/** Replaces every `<otp>`, `<serial>` and `<transactionid>`. */
export function renderText(template: string, values: { otp: string; serial: string; transactionId: string }): string {
  return template.replaceAll('<otp>', values.otp).replaceAll('<serial>', values.serial).replaceAll('<transactionid>', values.transactionId)
}
