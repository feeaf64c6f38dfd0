/**
 * The sidecar's JSON config file: user resolvers, realms, providers, policies, config keys and
 * tokens to create at start. Everything is validated before anything is written; tokens whose
 * serial exists are left alone, so restarts are idempotent.
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { ConfigError, isOtpError, type OtpErrorCode } from '../errors.js'
import { jsonSyntax, locateJson, positionOf } from '../providers/parse-json.js'
import { PolicyEngine, parsePolicy } from '../policy/index.js'
import { checkProviderRecord } from '../providers/loader.js'
import { resourcePolicy, type ResourceOptions } from '../providers/resources.js'
import { checkConfigEntry, closestConfigKey } from '../settings/config.js'
import { checkProviderName, parseProviderTimeout } from '../settings/providers.js'
import { Secrets } from '../crypto/secrets.js'
import { buildToken } from '../tokens/enroll.js'
import { AUTO_SERIAL_PREFIX } from '../validate/autoenroll.js'
import type { SmsOtp } from '../sms-otp.js'
import { checkResolverResources } from '../users/build.js'
import { parseResolverDefinition, realmResolverName } from '../users/definitions.js'
import { defaultRegistry } from '../sms-otp.js'

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String)

/**
 * A resolver parameter: a value, an object (`USERINFO`), or `{ "env": "NAME" }` to take the value
 * from the environment (keeps `BINDPW` out of the file).
 */
const resolverParam = z.union([z.string(), z.number(), z.boolean(), z.object({ env: z.string().min(1) }).strict(), z.record(z.string())])
const resolverEntry = z
  .object({ name: z.string(), type: z.string() })
  .catchall(resolverParam)
  .transform(({ name, type, ...params }) => ({ name, type, params }))
type ResolverParam = z.infer<typeof resolverParam>

const realmEntry = z.object({ name: z.string(), default: z.boolean().optional(), resolvers: z.array(z.string()).optional() }).strict()
const providerEntry = z
  .object({
    name: z.string(),
    class: z.string(),
    config: z.union([z.string(), z.record(z.unknown())]),
    timeout: z.union([z.number(), z.string()]).default(120),
    default: z.boolean().optional(),
  })
  .strict()
const tokenEntry = z
  .object({
    serial: z.string(), user: z.string().optional(), realm: z.string().optional(), phone: z.string(),
    pin: z.string().optional(), otpkey: z.string().optional(), otplen: z.number().optional(),
    hashlib: z.string().optional(), description: z.string().optional(),
  })
  .strict()
const policyEntry = z.record(z.unknown())

const schema = z
  .object({
    adminToken: z.string().min(16, 'at least 16 characters').optional(),
    // Optional, not defaulted: configs built in code (the demo) need not name it.
    resolvers: z.array(resolverEntry).optional(),
    realms: z.array(realmEntry).default([]),
    providers: z.array(providerEntry).default([]),
    policies: z.array(policyEntry).default([]),
    config: z.record(scalar).default({}),
    tokens: z.array(tokenEntry).default([]),
  })
  .strict()

export type SidecarConfig = z.infer<typeof schema>

/** One problem of a config file: where (a JSON path) and what. */
export interface ConfigIssue {
  /** JSON path of the value at fault, e.g. `['providers', 1, 'timeout']`. */
  readonly path: Array<string | number>
  /** Names the section and the key, without the file name. Never quotes a secret. */
  readonly message: string
  readonly code: OtpErrorCode
}

/** Everything {@link checkConfig} found. `config` is set when there is no error. */
export interface ConfigReport {
  readonly config?: SidecarConfig
  /** The entries that passed the schema, even when other checks failed (for reports such as the SMS text costs). */
  readonly checked?: SidecarConfig
  readonly errors: ConfigIssue[]
  readonly warnings: ConfigIssue[]
}

/** The file each parsed config came from, for the errors {@link applyConfig} raises. */
const origins = new WeakMap<SidecarConfig, string>()

/**
 * Reads and validates a config file. `resources`: the allow-lists the engine will run with, so a
 * provider the operator allowed (e.g. `--allow-host` for a link-local gateway) is not refused here.
 * @throws ConfigError that names the file, the path and its line and column.
 */
