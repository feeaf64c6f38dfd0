/**
 * The composition root: one factory that all three faces (Passport strategy, Express middleware,
 * sidecar) use, so the library is as capable as the sidecar.
 */
import { systemClock, type Clock } from './clock.js'
import type { Core } from './core.js'
import { checkMasterKey } from './crypto/key-check.js'
import { Secrets } from './crypto/secrets.js'
import { OtpError, ParameterError, describeError, invalidOption } from './errors.js'
import { silentLogger, type Logger } from './logger.js'
import { maskPhone, validatePhone } from './phone/index.js'
import { sendVia } from './providers/loader.js'
import { Failover, type BackoffOptions } from './providers/failover.js'
import { FileSmsProviderClass } from './providers/file.js'
import { HttpSmsProviderClass } from './providers/http/index.js'
import { ProviderRegistry } from './providers/registry.js'
import { withDeadline } from './providers/deadline.js'
import { resourcePolicy, type ProviderOrigin, type ResourceOptions } from './providers/resources.js'
import { RestSmsProviderClass } from './providers/rest/index.js'
import { SmppSmsProviderClass } from './providers/smpp/index.js'
import { SmtpSmsProviderClass } from './providers/smtp/index.js'
import { DeviceSmsProviderClass } from './providers/device/index.js'
import { Settings } from './settings/index.js'
import { createMemoryStore } from './stores/memory.js'
import type { Store } from './stores/types.js'
import * as admin from './admin/tokens.js'
import { check } from './validate/check.js'
import { ensureDecoy } from './validate/decoy.js'
import { checkS, checkT, simplecheck, smspin } from './validate/endpoints.js'
import { trigger, verify, type TriggerRequest, type VerifyRequest } from './validate/second-factor.js'
import type { AuditFacts, AuditRecord, CheckRequest } from './validate/types.js'
import type { RealmOptions } from './settings/index.js'
import type { ResolverInput, ResolverOrigin } from './users/definitions.js'
import type { RealmsOptions } from './users/realms.js'
import { revokeDevices } from './login/devices.js'
import type { SmsOtpMetrics } from './metrics/index.js'
import { instrumentStore } from './metrics/store.js'

/** Options of {@link createSmsOtp}. */
export interface SmsOtpOptions {
  /** Storage backend. @default an in-memory store (lost on restart) */
  readonly store?: Store
  /** Secret protection. Required with `store`. @default a random key, with the default memory store only */
  readonly secrets?: Secrets
  /** @default the system clock */
  readonly clock?: Clock
  /** A pino-compatible logger. @default silent */
  readonly logger?: Logger
  /** Receives one record per validate request and per admin call. @default logged at info level as `{ audit: record }` */
  readonly audit?: (record: AuditRecord) => void
  /** Provider classes. @default {@link defaultRegistry}: Http, Rest, SMPP, Smtp, Device and File */
  readonly registry?: ProviderRegistry
  /** Provider back-off after `unavailable`, and the deadline of one provider operation (`attemptMs`). @default 30 s doubling to 2 h; 60 s */
  readonly backoff?: BackoffOptions
  /**
   * Files, programs and hosts that providers defined through the admin API may use (see
   * docs/providers.md "Where providers may point"). Definitions made in code or in the config
   * file are trusted and not limited, except that no provider reaches link-local or metadata
   * addresses unless `allowHosts` lists them.
   * @default {} (admin-defined providers: no files, devices or programs; public hosts only)
   * @example { allowPaths: ['/var/lib/sms-otp/outbox'], allowHosts: ['sms.example.net', '10.1.2.0/24'] }
   */
  readonly resources?: ResourceOptions
  /**
   * User directories: realm name → resolvers asked in order (see docs/users.md). Used by
   * `otppin=password`, auto-enrolment and `resolver:` policy forms. @default no realms
   * @example { realms: { corp: [ldapResolver({ … }), fileResolver({ name: 'local', path: './users.json' })] }, defaultRealm: 'corp' }
   */
  readonly users?: RealmsOptions
  /**
   * Prometheus metrics of this engine (`createMetrics()` from `sms-otp`): sends,
   * failovers, back-off, store timings, open challenges. The store is wrapped once to time each
   * call. @default none (nothing is measured)
   */
  readonly metrics?: SmsOtpMetrics
}

/** The registry with every provider class this build ships: LinOTP's five and FileSMSProvider. */
export function defaultRegistry(): ProviderRegistry {
  return new ProviderRegistry()
    .register(HttpSmsProviderClass)
    .register(RestSmsProviderClass)
    .register(SmppSmsProviderClass)
    .register(SmtpSmsProviderClass)
    .register(DeviceSmsProviderClass)
    .register(FileSmsProviderClass)
}

/** The engine's public face. */
export type SmsOtp = Awaited<ReturnType<typeof createSmsOtp>>

