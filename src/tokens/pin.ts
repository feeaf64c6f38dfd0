/**
 * How `pass` is read under each `otppin` mode (LinOTP §1.5).
 */
import type { Secrets } from '../crypto/secrets.js'
import type { TokenRecord } from '../stores/types.js'

export type PinMode = 'token_pin' | 'password' | 'only_otp' | 'ignore_pin'

/** PIN and OTP parts of `pass` for a token. */
export function splitPass(pass: string, token: TokenRecord, mode: PinMode, prependPin: boolean): { pin: string; otp: string } {
  if (mode === 'only_otp') return { pin: '', otp: pass }
  const n = token.otplen
  if (pass.length < n) return { pin: pass, otp: '' }
  return prependPin ? { pin: pass.slice(0, pass.length - n), otp: pass.slice(pass.length - n) } : { pin: pass.slice(n), otp: pass.slice(0, n) }
}

/** Is `pin` correct under `mode`? (`password` needs a user resolver and never passes here.) */
export function pinMatches(pin: string, token: TokenRecord, mode: PinMode, secrets: Secrets): boolean {
  switch (mode) {
    case 'token_pin':
      return secrets.verifyPin(pin, token.pinHash)
    case 'only_otp':
      return pin === ''
    case 'ignore_pin':
      return true
    case 'password':
      return false
  }
}
