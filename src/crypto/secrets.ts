/**
 * Protection of secrets at rest: seeds and provider configs with AES-256-GCM, PINs as keyed
 * hashes (HMAC-SHA256 with a server secret and a per-PIN salt). One 32-byte master key, from a key
 * file (see {@link loadMasterKey}) or the `SMS_OTP_ENC_KEY` environment variable; purpose keys
 * are derived from it with HKDF so a leak of one derived key does not expose the others.
 *
 * The PIN key is the one secret that cannot follow a new master key by re-encryption (a PIN hash
 * cannot be recomputed without the PIN), so after `sms-otp key rotate` it is a data key stored
 * sealed under the master key and installed with {@link Secrets.usePinKey}.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { OtpError, invalidOption } from '../errors.js'

export { loadMasterKey, parseMasterKey, type LoadMasterKeyOptions } from './key-file.js'

const VERSION = 'v1'
/** AAD of the sealed PIN key. */
const PIN_KEY_AAD = 'pin-key'

/** Encrypts, decrypts and hashes the secrets of one installation. */
export class Secrets {
  readonly #seedKey: Buffer
  readonly #configKey: Buffer
  readonly #wrapKey: Buffer
  readonly #checkValue: string
  #pinKey: Buffer

  /** @param masterKey 32 random bytes; see {@link loadMasterKey}. */
  constructor(masterKey: Buffer) {
    if (masterKey.length !== 32) throw invalidOption('masterKey', 'must be 32 bytes')
    const derive = (info: string): Buffer => Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), info, 32))
    this.#seedKey = derive('sms-otp seed encryption')
    this.#configKey = derive('sms-otp config encryption')
    this.#pinKey = derive('sms-otp pin hashing')
    this.#wrapKey = derive('sms-otp key wrapping')
    this.#checkValue = `kcv1:${derive('sms-otp key check value').subarray(0, 16).toString('base64url')}`
  }

  /**
   * The key check value: names the master key without revealing anything about it (an HKDF
   * output of its own). Stored with the data, it lets a start tell a wrong key from a right one
   * before anything is read or written.
   */
  get keyCheckValue(): string {
    return this.#checkValue
  }

  /** Constant-time comparison of a stored key check value with this key's. */
  matchesCheckValue(stored: string): boolean {
    const a = Buffer.from(stored, 'utf8')
    const b = Buffer.from(this.#checkValue, 'utf8')
    return a.length === b.length && timingSafeEqual(a, b)
  }

  /**
   * The PIN key in use, sealed under `target`'s master key: how PIN hashes survive a key rotation.
   * @example
   * const sealed = oldSecrets.sealPinKeyFor(newSecrets) // store it; then newSecrets.usePinKey(sealed)
   */
  sealPinKeyFor(target: Secrets): string {
    return seal(target.#wrapKey, this.#pinKey, PIN_KEY_AAD)
  }

  /**
   * Installs a PIN key sealed by {@link sealPinKeyFor} under this master key (the engine does this
   * at start when the database holds one). @throws OtpError `ERR_OTP_CRYPTO` when it does not open.
   */
  usePinKey(sealed: string): void {
    const key = open(this.#wrapKey, sealed, PIN_KEY_AAD)
    if (key.length !== 32) throw new OtpError('ERR_OTP_CRYPTO', 'the stored PIN key has the wrong length', { status: 500 })
    this.#pinKey = key
  }

  /** A Secrets with a random key, for tests and throwaway in-memory setups. */
  static ephemeral(): Secrets {
    return new Secrets(randomBytes(32))
  }

  /** Encrypts a seed, bound to its serial (a ciphertext moved to another token fails to open). */
  encryptSeed(serial: string, seed: Buffer): string {
    return seal(this.#seedKey, seed, `seed:${serial}`)
  }

  decryptSeed(serial: string, sealed: string): Buffer {
    return open(this.#seedKey, sealed, `seed:${serial}`)
  }

  /** Encrypts a provider config (it holds gateway credentials). */
  encryptConfig(name: string, text: string): string {
    return seal(this.#configKey, Buffer.from(text, 'utf8'), `provider:${name}`)
  }

  decryptConfig(name: string, sealed: string): string {
    return open(this.#configKey, sealed, `provider:${name}`).toString('utf8')
  }

  /** Keyed, salted PIN hash. The empty PIN is stored as `null` (no PIN). */
  hashPin(pin: string): string | null {
    if (pin === '') return null
    const salt = randomBytes(16)
    return `${VERSION}$${salt.toString('base64')}$${this.#pinMac(salt, pin).toString('base64')}`
  }

  /** Constant-time PIN check (Decision 10). A token without PIN matches only the empty PIN. */
  verifyPin(pin: string, stored: string | null): boolean {
    if (stored === null) return pin === ''
    const [version, saltB64, macB64] = stored.split('$')
    if (version !== VERSION || saltB64 === undefined || macB64 === undefined) return false
    const expected = Buffer.from(macB64, 'base64')
    const actual = this.#pinMac(Buffer.from(saltB64, 'base64'), pin)
    return expected.length === actual.length && timingSafeEqual(expected, actual)
  }

  #pinMac(salt: Buffer, pin: string): Buffer {
    return createHmac('sha256', this.#pinKey).update(salt).update(pin, 'utf8').digest()
  }
}

function seal(key: Buffer, plain: Buffer, aad: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const body = Buffer.concat([cipher.update(plain), cipher.final()])
  return [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(':')
}

function open(key: Buffer, sealed: string, aad: string): Buffer {
  const [version, ivB64, tagB64, bodyB64] = sealed.split(':')
  if (version !== VERSION || ivB64 === undefined || tagB64 === undefined || bodyB64 === undefined) {
    throw new OtpError('ERR_OTP_CRYPTO', 'unrecognised ciphertext format', { status: 500 })
  }
  const iv = Buffer.from(ivB64, 'base64')
  const tag = Buffer.from(tagB64, 'base64')
  // Fixed lengths: Node would accept a truncated tag, which makes forgery far cheaper.
  if (iv.length !== 12 || tag.length !== 16) throw new OtpError('ERR_OTP_CRYPTO', 'a stored secret has a malformed IV or tag', { status: 500 })
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(Buffer.from(bodyB64, 'base64')), decipher.final()])
  } catch (cause) {
    throw new OtpError('ERR_OTP_CRYPTO', 'a stored secret could not be decrypted (wrong key or tampered data)', { cause, status: 500 })
  }
}
