/**
 * User resolver definitions as data, the way LinOTP's `/system/setResolver` takes them: a name, a
 * type (`file` = LinOTP `passwdresolver`, `ldap` = `ldapresolver`) and LinOTP's parameter names.
 * A definition is validated once (every error names the resolver and the parameter), stored, and
 * turned into a resolver (`buildResolver`, users/build.ts) whenever the settings are loaded.
 */
import { z } from 'zod'
import { ConfigError } from '../errors.js'
import { configBool } from '../providers/config-values.js'

/** The configurable resolver kinds. */
export type ResolverType = 'file' | 'ldap'

/** Who defined it: the operator (code, config file, CLI: `local`) or the admin HTTP API (`admin`). */
export type ResolverOrigin = 'local' | 'admin'

/**
 * A validated definition. `params` holds LinOTP's parameter names with string values
 * (`USERINFO` as JSON text), `BINDPW` included: never show `params` as it is ({@link redactParams}).
 * @example
 * { name: 'corp', type: 'ldap', params: { LDAPURI: 'ldaps://ldap.example.org', LDAPBASE: 'ou=people,dc=example,dc=org',
 *   BINDDN: 'cn=sms-otp,dc=example,dc=org', BINDPW: '…', USERINFO: '{"mobile":"mobile","email":"mail"}' } }
 */
export interface ResolverDefinition {
  readonly name: string
  readonly type: ResolverType
  readonly params: Readonly<Record<string, string>>
}

/** What {@link parseResolverDefinition} takes: parameters as strings, numbers, booleans or (USERINFO) an object. */
export interface ResolverInput {
  readonly name: unknown
  readonly type: unknown
  readonly params: Readonly<Record<string, unknown>>
}

/** Parameter names per type, in LinOTP's spelling (matched case-insensitively). */
const PARAMS: Record<ResolverType, readonly string[]> = {
  file: ['fileName', 'format'],
  ldap: ['LDAPURI', 'LDAPBASE', 'BINDDN', 'BINDPW', 'LOGINNAMEATTRIBUTE', 'LDAPSEARCHFILTER', 'LDAPFILTER', 'USERINFO', 'TIMEOUT', 'CACERTIFICATE', 'START_TLS', 'EnforceTLS'],
}
/** LinOTP parameters its clients send that sms-otp does not use: accepted, dropped, warned about. */
const IGNORED: Record<ResolverType, readonly string[]> = {
  file: [],
  ldap: ['SIZELIMIT', 'NOREFERRALS', 'UIDTYPE', 'only_trusted_certs', 'CACHE_TIMEOUT'],
}
const REQUIRED: Record<ResolverType, readonly string[]> = { file: ['fileName'], ldap: ['LDAPURI', 'LDAPBASE', 'BINDDN', 'BINDPW'] }
/** Parameters that are secrets: encrypted at rest, never shown. */
export const SECRET_PARAMS: ReadonlySet<string> = new Set(['BINDPW'])

const TYPE_ALIASES: Record<string, ResolverType> = {
  file: 'file', passwdresolver: 'file', 'useridresolver.passwdidresolver.idresolver': 'file',
  ldap: 'ldap', ldapresolver: 'ldap', 'useridresolver.ldapidresolver.idresolver': 'ldap',
}
/** LinOTP's class-qualified spelling of a resolver in realm lists. */
export const LINOTP_CLASS: Record<ResolverType, string> = { file: 'useridresolver.PasswdIdResolver.IdResolver', ldap: 'useridresolver.LDAPIdResolver.IdResolver' }
/** LinOTP's type names, as `/system/getResolvers` shows them. */
export const LINOTP_TYPE: Record<ResolverType, string> = { file: 'passwdresolver', ldap: 'ldapresolver' }

