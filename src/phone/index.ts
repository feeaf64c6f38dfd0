/**
 * Phone numbers: validation at enrolment, LinOTP's MSISDN / SUPPRESS_PREFIX rewriting before a
 * provider sees the number, and masking for logs (Decision 6).
 */
import { isPossiblePhoneNumber } from 'libphonenumber-js'
import { ParameterError } from '../errors.js'

/** Longest phone string accepted at enrolment. */
export const MAX_PHONE_LENGTH = 40

const ALLOWED = /^[+]?[0-9 ()./-]+$/

/**
 * Checks a phone number given at enrolment or by an admin and returns it trimmed. The number is
 * otherwise stored verbatim (LinOTP §1.1); providers normalise it with MSISDN / SUPPRESS_PREFIX.
 *
 * Accepts digits with the usual separators (space, `-`, `/`, `.`, parentheses) and an optional
 * leading `+`; 3 to 20 digits. Numbers in international form (`+…` or `00…`) must be possible
 * numbers for their country.
 *
 * @throws ParameterError naming what is wrong (never echoing the full number).
 * @example validatePhone(' +49 160 1234567 ') // '+49 160 1234567'
 */
export function validatePhone(input: unknown): string {
  if (typeof input !== 'string' || input.trim() === '') throw new ParameterError("Missing parameter: 'phone'")
  const phone = input.trim()
  if (phone.length > MAX_PHONE_LENGTH) throw new ParameterError(`phone: longer than ${MAX_PHONE_LENGTH} characters`)
  if (!ALLOWED.test(phone)) {
    throw new ParameterError('phone: only digits, an optional leading +, spaces and - / . ( ) are allowed', 'ERR_OTP_INVALID_PHONE')
  }
  const digits = phone.replace(/\D/g, '')
  if (digits.length < 3 || digits.length > 20) {
    throw new ParameterError('phone: must contain 3 to 20 digits', 'ERR_OTP_INVALID_PHONE')
  }
  const international = phone.startsWith('+') ? `+${digits}` : digits.startsWith('00') ? `+${digits.slice(2)}` : undefined
  if (international !== undefined && !isPossiblePhoneNumber(international)) {
    throw new ParameterError('phone: not a possible international number', 'ERR_OTP_INVALID_PHONE')
  }
  return phone
}

/**
 * LinOTP MSISDN normalisation (§3.1): keep a leading `+`, drop every character but ASCII digits.
 * @example msisdn('+49 01602/2222-222') // '+49016022222222'
 */
export function msisdn(phone: string): string {
  const plus = phone.trim().startsWith('+')
  const digits = phone.replace(/[^0-9]/g, '')
  return plus ? `+${digits}` : digits
}

/**
 * LinOTP SUPPRESS_PREFIX (§3.1): strip leading whitespace, then remove `prefix` once if the number
 * starts with it. A pure string prefix: `"+49"`, `"+"` and `"0049"` all work as written.
 */
export function suppressPrefix(phone: string, prefix: string): string {
  if (prefix === '') return phone
  const trimmed = phone.replace(/^\s+/, '')
  return trimmed.startsWith(prefix) ? trimmed.slice(prefix.length) : trimmed
}

/** Options every provider config may carry. */
export interface PhoneRewrite {
  readonly msisdn: boolean
  readonly suppressPrefix: string
}

/** Applies MSISDN then SUPPRESS_PREFIX, as LinOTP's `submitMessage` does. */
export function rewritePhone(phone: string, rewrite: PhoneRewrite): string {
  const normalised = rewrite.msisdn ? msisdn(phone) : phone
  return suppressPrefix(normalised, rewrite.suppressPrefix)
}

/**
 * Masks a phone number for logs and audit: keeps a leading `+`, the first two and the last four
 * digits. Short numbers keep only their last two digits.
 * @example maskPhone('+4916012345678') // '+49*******5678'
 */
export function maskPhone(phone: string): string {
  const plus = phone.trim().startsWith('+') ? '+' : ''
  const digits = phone.replace(/\D/g, '')
  if (digits.length <= 6) return `${plus}${'*'.repeat(Math.max(0, digits.length - 2))}${digits.slice(-2)}`
  return `${plus}${digits.slice(0, 2)}${'*'.repeat(digits.length - 6)}${digits.slice(-4)}`
}
