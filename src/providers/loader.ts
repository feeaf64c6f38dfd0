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
import { DEFAULT_POLICY, ResourceError, type ResourceContext, type ResourcePolicy } from './resources.js'
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
 * stored). Returns the warnings the config produced. An admin-defined record (`record.origin`) is
 * judged against `policy` (see `resources.ts`).
 * @throws ConfigError naming the key at fault, or ResourceError (`ERR_OTP_RESOURCE_NOT_ALLOWED`).
 */
export function checkProviderRecord(record: ProviderRecord, registry: ProviderRegistry, policy: ResourcePolicy = DEFAULT_POLICY): string[] {
  const warnings: string[] = []
  prepare(record, registry, (m) => warnings.push(m), policy)
  return warnings
}

/**
 * Builds a provider instance. No network or process I/O happens until its first `send`; an
 * admin-defined record is judged against `policy` again (the allow-lists may have changed).
 */
export function loadProvider(record: ProviderRecord, registry: ProviderRegistry, logger: Logger, policy: ResourcePolicy = DEFAULT_POLICY): LoadedProvider {
  const log = logger.child({ provider: record.name })
  const { cls, options, rewrite, resources } = prepare(record, registry, (message) => log.warn({}, message), policy)
  const instance = cls.create(options, { name: record.name, logger: log, resources })
  return Object.freeze({ name: record.name, timeout: record.timeout, rewrite, instance })
}

function prepare(record: ProviderRecord, registry: ProviderRegistry, warn: (m: string) => void, policy: ResourcePolicy) {
  const cls = registry.resolve(record.className)
  const resources: ResourceContext = Object.freeze({ origin: record.origin ?? 'local', policy })
  try {
    const config = parseProviderJson(record.config, warn)
    const rewrite: PhoneRewrite = Object.freeze({
      msisdn: configBool(config.MSISDN),
      suppressPrefix: configString(config, 'SUPPRESS_PREFIX') ?? '',
    })
    const options = cls.parse(config, warn, resources)
    return { cls, options, rewrite, resources }
  } catch (err) {
    const prefix = `provider '${record.name}' (${cls.id})`
    if (err instanceof ConfigError) throw new ConfigError(`${prefix}: ${err.message}`, err.code, err)
    if (err instanceof ResourceError) throw new ResourceError(`${prefix}: ${err.message}`)
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
