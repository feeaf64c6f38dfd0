/**
 * Turns a stored provider record into a ready provider: JSON parsed strictly, class resolved,
 * options validated once and frozen, the common MSISDN / SUPPRESS_PREFIX keys applied around `send`.
 */
import { ConfigError, isOtpError } from '../errors.js'
import type { Logger } from '../logger.js'
import { rewritePhone, type PhoneRewrite } from '../phone/index.js'
import { configBool, configString } from './config-values.js'
import { parseProviderJson } from './parse-json.js'
import type { ProviderRegistry } from './registry.js'
import type { ProviderRecord, SendResult, SmsMessage, SmsProvider } from './types.js'

/** A provider ready to send. */
export interface LoadedProvider {
  readonly name: string
  /** OTP validity in seconds (Decision 1). */
  readonly timeout: number
  readonly rewrite: PhoneRewrite
  readonly instance: SmsProvider
}

/**
 * Validates a record without keeping the instance (used by `setProvider` before anything is
 * stored). Returns the warnings the config produced.
 * @throws ConfigError naming the key at fault.
 */
export function checkProviderRecord(record: ProviderRecord, registry: ProviderRegistry): string[] {
  const warnings: string[] = []
  prepare(record, registry, (m) => warnings.push(m))
  return warnings
}

/** Builds a provider instance. No I/O happens until its first `send`. */
export function loadProvider(record: ProviderRecord, registry: ProviderRegistry, logger: Logger): LoadedProvider {
  const log = logger.child({ provider: record.name })
  const { cls, options, rewrite } = prepare(record, registry, (message) => log.warn({}, message))
  const instance = cls.create(options, { name: record.name, logger: log })
  return Object.freeze({ name: record.name, timeout: record.timeout, rewrite, instance })
}

function prepare(record: ProviderRecord, registry: ProviderRegistry, warn: (m: string) => void) {
  const cls = registry.resolve(record.className)
  try {
    const config = parseProviderJson(record.config, warn)
    const rewrite: PhoneRewrite = Object.freeze({
      msisdn: configBool(config.MSISDN),
      suppressPrefix: configString(config, 'SUPPRESS_PREFIX') ?? '',
    })
    const options = cls.parse(config, warn)
    return { cls, options, rewrite }
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ConfigError(`provider '${record.name}' (${cls.id}): ${err.message}`, err.code, err)
    }
    throw err
  }
}

/** Sends through one loaded provider with its phone rewrite; a throwing provider counts as rejected. */
export async function sendVia(provider: LoadedProvider, msg: SmsMessage, signal: AbortSignal): Promise<SendResult> {
  const phone = rewritePhone(msg.phone, provider.rewrite)
  try {
    return await provider.instance.send({ ...msg, phone }, signal)
  } catch (err) {
    if (isOtpError(err, 'ERR_OTP_PROVIDER_UNAVAILABLE')) return { status: 'unavailable', reason: err.message }
    return { status: 'rejected', reason: err instanceof Error ? err.message : String(err) }
  }
}
