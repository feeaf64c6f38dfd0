/**
 * sms-otp: an SMS one-time-password second factor, LinOTP-compatible.
 *
 * @example
 * import { createSmsOtp, createSqliteStore, Secrets, loadMasterKey } from 'sms-otp'
 * const otp = await createSmsOtp({
 *   store: createSqliteStore({ path: './data/sms-otp.db' }),
 *   secrets: new Secrets(await loadMasterKey('./data/sms-otp.key')),
 * })
 *
 * The Express faces live in their own entry points, so the core never loads a framework:
 * `sms-otp/middleware` (validate and admin routers) and `sms-otp/sidecar` (`createSidecar`, `serve`).
 */
export { createSmsOtp, defaultRegistry, type SmsOtp, type SmsOtpOptions } from './sms-otp.js'
export { createMetrics, type MetricsOptions, type SmsOtpMetrics, type ValidateOutcome } from './metrics/index.js'
export { ERROR_CODES, OtpError, ParameterError, ConfigError, ProviderUnavailableError, isOtpError, type OtpErrorCode } from './errors.js'
export { systemClock, ManualClock, type Clock } from './clock.js'
export { silentLogger, type Logger } from './logger.js'
export { Secrets, loadMasterKey, parseMasterKey } from './crypto/secrets.js'
export { hotp } from './otp/hotp.js'
export { maskPhone, msisdn, suppressPrefix, validatePhone } from './phone/index.js'
export { ProviderRegistry, KNOWN_CLASSES, canonicalClassName } from './providers/registry.js'
export { parseProviderJson } from './providers/parse-json.js'
export type { ProviderClass, ProviderContext, ProviderRecord, SendResult, SmsMessage, SmsProvider } from './providers/types.js'
export type { ProviderOrigin, ResourceContext, ResourceOptions } from './providers/resources.js'
export { HttpSmsProviderClass } from './providers/http/index.js'
export { FileSmsProviderClass } from './providers/file.js'
export { RestSmsProviderClass } from './providers/rest/index.js'
export { SmtpSmsProviderClass } from './providers/smtp/index.js'
export { SmppSmsProviderClass } from './providers/smpp/index.js'
export { DeviceSmsProviderClass } from './providers/device/index.js'
export { PolicyEngine, parsePolicy, type PolicyDirectoryUser, type PolicyQuery, type PolicyRecord } from './policy/index.js'
export { createMemoryStore, createSqliteStore, type MemoryStoreOptions, type SqliteStoreOptions } from './stores/index.js'
export type { ChallengeRecord, ChallengeStore, SettingsStore, Store, TokenRecord, TokenStore, HashLib } from './stores/types.js'
export type { AuditRecord, CheckRequest, CheckResult, SmsChallenge } from './validate/types.js'
export type { TokenInfo } from './admin/tokens.js'
export type { TriggerRequest, VerifyRequest } from './validate/second-factor.js'
export type { ChallengeReply } from './tokens/trigger.js'
export { DirectoryError, createRealms, fileResolver, functionResolver, ldapResolver } from './users/index.js'
export type { FileResolverOptions, FoundUser, FunctionResolverOptions, LdapResolverOptions, RealmsOptions, User, UserAttributes, UserResolver, Users } from './users/index.js'
export type { ResolverDefinition, ResolverInput, ResolverOrigin, ResolverType } from './users/index.js'
export type { RealmOptions, ResolverListing } from './settings/index.js'