/** Resolver names: letters, digits, `_.-`, 1 to 64 (as every resolver). */
export const RESOLVER_NAME = /^[A-Za-z0-9_.-]{1,64}$/
const ATTRIBUTE = /^[A-Za-z][A-Za-z0-9-]*$/
const LDAP_URL = /^ldaps?:\/\/[^/?#\s,]+\/?$/i

/** Checks a resolver name. @throws ConfigError */
export function checkResolverName(name: unknown): string {
  if (typeof name !== 'string' || !RESOLVER_NAME.test(name)) {
    throw new ConfigError(`resolver name ${JSON.stringify(String(name).slice(0, 70))}: 1 to 64 letters, digits, _ . - only`)
  }
  return name
}

/**
 * A resolver name as a realm lists it: the plain name, or LinOTP's
 * `useridresolver.LDAPIdResolver.IdResolver.<name>` form.
 */
export function realmResolverName(entry: string): string {
  const m = /^useridresolver\.(?:PasswdIdResolver|LDAPIdResolver|SQLIdResolver)\.IdResolver\.(.+)$/i.exec(entry.trim())
  return m?.[1] ?? entry.trim()
}

function text(where: string, key: string, value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (key.toUpperCase() === 'USERINFO' && typeof value === 'object' && value !== null && !Array.isArray(value)) return JSON.stringify(value)
  throw new ConfigError(`${where}: ${key}: expected a string`)
}

/**
 * Validates a definition and brings it to its stored form. Unknown parameters are refused;
 * LinOTP-only ones sms-otp does not use are dropped with a warning.
 * @throws ConfigError naming the resolver and the parameter, e.g. `resolver 'corp': LDAPURI: …`.
 * @example
 * const { definition } = parseResolverDefinition({ name: 'staff', type: 'passwdresolver', params: { fileName: '/etc/sms-otp/users.json' } })
 */
export function parseResolverDefinition(input: ResolverInput): { definition: ResolverDefinition; warnings: string[] } {
  const name = checkResolverName(input.name)
  const where = `resolver '${name}'`
  const type = typeof input.type === 'string' ? TYPE_ALIASES[input.type.trim().toLowerCase()] : undefined
  if (type === undefined) throw new ConfigError(`${where}: type: expected 'file' (passwdresolver) or 'ldap' (ldapresolver)`)
  const params: Record<string, string> = {}
  const warnings: string[] = []
  for (const [key, value] of Object.entries(input.params)) {
    if (value === undefined) continue
    const canonical = PARAMS[type].find((k) => k.toLowerCase() === key.toLowerCase())
    if (canonical === undefined) {
      if (IGNORED[type].some((k) => k.toLowerCase() === key.toLowerCase())) {
        warnings.push(`${where}: ${key} is not used by sms-otp and was dropped`)
        continue
      }
      throw new ConfigError(`${where}: unknown parameter ${JSON.stringify(key.slice(0, 64))} for a ${type} resolver (known: ${PARAMS[type].join(', ')})`)
    }
    if (canonical in params) throw new ConfigError(`${where}: ${canonical} given twice`)
    params[canonical] = text(where, canonical, value)
  }
  for (const key of REQUIRED[type]) {
    if ((params[key] ?? '').trim() === '') throw new ConfigError(`${where}: missing parameter ${key}`)
  }
  const definition = Object.freeze({ name, type, params: Object.freeze(params) })
  if (type === 'file') fileOptions(definition)
  else ldapOptions(definition)
  return { definition, warnings }
}

/** `params` with every secret shown as `***`. */
export function redactParams(params: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, SECRET_PARAMS.has(k) ? '***' : v]))
}

/** The file resolver options of a definition. @throws ConfigError */
export function fileOptions(d: ResolverDefinition): { name: string; path: string; format?: 'json' | 'passwd' } {
  const path = d.params.fileName ?? ''
  if (path.includes('\0')) throw new ConfigError(`resolver '${d.name}': fileName: not a path`)
  const format = d.params.format
  if (format !== undefined && format !== 'json' && format !== 'passwd') throw new ConfigError(`resolver '${d.name}': format: expected 'json' or 'passwd'`)
  return { name: d.name, path, ...(format === undefined ? {} : { format }) }
}

/** What an LDAP definition means, in `ldapResolver`'s terms; the CA stays to be placed (users/build.ts). */
export interface LdapDefinitionOptions {
  readonly name: string
  readonly url: string
  readonly host: string
  readonly bindDn: string
  readonly bindPassword: string
  readonly searchBase: string
  readonly searchFilter: string
  readonly loginAttribute: string
  readonly attributes?: Record<string, string>
  readonly startTls: boolean
  readonly timeoutMs?: number
  /** PEM text or a file path, as given. */
  readonly ca?: { readonly pem: string } | { readonly file: string }
}

const userInfo = z.record(z.string().min(1), z.string().regex(ATTRIBUTE, 'an LDAP attribute name'))

