/**
 * SMS text composition (LinOTP §1.6 with Decision 4): request `challenge` → `smstext` policy →
 * request `data`/`message` unless `enforce_smstext` → `<otp>` prepended when missing → placeholders.
 */

export interface TextSources {
  /** Request parameter `challenge` (check_s / check). */
  readonly challenge?: string | undefined
  /** Request `data` (wins over `message`). */
  readonly data?: string | undefined
  readonly message?: string | undefined
  /** Value of the `smstext` policy, if one applies. */
  readonly policyText?: string | undefined
  /** `enforce_smstext` policy: ignore request texts. */
  readonly enforce: boolean
}

/** Chooses the template. `<otp>` is guaranteed to be in the result. */
export function chooseTemplate(src: TextSources): string {
  let text = src.challenge ?? '<otp>'
  if (src.policyText !== undefined && src.policyText !== '<otp>') text = src.policyText
  const requested = src.data ?? src.message
  if (requested !== undefined && !src.enforce) text = requested
  if (text === '') text = '<otp>'
  if (!text.includes('<otp>')) text = `<otp> ${text}`
  return text
}

/** Replaces every `<otp>`, `<serial>` and `<transactionid>`. */
export function renderText(template: string, values: { otp: string; serial: string; transactionId: string }): string {
  return template.replaceAll('<otp>', values.otp).replaceAll('<serial>', values.serial).replaceAll('<transactionid>', values.transactionId)
}
