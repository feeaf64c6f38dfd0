/**
 * The settings of one installation — config keys, providers, policies, realms, user resolvers —
 * loaded once from
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
import { checkResolverResources } from '../users/build.js'
import { parseResolverDefinition, realmResolverName, redactParams, type ResolverInput, type ResolverOrigin, type ResolverType } from '../users/definitions.js'
import { Directory, type StoredResolver } from '../users/directory.js'
import type { RealmsOptions, Users } from '../users/realms.js'
import { ConfigView, PROVIDER_KEYS, checkConfigEntry } from './config.js'
import {
  DEFAULT_POINTER, IMPORTED_DEFAULT, checkProviderName, decodeProvider, encodeProvider, legacyProvider, legacyProviderWrites,
} from './providers.js'
import { decodeRealm, decodeResolver, encodeRealm, encodeResolver } from './resolvers.js'

/** A provider as `getProvider` lists it. */
export interface ProviderListing extends ProviderRecord {
  readonly default: boolean
}

/** A realm definition: its default flag and its resolvers' names, in the order they are asked. */
export interface RealmRecord {
  readonly name: string
  readonly default: boolean
  readonly resolvers: readonly string[]
}

/** A user resolver as `/system/getResolvers` lists it; secrets (`BINDPW`) are shown as `***`. */
export interface ResolverListing {
  readonly name: string
  /** `code`: given to `createSmsOtp({ users })`, neither listed with parameters nor changeable. */
  readonly type: ResolverType | 'code'
  readonly origin: ResolverOrigin
  readonly params: Readonly<Record<string, string>>
}

/** Options of {@link Settings.setRealm}. */
export interface RealmOptions {
  /** Make it the default realm. false or absent: the default flag stays as it is. */
  readonly default?: boolean
  /** Resolver names in the order they are asked; absent: the realm's list stays as it is. */
  readonly resolvers?: readonly string[]
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
  #resolvers: StoredResolver[] = []
  readonly #directory: Directory
  readonly #loaded = new Map<string, LoadedProvider>()
  readonly #loadedFrom = new Map<string, ProviderRecord>()