/** The LDAP resolver options of a definition. @throws ConfigError naming the parameter. */
export function ldapOptions(d: ResolverDefinition): LdapDefinitionOptions {
  const p = d.params
  const bad = (key: string, why: string): ConfigError => new ConfigError(`resolver '${d.name}': ${key}: ${why}`)
  const url = (p.LDAPURI ?? '').trim()
  if (url.includes(',') || /\s/.test(url)) throw bad('LDAPURI', 'one ldap:// or ldaps:// URL only (several URIs are not supported)')
  if (!LDAP_URL.test(url)) throw bad('LDAPURI', 'expected ldap://host[:port] or ldaps://host[:port]')
  let host: string
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '')
  } catch {
    throw bad('LDAPURI', 'expected ldap://host[:port] or ldaps://host[:port]')
  }
  if (host === '') throw bad('LDAPURI', 'no host')
  // A client that sends back what getResolver showed must not store the mask as the password.
  if (p.BINDPW === '***') throw bad('BINDPW', "give the password ('***' is how a stored one is shown, never its value)")
  const loginAttribute = p.LOGINNAMEATTRIBUTE?.trim() || 'uid'
  if (!ATTRIBUTE.test(loginAttribute)) throw bad('LOGINNAMEATTRIBUTE', 'an LDAP attribute name')
  const searchFilter = loginFilter(p, loginAttribute, bad)
  let attributes: Record<string, string> | undefined
  if (p.USERINFO !== undefined && p.USERINFO.trim() !== '') {
    let json: unknown
    try {
      json = JSON.parse(p.USERINFO)
    } catch {
      throw bad('USERINFO', 'not valid JSON (expected an object such as {"mobile":"mobile","email":"mail"})')
    }
    const parsed = userInfo.safeParse(json)
    if (!parsed.success) throw bad('USERINFO', `expected an object of attribute → LDAP attribute name (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? ''})`)
    attributes = parsed.data
  }
  let timeoutMs: number | undefined
  if (p.TIMEOUT !== undefined && p.TIMEOUT.trim() !== '') {
    const seconds = Number(p.TIMEOUT)
    if (!/^\s*\d+(\.\d+)?\s*$/.test(p.TIMEOUT) || seconds < 0.1 || seconds > 120) throw bad('TIMEOUT', 'seconds from 0.1 to 120')
    timeoutMs = Math.round(seconds * 1000)
  }
  const startTls = [p.START_TLS, p.EnforceTLS].some((v) => v !== undefined && configBool(v))
  if (startTls && /^ldaps:/i.test(url)) throw bad('START_TLS', 'StartTLS is for ldap:// URLs; an ldaps:// URL speaks TLS already')
  let ca: LdapDefinitionOptions['ca']
  const cert = p.CACERTIFICATE?.trim()
  if (cert) {
    if (cert.includes('-----BEGIN')) {
      if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(cert)) throw bad('CACERTIFICATE', 'expected PEM certificates (-----BEGIN CERTIFICATE-----) or a file path')
      ca = { pem: cert }
    } else {
      if (cert.includes('\0')) throw bad('CACERTIFICATE', 'not a path')
      ca = { file: cert }
    }
  }
  return {
    name: d.name, url, host, bindDn: p.BINDDN ?? '', bindPassword: p.BINDPW ?? '', searchBase: p.LDAPBASE ?? '', searchFilter, loginAttribute,
    startTls, ...(attributes === undefined ? {} : { attributes }), ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(ca === undefined ? {} : { ca }),
  }
}

/**
 * The filter that finds one login. LinOTP's `LDAPFILTER` has `%s` for the login; its
 * `LDAPSEARCHFILTER` (`(uid=*)(objectClass=inetOrgPerson)`) lists users and is combined with
 * `(LOGINNAMEATTRIBUTE=login)`; a filter with `{login}` is taken as it is.
 */
function loginFilter(p: Readonly<Record<string, string>>, loginAttribute: string, bad: (key: string, why: string) => ConfigError): string {
  const given = p.LDAPFILTER?.trim() ? { key: 'LDAPFILTER', value: p.LDAPFILTER.trim().replaceAll('%s', '{login}') } : p.LDAPSEARCHFILTER?.trim() ? { key: 'LDAPSEARCHFILTER', value: p.LDAPSEARCHFILTER.trim() } : undefined
  if (given === undefined) return `(${loginAttribute}={login})`
  if (!/^\(.*\)$/s.test(given.value) || !balanced(given.value)) throw bad(given.key, 'expected a parenthesized LDAP filter')
  return given.value.includes('{login}') ? given.value : `(&(${loginAttribute}={login})${given.value})`
}

function balanced(filter: string): boolean {
  let depth = 0
  for (const c of filter) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0
    if (depth < 0) return false
  }
  return depth === 0
}
