/**
 * The settings of one installation — config keys, providers, policies, realms — loaded once from
 * the settings store and kept as an immutable snapshot. Every write is validated first, then
 * stored as one batch, then the snapshot is rebuilt, so a bad input never leaves half a change.
 */
import { INTERNAL_PREFIX } from '../crypto/key-check.js'
import type { Secrets } from '../crypto/secrets.js'
import { ConfigError, OtpError } from '../errors.js'
import type { Logger } from '../logger.js'
import { PolicyEngine, parsePolicy, type PolicyRecord } from '../policy/index.js'
import { checkProviderRecord, loadProvider, type LoadedProvider } from '../providers/loader.js'
import type { ProviderRegistry } from '../providers/registry.js'
import { DEFAULT_POLICY, type ResourcePolicy } from '../providers/resources.js'
import type { ProviderRecord } from '../providers/types.js'
import type { SettingsKind, SettingsStore } from '../stores/types.js'
import { ConfigView, PROVIDER_KEYS, checkConfigEntry } from './config.js'
import {
  DEFAULT_POINTER, IMPORTED_DEFAULT, checkProviderName, decodeProvider, encodeProvider, legacyProvider, legacyProviderWrites,
} from './providers.js'

/** A provider as `getProvider` lists it. */
export interface ProviderListing extends ProviderRecord {
  readonly default: boolean
}

/** A realm definition. */
export interface RealmRecord {
  readonly name: string
  readonly default: boolean
}

type Op = { kind: SettingsKind; name: string; value: string | null }

export class Settings {
  readonly #store: SettingsStore
  readonly #secrets: Secrets
  readonly #registry: ProviderRegistry
  readonly #logger: Logger
  readonly #resources: ResourcePolicy
  #config = new ConfigView(new Map())
  #configMap = new Map<string, string>()
  #providers: ProviderListing[] = []
  #policies: PolicyRecord[] = []
  #engine = new PolicyEngine([])
  #realms: RealmRecord[] = []
  readonly #loaded = new Map<string, LoadedProvider>()
  readonly #loadedFrom = new Map<string, ProviderRecord>()

  /** @param resources what admin-defined providers may use (`providers/resources.ts`). */
  constructor(store: SettingsStore, secrets: Secrets, registry: ProviderRegistry, logger: Logger, resources: ResourcePolicy = DEFAULT_POLICY) {
    this.#store = store
    this.#secrets = secrets
    this.#registry = registry
    this.#logger = logger
    this.#resources = resources
  }

  get config(): ConfigView {
    return this.#config
  }
  get policies(): PolicyEngine {
    return this.#engine
  }
  get policyRecords(): readonly PolicyRecord[] {
    return this.#policies
  }
  get providers(): readonly ProviderListing[] {
    return this.#providers
  }
  get realms(): readonly RealmRecord[] {
    return this.#realms
  }
  get defaultRealm(): string | undefined {
    return this.#realms.find((r) => r.default)?.name
  }
  get defaultProvider(): string | undefined {
    return this.#providers.find((p) => p.default)?.name
  }

