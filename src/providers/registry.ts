/**
 * Provider classes by LinOTP class identifier. Every form LinOTP accepts resolves to the same class:
 * `HttpSMSProvider`, `smsprovider.HttpSMSProvider`, `smsprovider.HttpSMSProvider.HttpSMSProvider`,
 * `linotp.provider.smsprovider.HttpSMSProvider` (and `....HttpSMSProvider.HttpSMSProvider`).
 */
import { ConfigError } from '../errors.js'
import type { ProviderClass } from './types.js'

/** The five LinOTP classes and our FileSMSProvider. */
export const KNOWN_CLASSES = ['HttpSMSProvider', 'SmtpSMSProvider', 'SMPPSMSProvider', 'RestSMSProvider', 'DeviceSMSProvider', 'FileSMSProvider'] as const

const PREFIXES = ['linotp.provider.smsprovider.', 'linotp.lib.smsprovider.', 'smsprovider.']

/**
 * Reduces any accepted identifier to its short class name (case as in {@link KNOWN_CLASSES}), or
 * undefined when it names no known class.
 * @example canonicalClassName('smsprovider.HttpSMSProvider.HttpSMSProvider') // 'HttpSMSProvider'
 */
export function canonicalClassName(identifier: string): string | undefined {
  let rest = identifier.trim()
  for (const prefix of PREFIXES) {
    if (rest.toLowerCase().startsWith(prefix)) {
      rest = rest.slice(prefix.length)
      break
    }
  }
  const parts = rest.split('.')
  if (parts.length > 2 || (parts.length === 2 && parts[0]?.toLowerCase() !== parts[1]?.toLowerCase())) return undefined
  const short = (parts[0] ?? '').toLowerCase()
  return KNOWN_CLASSES.find((name) => name.toLowerCase() === short)
}

/** Maps identifiers to registered provider classes. */
export class ProviderRegistry {
  readonly #classes = new Map<string, ProviderClass>()

  /** Registers a class under its canonical id (one of {@link KNOWN_CLASSES}). */
  register(cls: ProviderClass): this {
    const id = canonicalClassName(cls.id)
    if (id === undefined) throw new TypeError(`register: '${cls.id}' is not a known provider class id`)
    this.#classes.set(id, cls)
    return this
  }

  /**
   * Finds the class for an identifier in any accepted form.
   * @throws ConfigError `ERR_OTP_UNKNOWN_PROVIDER_CLASS` or `ERR_OTP_PROVIDER_CLASS_UNAVAILABLE`.
   */
  resolve(identifier: string): ProviderClass {
    const id = canonicalClassName(identifier)
    if (id === undefined) {
      throw new ConfigError(`Unknown provider class: Identifier was ${JSON.stringify(identifier.slice(0, 100))}`, 'ERR_OTP_UNKNOWN_PROVIDER_CLASS')
    }
    const cls = this.#classes.get(id)
    if (cls === undefined) throw new ConfigError(`provider class not available: ${id}`, 'ERR_OTP_PROVIDER_CLASS_UNAVAILABLE')
    return cls
  }
}
