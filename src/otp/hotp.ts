/**
 * HOTP (RFC 4226) on node:crypto, with the token's own hash (Decision 3): HMAC-SHA1, -SHA256 or
 * -SHA512 over the 8-byte big-endian counter, dynamic truncation, modulo 10^digits.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { HashLib } from '../stores/types.js'

const MODULI = { 6: 1_000_000, 8: 100_000_000 } as const

/**
 * Computes HOTP(key, counter).
 * @example hotp(Buffer.from('3132333435363738393031323334353637383930', 'hex'), 0) // '755224'
 */
export function hotp(key: Buffer, counter: number, digits: 6 | 8 = 6, hashlib: HashLib = 'sha1'): string {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('counter must be a non-negative safe integer')
  const msg = Buffer.alloc(8)
  msg.writeBigUInt64BE(BigInt(counter))
  const mac = createHmac(hashlib, key).update(msg).digest()
  const offset = (mac[mac.length - 1] as number) & 0x0f
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % MODULI[digits]
  return String(code).padStart(digits, '0')
}

/** Constant-time comparison of two OTP strings (Decision 10). Different lengths → false. */
export function otpEquals(a: string, b: string): boolean {
  const ab = Buffer.from(a)
  const bb = Buffer.from(b)
  return ab.length === bb.length && timingSafeEqual(ab, bb)
}

/** A hex seed as given by `otpkey`: spaces and dashes removed, must be even-length hex. */
export function parseHexSeed(input: string): Buffer | undefined {
  const hex = input.replace(/[\s-]/g, '')
  if (hex.length === 0 || hex.length % 2 !== 0 || hex.length > 256 || !/^[0-9a-fA-F]+$/.test(hex)) return undefined
  return Buffer.from(hex, 'hex')
}
