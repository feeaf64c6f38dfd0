/**
 * The sidecar's JSON config file: user resolvers, realms, providers, policies, config keys and
 * tokens to create at start. Everything is validated before anything is written; tokens whose
 * serial exists are left alone, so restarts are idempotent.
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { ConfigError, isOtpError } from '../errors.js'
import { jsonSyntax } from '../providers/parse-json.js'
import { PolicyEngine, parsePolicy } from '../policy/index.js'
import { checkProviderRecord } from '../providers/loader.js'
import { resourcePolicy, type ResourceOptions } from '../providers/resources.js'
import { checkConfigEntry } from '../settings/config.js'
import { checkProviderName, parseProviderTimeout } from '../settings/providers.js'
import { Secrets } from '../crypto/secrets.js'
import { buildToken } from '../tokens/enroll.js'
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

const schema = z
  .object({
    adminToken: z.string().min(16, 'at least 16 characters').optional(),
    // Optional, not defaulted: configs built in code (the demo) need not name it.
    resolvers: z.array(resolverEntry).optional(),
    realms: z.array(z.object({ name: z.string(), default: z.boolean().optional(), resolvers: z.array(z.string()).optional() }).strict()).default([]),
    providers: z
      .array(
        z
          .object({
            name: z.string(),
            class: z.string(),
            config: z.union([z.string(), z.record(z.unknown())]),
            timeout: z.union([z.number(), z.string()]).default(120),
            default: z.boolean().optional(),
          })
          .strict(),
      )
      .default([]),
    policies: z.array(z.record(z.unknown())).default([]),
    config: z.record(scalar).default({}),
    tokens: z
      .array(
        z
          .object({
            serial: z.string(), user: z.string().optional(), realm: z.string().optional(), phone: z.string(),
            pin: z.string().optional(), otpkey: z.string().optional(), otplen: z.number().optional(),
            hashlib: z.string().optional(), description: z.string().optional(),
          })
          .strict(),
      )
      .default([]),
  })
  .strict()

export type SidecarConfig = z.infer<typeof schema>

/**
 * Reads and validates a config file. `resources`: the allow-lists the engine will run with, so a
 * provider the operator allowed (e.g. `--allow-host` for a link-local gateway) is not refused here.
 * @throws ConfigError that names the file and the path.
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
  return parseConfig(json, path, resources)
}

/** Validates a parsed config object, including every provider, policy and config key. */
export function parseConfig(json: unknown, origin = 'config', resources?: ResourceOptions): SidecarConfig {
  const parsed = schema.safeParse(json)
  if (!parsed.success) {
    const first = parsed.error.issues[0]
    throw new ConfigError(`${origin}: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid'}`)
  }
  const config = parsed.data
  const registry = defaultRegistry()
  const policy = resourcePolicy(resources)
  const secrets = Secrets.ephemeral()
  // Each check's error keeps its code and gains the file and section it came from.
  const within = (section: string, check: () => void): void => {
    try {
      check()
    } catch (err) {
      if (!isOtpError(err)) throw err
      const code = err.code === 'ERR_OTP_INVALID_PARAMETER' || err.code === 'ERR_OTP_INVALID_PHONE' ? 'ERR_OTP_INVALID_CONFIG' : err.code
      throw new ConfigError(`${origin}: ${section}: ${err.message}`, code, err)
    }
  }
  const names = new Set<string>()
  config.resolvers = config.resolvers?.map((r) => {
    let params: Record<string, ResolverParam> = {}
    within('resolvers', () => {
      params = fromEnvironment(r.name, r.params)
      const { definition } = parseResolverDefinition({ name: r.name, type: r.type, params })
      if (names.has(definition.name)) throw new ConfigError(`resolver '${definition.name}' is defined twice`)
      names.add(definition.name)
      checkResolverResources(definition, { origin: 'local', policy })
    })
    return { ...r, params }
  })
  for (const p of config.providers) {
    within(`providers: ${p.name}`, () => {
      checkProviderName(p.name)
      checkProviderRecord(providerRecord(p), registry, policy)
    })
  }
  within('policies', () => new PolicyEngine(config.policies.map((p) => parsePolicy(p))))
  for (const [k, v] of Object.entries(config.config)) within('config', () => checkConfigEntry(k, v))
  for (const t of config.tokens) {
    within(`tokens: ${t.serial}`, () => buildToken({ ...t, otplen: t.otplen }, { user: null, realm: null }, { otplen: 6, maxfail: 10, countWindow: 10 }, secrets, 0))
  }
  return config
}

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
  // Realms may name resolvers of this file, of the store or of the host's code: checked before any write.
  const resolvers = config.resolvers ?? []
  const known = new Set([...resolvers.map((r) => r.name), ...otp.resolvers.list().map((r) => r.name)])
  for (const realm of config.realms) {
    const missing = (realm.resolvers ?? []).map(realmResolverName).find((r) => !known.has(r))
    if (missing !== undefined) throw new ConfigError(`config: realms: ${realm.name}: no resolver '${missing.slice(0, 64)}'`)
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