  /** (Re)reads everything from the store. */
  async load(): Promise<void> {
    const [config, providers, policies, realms] = await Promise.all(
      (['config', 'provider', 'policy', 'realm'] as const).map((kind) => this.#store.list(kind)),
    )
    // Internal entries (the key check value, the sealed PIN key) are not config: never listed or editable.
    this.#configMap = new Map([...(config ?? [])].filter(([name]) => !name.startsWith(INTERNAL_PREFIX)))
    this.#config = new ConfigView(this.#configMap)
    const records: ProviderRecord[] = []
    const legacy = legacyProvider(this.#configMap, this.#secrets)
    if (legacy) records.push(legacy)
    for (const [name, value] of providers ?? []) records.push(decodeProvider(name, value, this.#secrets))
    const pointer = this.#configMap.get(DEFAULT_POINTER)
    const defaultName = records.some((r) => r.name === pointer) ? pointer : records[0]?.name
    this.#providers = records.map((r) => ({ ...r, default: r.name === defaultName }))
    if (defaultName !== undefined && defaultName !== pointer) {
      await this.#store.put('config', DEFAULT_POINTER, defaultName) // LinOTP persists the first as default
      this.#configMap.set(DEFAULT_POINTER, defaultName)
    }
    this.#policies = [...(policies ?? new Map()).values()].map((v) => parsePolicy(JSON.parse(v) as Record<string, unknown>))
    this.#engine = new PolicyEngine(this.#policies, { logger: this.#logger })
    this.#realms = [...(realms ?? new Map()).entries()].map(([name, v]) => ({ name, default: (JSON.parse(v) as { default?: boolean }).default === true }))
    await this.#dropInstances((name) => !this.#providers.some((p) => p.name === name && sameProvider(p, this.#loadedFrom.get(name))))
  }

  /** A ready provider by name. @throws OtpError `ERR_OTP_UNKNOWN_PROVIDER`, or ConfigError. */
  provider(name: string): LoadedProvider {
    const cached = this.#loaded.get(name)
    if (cached) return cached
    const record = this.#providers.find((p) => p.name === name)
    if (!record) throw new OtpError('ERR_OTP_UNKNOWN_PROVIDER', `Unable to load provider: '${name}'`)
    const loaded = loadProvider(record, this.#registry, this.#logger, this.#resources)
    this.#loaded.set(name, loaded)
    this.#loadedFrom.set(name, record)
    return loaded
  }

  /** Sets config keys (validated all first). Returns the keys written and any warnings. */
  async setConfig(entries: Record<string, string>): Promise<{ keys: string[]; warnings: string[] }> {
    const ops: Op[] = []
    const warnings: string[] = []
    for (const [key, value] of Object.entries(entries)) {
      const warning = checkConfigEntry(key, value)
      if (warning !== undefined) warnings.push(warning)
      ops.push({ kind: 'config', name: key, value })
    }
    await this.#commit(ops)
    return { keys: ops.map((o) => o.name), warnings }
  }

  async deleteConfig(key: string): Promise<boolean> {
    if ((PROVIDER_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`config key ${key}: use /system/delProvider or setDefaultProvider`)
    }
    if (!this.#configMap.has(key)) return false
    await this.#commit([{ kind: 'config', name: key, value: null }])
    return true
  }

  /**
   * Creates or replaces a provider after validating its class and config (an admin-defined one
   * against the resource allow-lists). Returns warnings.
   */
  async setProvider(record: ProviderRecord, makeDefault: boolean): Promise<string[]> {
    checkProviderName(record.name)
    const warnings = checkProviderRecord(record, this.#registry, this.#resources)
    const ops: Op[] =
      record.name === IMPORTED_DEFAULT
        ? legacyProviderWrites(record, this.#secrets).map(([name, value]) => ({ kind: 'config', name, value }))
        : [{ kind: 'provider', name: record.name, value: encodeProvider(record, this.#secrets) }]
    if (makeDefault) ops.push({ kind: 'config', name: DEFAULT_POINTER, value: record.name })
    await this.#commit(ops)
    return warnings
  }

  /**
   * Deletes a provider unless it is the default (while others exist) or a policy names it
   * (Decision 8). @returns undefined on success, else the refusal text.
   */
  async deleteProvider(name: string): Promise<string | undefined> {
    if (!this.#providers.some((p) => p.name === name)) return `Unknown provider! '${name}'`
    if (this.defaultProvider === name && this.#providers.length > 1) return 'Default provider could not be deleted!'
    const users = this.#engine.policiesUsingProvider(name)
    if (users.length > 0) return `Unable to delete - provider used in policies!\n[${users.join(', ')}]`
    const ops: Op[] =
      name === IMPORTED_DEFAULT
        ? ['SMSProvider', 'SMSProviderConfig', 'SMSProviderTimeout', 'SMSProviderOrigin'].map((key) => ({ kind: 'config', name: key, value: null }))
        : [{ kind: 'provider', name, value: null }]
    if (this.defaultProvider === name) ops.push({ kind: 'config', name: DEFAULT_POINTER, value: null })
    await this.#commit(ops)
    return undefined
  }

  /** @returns false when no provider has that name. */
  async setDefaultProvider(name: string): Promise<boolean> {
    if (!this.#providers.some((p) => p.name === name)) return false
    await this.#commit([{ kind: 'config', name: DEFAULT_POINTER, value: name }])
    return true
  }

  /** Creates or replaces a policy (validated against every other policy first). */
  async setPolicy(input: Record<string, unknown>): Promise<PolicyRecord> {
    const policy = parsePolicy(input)
    const next = [...this.#policies.filter((p) => p.name !== policy.name), policy]
    new PolicyEngine(next) // throws on a bad combination before anything is stored
    await this.#commit([{ kind: 'policy', name: policy.name, value: JSON.stringify(policy) }])
    return policy
  }

  async deletePolicy(name: string): Promise<boolean> {
    if (!this.#policies.some((p) => p.name === name)) return false
    await this.#commit([{ kind: 'policy', name, value: null }])
    return true
  }

  /** Creates a realm (lower-cased); `makeDefault` moves the default flag to it. */
  async setRealm(name: string, makeDefault: boolean): Promise<void> {
    const realm = name.trim().toLowerCase()
    if (!/^[a-z0-9_.-]{1,64}$/.test(realm)) throw new ConfigError(`realm ${JSON.stringify(name.slice(0, 70))}: 1 to 64 letters, digits, _ . - only`)
    const ops: Op[] = [{ kind: 'realm', name: realm, value: JSON.stringify({ default: makeDefault || this.#isDefaultRealm(realm) }) }]
    if (makeDefault) {
      for (const r of this.#realms) if (r.default && r.name !== realm) ops.push({ kind: 'realm', name: r.name, value: JSON.stringify({ default: false }) })
    }
    await this.#commit(ops)
  }

  /** Closes every provider instance (pools, binds, ports). */
  async close(): Promise<void> {
    await this.#dropInstances()
  }

  /** Applies `ops` as one batch and rebuilds the snapshot. */
  async batch(ops: Op[]): Promise<void> {
    await this.#commit(ops)
  }

  #isDefaultRealm(name: string): boolean {
    return this.#realms.some((r) => r.name === name && r.default)
  }

  async #commit(ops: Op[]): Promise<void> {
    if (ops.length === 0) return
    await this.#store.batch(ops)
    await this.load()
  }

  /** Closes and forgets the instances `which` selects (all by default): their records changed. */
  async #dropInstances(which: (name: string) => boolean = () => true): Promise<void> {
    const dropped: LoadedProvider[] = []
    for (const [name, loaded] of this.#loaded) {
      if (!which(name)) continue
      dropped.push(loaded)
      this.#loaded.delete(name)
      this.#loadedFrom.delete(name)
    }
    await Promise.allSettled(dropped.map((p) => p.instance.close?.()))
  }
}

function sameProvider(a: ProviderRecord, b: ProviderRecord | undefined): boolean {
  return b !== undefined && a.className === b.className && a.config === b.config && a.timeout === b.timeout && a.origin === b.origin
}
