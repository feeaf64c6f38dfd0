/**
 * The public surface of the three entry points (`sms-otp`, `sms-otp/middleware`,
 * `sms-otp/sidecar`): a refactor that moves files must not add, drop or rename an export. Runtime
 * exports are compared by name; type exports are pinned by the type-only imports below, which
 * `npm run typecheck` checks.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import type * as Core from '../src/index.js'
import type * as Middleware from '../middleware/index.js'
import type * as Sidecar from '../src/sidecar/index.js'
import type * as Passport from '../strategies/index.js'

/** Every type export, by name: removing or renaming one fails the type check. */
export type PublicTypes = [
  Core.SmsOtp, Core.SmsOtpOptions, Core.OtpErrorCode, Core.Clock, Core.Logger, Core.ProviderClass, Core.ProviderContext,
  Core.ProviderRecord, Core.SendResult, Core.SmsMessage, Core.SmsProvider, Core.ProviderOrigin, Core.ResourceContext,
  Core.ResourceOptions, Core.SmsChallenge, Core.TokenInfo, Core.PolicyQuery, Core.PolicyDirectoryUser, Core.PolicyRecord, Core.MemoryStoreOptions, Core.SqliteStoreOptions,
  Core.ChallengeRecord, Core.ChallengeStore, Core.SettingsStore, Core.Store, Core.TokenRecord, Core.TokenStore, Core.HashLib,
  Core.User, Core.UserAttributes, Core.UserResolver, Core.Users, Core.RealmsOptions, Core.FileResolverOptions,
  Core.ResolverDefinition, Core.ResolverInput, Core.ResolverOrigin, Core.ResolverType, Core.RealmOptions, Core.ResolverListing,
  Core.FunctionResolverOptions, Core.FoundUser, Core.LdapResolverOptions,
  Core.SmsOtpMetrics, Core.MetricsOptions, Core.ValidateOutcome,
  Core.AuditRecord, Core.CheckRequest, Core.CheckResult, Core.TriggerRequest, Core.VerifyRequest, Core.ChallengeReply,
  Middleware.ValidateOptions, Middleware.AdminOptions, Middleware.ThrottleOptions, Middleware.GateOptions, Middleware.GateChallenge, Middleware.SecondFactorGate,
  Sidecar.SidecarOptions, Sidecar.ServeOptions, Sidecar.RunningSidecar, Sidecar.SidecarConfig,
  Passport.SmsOtpStrategyOptions, Passport.SmsOtpChallenge, Passport.SmsOtpFailure, Passport.SecondFactorUser,
]

const RUNTIME: Record<string, { path: string; names: string[] }> = {
  'sms-otp': {
    path: '../src/index.js',
    names: [
      'ConfigError', 'DeviceSmsProviderClass', 'DirectoryError', 'createRealms', 'fileResolver', 'functionResolver', 'ldapResolver', 'ERROR_CODES', 'FileSmsProviderClass', 'HttpSmsProviderClass', 'KNOWN_CLASSES',
      'ManualClock', 'OtpError', 'ParameterError', 'PolicyEngine', 'ProviderRegistry', 'ProviderUnavailableError',
      'RestSmsProviderClass', 'Secrets', 'SmppSmsProviderClass', 'SmtpSmsProviderClass', 'canonicalClassName',
      'createMemoryStore', 'createMetrics', 'createSmsOtp', 'createSqliteStore', 'defaultRegistry', 'hotp', 'isOtpError', 'loadMasterKey',
      'maskPhone', 'msisdn', 'parseMasterKey', 'parsePolicy', 'parseProviderJson', 'silentLogger', 'suppressPrefix',
      'systemClock', 'validatePhone',
    ],
  },
  'sms-otp/middleware': {
    path: '../middleware/index.js',
    names: ['FIELD_LIMITS', 'FailureThrottle', 'MAX_BODY_BYTES', 'adminRouter', 'clientOf', 'envelope', 'errorEnvelope', 'errorHandler', 'parseParams', 'requireSecondFactor', 'validateRouter'],
  },
  'sms-otp/sidecar': {
    path: '../src/sidecar/index.js',
    names: ['applyConfig', 'createMetricsApp', 'createSidecar', 'metricsHandler', 'parseConfig', 'readConfigFile', 'serve'],
  },
  'sms-otp/passport': {
    path: '../strategies/index.js',
    names: ['SmsOtpStrategy'],
  },
}

describe('public exports', () => {
  for (const [entry, { path, names }] of Object.entries(RUNTIME)) {
    it(`${entry} exports exactly its documented names`, async () => {
      const mod = (await import(path)) as Record<string, unknown>
      assert.deepEqual(Object.keys(mod).sort(), [...names].sort())
      for (const name of names) assert.notEqual(mod[name], undefined, name)
    })
  }

  it('package.json maps the entry points to the modules checked here', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, { default: string }> }
    assert.deepEqual(
      Object.fromEntries(Object.entries(pkg.exports).map(([k, v]) => [k, v.default])),
      { '.': './dist/src/index.js', './middleware': './dist/middleware/index.js', './sidecar': './dist/src/sidecar/index.js', './passport': './dist/strategies/index.js' },
    )
  })
})