/**
 * Creates and opens the engine.
 * @example
 * const otp = await createSmsOtp({ store: createSqliteStore({ path: './data/sms-otp.db' }), secrets })
 * await otp.providers.set({ name: 'gw', className: 'HttpSMSProvider', config: '{"URL":"https://gw/send"}', timeout: 120 })
 * await otp.tokens.init({ user: 'alice', phone: '+4915112345678', pin: '1234' })
 * const r = await otp.check({ user: 'alice', pass: '1234' }) // value false, detail.transactionid …
 */
export async function createSmsOtp(options: SmsOtpOptions = {}) {
  const logger = options.logger ?? silentLogger
  if (options.store !== undefined && options.secrets === undefined) {
    // A random key with a persistent store would make every seed unreadable after a restart.
    throw invalidOption('secrets', 'required with a store: new Secrets(await loadMasterKey(file))')
  }
  const metrics = options.metrics
  const rawStore = options.store ?? createMemoryStore()
  const store = metrics ? instrumentStore(rawStore, (op, seconds) => metrics.storeOperation(op, seconds)) : rawStore
  const secrets = options.secrets ?? Secrets.ephemeral()
  const clock = options.clock ?? systemClock
  const settings = new Settings(store.settings, secrets, options.registry ?? defaultRegistry(), logger, resourcePolicy(options.resources), options.users)
  // Live: realms and resolvers set through the settings are seen at once (src/users/directory.ts).
  const users = settings.users
  const core: Core = { store, settings, secrets, clock, failover: new Failover(clock, options.backoff, metrics), logger, users }
  const auditSink = options.audit ?? ((record: AuditRecord) => logger.info({ audit: record }, 'audit'))
  await store.open()
  // The key must belong to the data before anything is read or written (ERR_OTP_KEY_MISMATCH).
  await checkMasterKey(store, secrets).catch(async (err: unknown) => {
    await store.close()
    throw err
  })
  await settings.load()
  await ensureDecoy(core)
  metrics?.bind({
    openChallenges: () => rawStore.challenges.countOpen(clock.now()),
    providers: () => settings.providers.map((p) => p.name),
    blockedProviders: () => core.failover.blockedProviders(),
  })

  const audit = (endpoint: string, client: string | undefined, result: boolean, facts: AuditFacts): void => {
    auditSink({ endpoint, client: client ?? '', result, time: new Date(clock.now()).toISOString(), ...facts })
  }
  const audited = async <R extends { value: unknown; audit: AuditFacts }>(endpoint: string, client: string | undefined, run: () => Promise<R>): Promise<R> => {
    const result = await run()
    const v = result.value
    audit(endpoint, client, typeof v === 'object' && v !== null ? (v as { value: boolean }).value : v === true, result.audit)
    return result
  }

  return {
    core,
    /** The metrics given as option `metrics`, if any (the validate router counts requests into them). */
    metrics,
    /** LinOTP `/validate/check`. */
    check: (req: CheckRequest) => audited('validate/check', req.client, () => check(core, req)),
    /** LinOTP `/validate/simplecheck`. */
    simplecheck: (req: CheckRequest) => audited('validate/simplecheck', req.client, () => simplecheck(core, req)),
    /** LinOTP `/validate/smspin`. */
    smspin: (req: CheckRequest) => audited('validate/smspin', req.client, () => smspin(core, req)),
    /** LinOTP `/validate/check_t`. */
    checkT: (pass: string, transactionId: string, client?: string) => audited('validate/check_t', client, () => checkT(core, pass, transactionId, client)),
    /** LinOTP `/validate/check_s`. */
    checkS: (req: CheckRequest) => audited('validate/check_s', req.client, () => checkS(core, req)),

    /**
     * Second factor after a first factor the host has checked: sends an SMS to every active token
     * of the user (no PIN). Answers like `check` with a PIN: value false and the challenge.
     */
    trigger: (req: TriggerRequest) => audited('trigger', req.client, () => trigger(core, req)),

    /** Second step after {@link trigger}: the OTP for an open transaction of this user. */
    verify: (req: VerifyRequest) => audited('verify', req.client, () => verify(core, req)),

    tokens: {
      init: (params: Parameters<typeof admin.initToken>[1]) => admin.initToken(core, params),
      show: (filter: Parameters<typeof admin.showTokens>[1] = {}) => admin.showTokens(core, filter),
      remove: async (sel: Selection) => admin.removeTokens(core, await select(core, sel)),
      enable: async (sel: Selection) => admin.patchTokens(core, await select(core, sel), { active: true }),
      disable: async (sel: Selection) => admin.patchTokens(core, await select(core, sel), { active: false }),
      /** Clears the failcounter (unlocks). */
      reset: async (sel: Selection) => {
        const tokens = await select(core, sel)
        await store.tokens.resetFailcount(tokens.map((t) => t.serial))
        return tokens.length
      },
      set: async (sel: Selection, params: Parameters<typeof admin.setPatch>[1]) => admin.patchTokens(core, await select(core, sel), admin.setPatch(core, params)),
    },

    providers: {
      /**
       * Creates or replaces a provider; validated before anything is stored. Returns warnings.
       * `origin: 'admin'` (the admin HTTP API) holds it to the `resources` allow-lists; the
       * default `'local'` is the host's own code or config file, trusted.
       */
      set: async (record: { name: string; className: string; config: string; timeout: number }, makeDefault = false, options: { origin?: ProviderOrigin } = {}) => {
        const warnings = await settings.setProvider({ ...record, origin: options.origin ?? 'local' }, makeDefault)
        core.failover.clear(record.name) // a changed provider gets a fresh start
        return warnings
      },
      list: () => settings.providers,
      /** @returns undefined when deleted, else LinOTP's refusal text. */
      delete: (name: string) => settings.deleteProvider(name),
      setDefault: (name: string) => settings.setDefaultProvider(name),
      /**
       * Sends a test SMS (or runs the provider's own check) through one provider, within the
       * provider deadline (`backoff.attemptMs`). @throws OtpError `ERR_OTP_TIMEOUT` (504) past it.
       */
      test: async (name: string, phone?: string) => {
        const provider = settings.provider(name)
        const deadline = core.failover.attemptMs
        if (phone === undefined) {
          const check = provider.instance.test?.bind(provider.instance)
          if (!check) throw new ParameterError("this provider has no connection test: give 'phone' to send a test SMS")
          return withDeadline(deadline, check, `the test of provider '${name}'`)
        }
        // Straight to the provider, past any back-off: an admin test is how one learns it is back.
        const msg = { phone: validatePhone(phone), text: 'sms-otp test message', transactionId: '0' }
        const result = await withDeadline(deadline, (signal) => sendVia(provider, msg, signal), `the test of provider '${name}'`)
        if (result.status === 'sent') core.failover.clear(name)
        logger.info({ provider: name, phone: maskPhone(phone), status: result.status }, 'provider test')
        return result
      },
    },
    policies: {
      set: (input: Record<string, unknown>) => settings.setPolicy(input),
      list: () => settings.policyRecords,
      delete: (name: string) => settings.deletePolicy(name),
    },
    config: {
      set: (entries: Record<string, string>) => settings.setConfig(entries),
      get: () => Object.fromEntries(settings.config.entries()),
      delete: (key: string) => settings.deleteConfig(key),
    },
    realms: {
      /** Creates or changes a realm; `true` (or `{ default: true }`) makes it the default, `resolvers` replaces its list. */
      set: (name: string, options: boolean | RealmOptions = false) => settings.setRealm(name, options),
      /** Every realm (stored or given in code) with its default flag and resolver names. */
      list: () => settings.realmListing,
      /** @returns false when there was no such realm. Realms given in code cannot be deleted. */
      delete: (name: string) => settings.deleteRealm(name),
      /** @returns false when there is no such realm. */
      setDefault: (name: string) => settings.setDefaultRealm(name),
      getDefault: (): string | undefined => users.defaultRealm,
    },
    resolvers: {
      /**
       * Creates or replaces a user resolver (`file` or `ldap`, LinOTP parameter names; see
       * docs/users.md "In the sidecar"). `origin: 'admin'` holds it to the `resources`
       * allow-lists; the default `'local'` is the host's own code or config file. Returns warnings.
       */
      set: (input: ResolverInput, options: { origin?: ResolverOrigin } = {}) => settings.setResolver(input, options.origin ?? 'local'),
      /** Every resolver; secrets shown as `***`. */
      list: () => settings.resolvers,
      get: (name: string) => settings.resolvers.find((r) => r.name === name),
      /** @returns false when there was none. Refused while a realm lists it, and for resolvers given in code. */
      delete: (name: string) => settings.deleteResolver(name),
    },

    /** The user directories (realms of resolvers): `find(login, realm?)`, `checkPassword(login, password, realm?)`. */
    users,

    /**
     * Remembered devices of `requireSecondFactor({ rememberDevice })`: revoking makes every device
     * cookie issued until now worthless (sessions let in by one lose their mark at their next request).
     */
    devices: {
      /** Revokes the remembered devices of one user. */
      revoke: (who: { user: string; realm?: string | undefined }) => revokeDevices(settings, who),
      /** Revokes every remembered device of every user. */
      revokeAll: () => revokeDevices(settings),
    },

    /** Writes one record to the audit sink; the admin router records every admin call here. */
    audit: (record: AuditRecord): void => auditSink(record),

    /** Deletes expired challenges; the sidecar calls it periodically. */
    purgeExpired: () => store.challenges.purgeExpired(clock.now()),

    /** Closes providers and the store. */
    async close(): Promise<void> {
      await settings.close().catch((err: unknown) => logger.warn({ err: describeError(err) }, 'closing providers failed'))
      await users.close().catch((err: unknown) => logger.warn({ err: describeError(err) }, 'closing user resolvers failed'))
      await store.close()
    },
  }
}

type Selection = { serial?: string | undefined; user?: string | undefined; realm?: string | undefined }

async function select(core: Core, sel: Selection) {
  const tokens = await admin.selectTokens(core, sel.serial, sel.user, sel.realm)
  if (tokens.length === 0) throw new OtpError('ERR_OTP_TOKEN_NOT_FOUND', 'no token found', { status: 404 })
  return tokens
}