export async function readConfigFile(path: string, resources?: ResourceOptions): Promise<SidecarConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    // Not the parser's message alone: V8 quotes the text around the error, which may be a PIN or a
    // gateway password. The position says where.
    const { where, kind } = jsonSyntax(text, err)
    throw new ConfigError(`${path}: not valid JSON${where}: ${kind}`)
  }
  const report = validate(json, resources, false)
  const first = report.errors[0]
  if (first !== undefined) {
    const at = positionOf(locateJson(text), first.path)
    throw new ConfigError(`${path}: ${first.message}${at ? ` (line ${at.line}, column ${at.column})` : ''}`, first.code)
  }
  const config = report.config as SidecarConfig
  origins.set(config, path)
  return config
}

/** Validates a parsed config object, including every provider, policy and config key. */
export function parseConfig(json: unknown, origin = 'config', resources?: ResourceOptions): SidecarConfig {
  const report = validate(json, resources, false)
  const first = report.errors[0]
  if (first !== undefined) throw new ConfigError(`${origin}: ${first.message}`, first.code)
  const config = report.config as SidecarConfig
  origins.set(config, origin)
  return config
}

/**
 * `sms-otp config check`: validates a parsed config object without a store or the network, and
 * collects every problem rather than the first. Stricter than a start: a config key close to a
 * known one is an error ("did you mean …?"), and a token must name a realm of the file.
 */
export function checkConfig(json: unknown, resources?: ResourceOptions): ConfigReport {
  return validate(json, resources, true)
}

const sections = { realms: realmEntry, providers: providerEntry, policies: policyEntry, tokens: tokenEntry, resolvers: resolverEntry } as const