  /**
   * @param resources what admin-defined providers and resolvers may use (`providers/resources.ts`).
   * @param users realms and resolvers given in code (`createSmsOtp({ users })`).
   */
  constructor(store: SettingsStore, secrets: Secrets, registry: ProviderRegistry, logger: Logger, resources: ResourcePolicy = DEFAULT_POLICY, users?: RealmsOptions) {
    this.#directory = new Directory(users, logger)
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
  /** The live user directory: code realms and stored ones, rebuilt on every change. */
  get users(): Users {
    return this.#directory
  }
  /** Every realm, stored or given in code, with its effective resolvers (code ones first). */
  get realmListing(): readonly RealmRecord[] {
    const names = [...new Set([...this.#realms.map((r) => r.name), ...this.#directory.codeRealms])].sort()
    const fallback = this.#directory.codeDefaultRealm
    const def = this.defaultRealm ?? fallback
    return names.map((name) => {
      const stored = this.#realms.find((r) => r.name === name)?.resolvers ?? []
      return { name, default: name === def, resolvers: [...new Set([...(this.#directory.codeRealm(name) ?? []), ...stored])] }
    })
  }
  /** Every resolver: those given in code (`origin: 'local'`, type `code`), then the stored ones. */
  get resolvers(): readonly ResolverListing[] {
    const code = this.#directory.codeResolvers.map((name): ResolverListing => ({ name, type: 'code', origin: 'local', params: {} }))
    const stored = this.#resolvers
      .filter((r) => !this.#directory.codeResolvers.includes(r.definition.name))
      .map((r): ResolverListing => ({ name: r.definition.name, type: r.definition.type, origin: r.origin, params: redactParams(r.definition.params) }))
    return [...code, ...stored]
  }
  get defaultProvider(): string | undefined {
    return this.#providers.find((p) => p.default)?.name
  }

  /** (Re)reads everything from the store. */
  async load(): Promise<void> {
    const [config, providers, policies, realms, resolvers] = await Promise.all(
      (['config', 'provider', 'policy', 'realm', 'resolver'] as const).map((kind) => this.#store.list(kind)),
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
    this.#realms = [...(realms ?? new Map()).entries()].map(([name, v]) => decodeRealm(name, v))
    this.#resolvers = [...(resolvers ?? new Map()).entries()].map(([name, v]) => decodeResolver(name, v, this.#secrets))
    await this.#directory.update(this.#resolvers, this.#realms, (origin) => ({ origin, policy: this.#resources }))
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

  /**
   * Creates or changes a realm (lower-cased). `default: true` moves the default flag to it;
   * `resolvers` replaces its list (each must exist). A realm given in code keeps its code
   * resolvers first; stored ones are asked after them.
   */
  async setRealm(name: string, options: boolean | RealmOptions = {}): Promise<void> {
    const o: RealmOptions = typeof options === 'boolean' ? { default: options } : options
    const realm = checkRealmName(name)
    const known = new Set([...this.#resolvers.map((r) => r.definition.name), ...this.#directory.codeResolvers])
    const resolvers = o.resolvers?.map(realmResolverName).filter((r) => r !== '')
    for (const r of resolvers ?? []) {
      if (!known.has(r)) throw new ConfigError(`realm '${realm}': no resolver '${r.slice(0, 64)}' (define it first with /system/setResolver)`)
    }
    if (resolvers !== undefined && new Set(resolvers).size !== resolvers.length) throw new ConfigError(`realm '${realm}': a resolver is listed twice`)
    const current = this.#realms.find((r) => r.name === realm)
    const makeDefault = o.default === true
    const ops: Op[] = [{ kind: 'realm', name: realm, value: encodeRealm({ default: makeDefault || current?.default === true, resolvers: resolvers ?? current?.resolvers ?? [] }) }]
    if (makeDefault) ops.push(...this.#clearDefaults(realm))
    await this.#commit(ops)
  }

  /** @returns false when no realm (stored or given in code) has that name. */
  async setDefaultRealm(name: string): Promise<boolean> {
    const realm = name.trim().toLowerCase()
    const current = this.#realms.find((r) => r.name === realm)
    if (current === undefined && this.#directory.codeRealm(realm) === undefined) return false
    await this.#commit([{ kind: 'realm', name: realm, value: encodeRealm({ default: true, resolvers: current?.resolvers ?? [] }) }, ...this.#clearDefaults(realm)])
    return true
  }

  /**
   * Deletes a stored realm (tokens keep their realm name). @returns false when there is none.
   * @throws ConfigError for a realm given in code.
   */
  async deleteRealm(name: string): Promise<boolean> {
    const realm = name.trim().toLowerCase()
    if (this.#directory.codeRealm(realm) !== undefined) throw new ConfigError(`realm '${realm}' is given in the host's code (createSmsOtp users): it cannot be deleted through the API`)
    if (!this.#realms.some((r) => r.name === realm)) return false
    await this.#commit([{ kind: 'realm', name: realm, value: null }])
    return true
  }

  /**
   * Creates or replaces a user resolver definition after validating it (an admin-defined one
   * against the resource allow-lists). Returns warnings (LinOTP parameters that are not used).
   * @throws ConfigError naming the parameter; ResourceError `ERR_OTP_RESOURCE_NOT_ALLOWED`.
   */
  async setResolver(input: ResolverInput, origin: ResolverOrigin): Promise<string[]> {
    const { definition, warnings } = parseResolverDefinition(input)
    this.#notCode(definition.name, 'replaced')
    checkResolverResources(definition, { origin, policy: this.#resources })
    await this.#commit([{ kind: 'resolver', name: definition.name, value: encodeResolver(definition, origin, this.#secrets) }])
    return warnings
  }

  /**
   * Deletes a stored resolver. @returns false when there is none.
   * @throws ConfigError when a realm still lists it (LinOTP refuses too) or it is given in code.
   */
  async deleteResolver(name: string): Promise<boolean> {
    this.#notCode(name, 'deleted')
    if (!this.#resolvers.some((r) => r.definition.name === name)) return false
    const users = this.#realms.filter((r) => r.resolvers.includes(name)).map((r) => r.name)
    if (users.length > 0) throw new ConfigError(`resolver '${name}' is still used by realm(s) ${users.join(', ')}: remove it from them first (/system/setRealm)`)
    await this.#commit([{ kind: 'resolver', name, value: null }])
    return true
  }

  /** Closes every provider instance (pools, binds, ports). */
  async close(): Promise<void> {
    await this.#dropInstances()
  }

  /** Applies `ops` as one batch and rebuilds the snapshot. */
  async batch(ops: Op[]): Promise<void> {
    await this.#commit(ops)
  }

  /** Writes that take the default flag from every realm but `keep`. */
  #clearDefaults(keep: string): Op[] {
    return this.#realms.filter((r) => r.default && r.name !== keep).map((r) => ({ kind: 'realm', name: r.name, value: encodeRealm({ default: false, resolvers: r.resolvers }) }))
  }

  #notCode(name: string, what: string): void {
    if (this.#directory.codeResolvers.includes(name)) {
      throw new ConfigError(`resolver '${name.slice(0, 64)}' is given in the host's code (createSmsOtp users): it cannot be ${what} through the API`)
    }
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

/** A realm name, lower-cased and checked. @throws ConfigError */
function checkRealmName(name: string): string {
  const realm = name.trim().toLowerCase()
  if (!/^[a-z0-9_.-]{1,64}$/.test(realm)) throw new ConfigError(`realm ${JSON.stringify(name.slice(0, 70))}: 1 to 64 letters, digits, _ . - only`)
  return realm
}

function sameProvider(a: ProviderRecord, b: ProviderRecord | undefined): boolean {
  return b !== undefined && a.className === b.className && a.config === b.config && a.timeout === b.timeout && a.origin === b.origin
}