/** Schema, then each entry's own checks; every problem is collected with its path. */
function validate(json: unknown, resources: ResourceOptions | undefined, strict: boolean): ConfigReport {
  const errors: ConfigIssue[] = []
  const warnings: ConfigIssue[] = []
  const zodIssues = (issues: z.ZodIssue[], prefix: Array<string | number>): void => {
    for (const issue of issues) {
      const unknownKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined
      const path = [...prefix, ...issue.path, ...(unknownKey === undefined ? [] : [unknownKey])]
      errors.push({ path, message: `${[...prefix, ...issue.path].join('.') || '(root)'}: ${issue.message}`, code: 'ERR_OTP_INVALID_CONFIG' })
    }
  }
  // The sections one by one, and the entries of each list one by one, so one bad provider does not
  // hide a bad token.
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    zodIssues(schema.safeParse(json).error?.issues ?? [], [])
    return { errors, warnings }
  }
  const raw = json as Record<string, unknown>
  const withoutLists = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Array.isArray(v) && k in sections ? [] : v]))
  let top = schema.safeParse(withoutLists)
  if (!top.success) {
    zodIssues(top.error.issues, [])
    // `config check` goes on with the sections that are right (a misspelt top-level key must not
    // hide a bad provider).
    if (strict) {
      const bad = new Set(top.error.issues.flatMap((e) => (e.code === 'unrecognized_keys' ? e.keys : [e.path[0]])))
      top = schema.safeParse(Object.fromEntries(Object.entries(withoutLists).filter(([k]) => !bad.has(k))))
    }
  }
  const lists: Record<string, unknown[]> = {}
  // Where each parsed entry stood in the file (entries that failed the schema leave gaps).
  const indexes = new WeakMap<object, number>()
  for (const [key, entry] of Object.entries(sections)) {
    const value = raw[key]
    if (!Array.isArray(value)) continue
    lists[key] = value.flatMap((item, i) => {
      const parsed = (entry as z.ZodTypeAny).safeParse(item)
      if (parsed.success) {
        indexes.set(parsed.data as object, i)
        return [parsed.data as unknown]
      }
      zodIssues(parsed.error.issues, [key, i])
      return []
    })
  }
  if (!top.success) return { errors, warnings }
  const config: SidecarConfig = { ...top.data, ...lists } as SidecarConfig
  if (errors.length > 0 && !strict) return { errors, warnings }
  const rawIndex = (item: unknown): number => indexes.get(item as object) ?? 0
  const registry = defaultRegistry()
  const policy = resourcePolicy(resources)
  const secrets = Secrets.ephemeral()
  // Each check's error keeps its code and gains the section it came from.
  const within = (path: Array<string | number>, section: string, check: () => void, keyOf?: (message: string) => Array<string | number>): void => {
    try {
      check()
    } catch (err) {
      if (!isOtpError(err)) throw err
      const code = err.code === 'ERR_OTP_INVALID_PARAMETER' || err.code === 'ERR_OTP_INVALID_PHONE' ? 'ERR_OTP_INVALID_CONFIG' : err.code
      errors.push({ path: [...path, ...(keyOf?.(err.message) ?? [])], message: `${section}: ${err.message}`, code })
    }
  }
  // A message that starts with a key the entry has ("URL: …", "timeout: …") points at that key.
  const keyIn = (object: unknown) => (message: string): string[] => {
    const key = /^(?:(?:provider|policy|resolver) '[^']*'(?: \([^)]*\))?: )?([A-Za-z_][\w.-]*):/.exec(message)?.[1]
    return key !== undefined && typeof object === 'object' && object !== null && Object.hasOwn(object, key) ? [key] : []
  }
  const names = new Set<string>()
  if (config.resolvers !== undefined) {
    config.resolvers = config.resolvers.map((r) => {
      let params: Record<string, ResolverParam> = {}
      const i = rawIndex(r)
      within(['resolvers', i], 'resolvers', () => {
        params = fromEnvironment(r.name, r.params)
        const { definition, warnings: notUsed } = parseResolverDefinition({ name: r.name, type: r.type, params })
        for (const w of notUsed) warnings.push({ path: ['resolvers', i], message: `resolvers: ${w}`, code: 'ERR_OTP_INVALID_CONFIG' })
        if (names.has(definition.name)) throw new ConfigError(`resolver '${definition.name}' is defined twice`)
        names.add(definition.name)
        checkResolverResources(definition, { origin: 'local', policy })
      }, keyIn(r.params))
      return { ...r, params }
    })
  }
  for (const p of config.providers) {
    const i = rawIndex(p)
    within(['providers', i], `providers: ${p.name}`, () => {
      checkProviderName(p.name)
      for (const w of checkProviderRecord(providerRecord(p), registry, policy)) warnings.push({ path: ['providers', i, 'config'], message: `providers: ${p.name}: ${w}`, code: 'ERR_OTP_INVALID_CONFIG' })
    }, (m) => {
      const own = keyIn(p)(m)
      if (own.length > 0) return own
      if (/class/i.test(m)) return ['class']
      return typeof p.config === 'object' && keyIn(p.config)(m).length > 0 ? ['config', ...keyIn(p.config)(m)] : ['config']
    })
  }
  const policies: PolicyRecordInput[] = []
  for (const p of config.policies) {
    const i = rawIndex(p)
    within(['policies', i], 'policies', () => void policies.push(parsePolicy(p)), keyIn(p))
  }
  within(['policies'], 'policies', () => new PolicyEngine(policies))
  for (const [k, v] of Object.entries(config.config)) {
    const near = closestConfigKey(k)
    if (strict && near !== undefined) {
      errors.push({ path: ['config', k], message: `config: config key ${k} is not a known key: did you mean ${near}?`, code: 'ERR_OTP_INVALID_CONFIG' })
      continue
    }
    within(['config', k], 'config', () => {
      const warning = checkConfigEntry(k, v)
      if (warning !== undefined) warnings.push({ path: ['config', k], message: `config: ${warning}`, code: 'ERR_OTP_INVALID_CONFIG' })
    })
  }
  const fileRealms = new Set(config.realms.map((r) => r.name.toLowerCase()))
  for (const t of config.tokens) {
    const i = rawIndex(t)
    within(['tokens', i], `tokens: ${t.serial}`, () => buildToken({ ...t, otplen: t.otplen }, { user: null, realm: null }, { otplen: 6, maxfail: 10, countWindow: 10 }, secrets, 0), keyIn(t))
    // Refused by tokens.init too, but only after the sections before it were written: say so here.
    if (t.serial.toUpperCase().startsWith(AUTO_SERIAL_PREFIX)) {
      errors.push({ path: ['tokens', i, 'serial'], message: `tokens: ${t.serial.slice(0, 64)}: the serial prefix ${AUTO_SERIAL_PREFIX} is reserved for auto-enrolled tokens`, code: 'ERR_OTP_INVALID_CONFIG' })
    }
    // Without a store, the file is all there is: a realm it does not define would be created by
    // nobody (a start accepts a realm the store already has, see applyConfig).
    if (strict && t.realm !== undefined && !fileRealms.has(t.realm.toLowerCase())) {
      errors.push({ path: ['tokens', i, 'realm'], message: `tokens: ${t.serial}: realm '${t.realm.slice(0, 64)}' is not defined in this file (add it to "realms")`, code: 'ERR_OTP_INVALID_CONFIG' })
    }
  }
  return errors.length > 0 ? { checked: config, errors, warnings } : { config, checked: config, errors, warnings }
}

type PolicyRecordInput = ReturnType<typeof parsePolicy>

function providerRecord(p: SidecarConfig['providers'][number]) {
  return { name: p.name, className: p.class, config: typeof p.config === 'string' ? p.config : JSON.stringify(p.config), timeout: parseProviderTimeout(p.timeout) }
}

/**
 * Environment indirection: `{ "env": "NAME" }` becomes the variable's value (never for
 * `USERINFO`, whose values are attribute names). @throws ConfigError naming the variable.
 */
function fromEnvironment(resolver: string, params: Record<string, ResolverParam>): Record<string, ResolverParam> {
  const out: Record<string, ResolverParam> = {}
  for (const [key, value] of Object.entries(params)) {
    const env = key.toUpperCase() !== 'USERINFO' && typeof value === 'object' && value !== null && 'env' in value ? (value as { env: unknown }).env : undefined
    if (typeof env !== 'string') {
      out[key] = value
      continue
    }
    const v = process.env[env]
    if (v === undefined || v === '') throw new ConfigError(`resolver '${resolver}': ${key}: environment variable ${env} is not set`)
    out[key] = v
  }
  return out
}

/** Applies a validated config to the engine. Returns the serials of tokens it created. */
export async function applyConfig(otp: SmsOtp, config: SidecarConfig): Promise<string[]> {
  const origin = origins.get(config) ?? 'config'
  // Realms may name resolvers of this file, of the store or of the host's code: checked before any write.
  const resolvers = config.resolvers ?? []
  const known = new Set([...resolvers.map((r) => r.name), ...otp.resolvers.list().map((r) => r.name)])
  for (const realm of config.realms) {
    const missing = (realm.resolvers ?? []).map(realmResolverName).find((r) => !known.has(r))
    if (missing !== undefined) throw new ConfigError(`${origin}: realms: ${realm.name}: no resolver '${missing.slice(0, 64)}'`)
  }
  // A token's realm must be one of the file or of the store: never created on the side by a typo.
  const realms = new Set([...config.realms.map((r) => r.name.toLowerCase()), ...otp.realms.list().map((r) => r.name.toLowerCase())])
  for (const t of config.tokens) {
    if (t.realm !== undefined && t.realm.trim() !== '' && !realms.has(t.realm.trim().toLowerCase())) {
      throw new ConfigError(`${origin}: tokens: ${t.serial}: realm '${t.realm.slice(0, 64)}' is defined neither in this file nor in the store (add it to "realms")`)
    }
  }
  for (const r of resolvers) {
    const warnings = await otp.resolvers.set(r)
    for (const w of warnings) otp.core.logger.warn({ resolver: r.name }, w)
  }
  for (const r of config.realms) await otp.realms.set(r.name, { default: r.default === true, ...(r.resolvers === undefined ? {} : { resolvers: r.resolvers }) })
  if (Object.keys(config.config).length) {
    const { warnings } = await otp.config.set(config.config)
    for (const w of warnings) otp.core.logger.warn({}, w)
  }
  for (const p of config.providers) {
    const warnings = await otp.providers.set(providerRecord(p), p.default === true)
    for (const w of warnings) otp.core.logger.warn({ provider: p.name }, w)
  }
  for (const p of config.policies) await otp.policies.set(p)
  const created: string[] = []
  for (const t of config.tokens) {
    if ((await otp.tokens.show({ serial: t.serial })).length > 0) continue
    await otp.tokens.init({ ...t, otplen: t.otplen })
    created.push(t.serial)
  }
  return created
}
