/**
 * Config readers shared by the HTTP-based SMS providers: LinOTP's SERVER_CERTIFICATE (which CAs
 * verify the gateway) and PROXY (forward proxy per target scheme, http(s) or SOCKS5). Both are
 * read once, at config load, and return frozen values; files are read here so a missing one fails
 * the load, not a send.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../../errors.js'
import { configStringMap } from '../config-values.js'
import { LOCAL, ResourceError, checkDestination, confinePath, type ResourceContext } from '../resources.js'
import { readRegularFile } from '../read-file.js'
import { parseSocksUrl, type SocksProxy } from './socks.js'

// ---------------------------------------------------------------------------------------------
// TLS trust (SERVER_CERTIFICATE)

/** How the server certificate of the gateway is verified. */
export interface TlsTrust {
  /** false only when the admin wrote `SERVER_CERTIFICATE: false`. */
  readonly rejectUnauthorized: boolean
  /** PEM texts that replace the system CAs (LinOTP/requests `verify=<path>` semantics). */
  readonly ca?: readonly string[]
}

/** Verify against the system CAs (the default). */
export const SYSTEM_TRUST: TlsTrust = Object.freeze({ rejectUnauthorized: true })
const NO_VERIFY: TlsTrust = Object.freeze({ rejectUnauthorized: false })

/**
 * LinOTP's SERVER_CERTIFICATE: absent/empty → system CAs; `false`/"false" (any case) → no
 * verification; a non-empty string → a CA file, or a directory whose *.pem/*.crt files are read.
 * `true`/"true" is accepted as "system CAs" (LinOTP would look for a file named "true").
 * Files are read here, once, at config load.
 */
export function loadServerCertificate(value: unknown, key = 'SERVER_CERTIFICATE', resources: ResourceContext = LOCAL): TlsTrust {
  if (value === undefined || value === null || value === true) return SYSTEM_TRUST
  if (value === false) return NO_VERIFY
  if (typeof value !== 'string') {
    throw new ConfigError(`${key}: expected false or a CA file/directory path, got ${typeof value}`)
  }
  const given = value.trim()
  if (given === '' || given.toLowerCase() === 'true') return SYSTEM_TRUST
  if (given.toLowerCase() === 'false') return NO_VERIFY
  // Judged before the file system is asked anything: a refusal says nothing about existence.
  const path = confinePath(resources, key, given)?.path ?? given
  const notFound = (cause?: unknown) =>
    new ConfigError(`server certificate verification could not be made as certificate could not be found: ${path}`, undefined, cause)
  let files: string[]
  try {
    files = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((f) => /\.(pem|crt)$/i.test(f))
          .sort()
          // A file in an allowed directory may itself be a link leading out of it.
          .map((f) => confinePath(resources, key, join(path, f))?.path ?? join(path, f))
      : [path]
  } catch (err) {
    if (err instanceof ResourceError) throw err
    throw notFound(err)
  }
  const ca: string[] = []
  for (const file of files) {
    let text: string
    try {
      // Never readFileSync: a FIFO or device (an allowed `/dev/ttyUSB0`) would block the event loop.
      text = readRegularFile(file, key, { noFollow: resources.origin === 'admin' })
    } catch (err) {
      if (err instanceof ConfigError) throw err
      throw notFound(err)
    }
    if (!text.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`${key}: no PEM certificate in ${file}`)
    }
    ca.push(text)
  }
  if (ca.length === 0) throw new ConfigError(`${key}: no *.pem or *.crt certificate in directory ${path}`)
  return Object.freeze({ rejectUnauthorized: true, ca: Object.freeze(ca) })
}


// ---------------------------------------------------------------------------------------------
// Proxy configuration (PROXY)

/** An http(s) forward proxy. `uri` carries no credentials; `authorization` is a secret. */
export interface HttpProxyEndpoint {
  readonly uri: string
  readonly authorization?: string
}

/** A SOCKS5 proxy. `uri` (`socks5h://host:port`) carries no credentials; `socks` holds them. */
export interface SocksProxyEndpoint {
  readonly uri: string
  readonly socks: SocksProxy
}

/** One forward proxy: `'socks' in endpoint` tells a SOCKS proxy from an http(s) one. */
export type ProxyEndpoint = HttpProxyEndpoint | SocksProxyEndpoint

/** Proxy per target scheme; a scheme without an entry is reached directly. */
export interface ProxyConfig {
  readonly http?: ProxyEndpoint
  readonly https?: ProxyEndpoint
}

/**
 * LinOTP's PROXY: a string (used for http and https targets) or an object scheme → proxy URL
 * (`{"http": "...", "https": "..."}`; `all` is accepted as a fallback for both). A proxy URL
 * without a scheme gets `http://` (as requests does); userinfo of an http(s) proxy becomes
 * Proxy-Authorization: Basic. `socks5://` and `socks5h://` proxies are SOCKS5 (see `socks.ts`),
 * with userinfo as RFC 1929 username/password; the schemes may be mixed in one map.
 */
export function parseProxy(value: unknown, key = 'PROXY', resources: ResourceContext = LOCAL): ProxyConfig | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value === 'string') {
    const endpoint = parseProxyUrl(value, key, resources)
    return Object.freeze({ http: endpoint, https: endpoint })
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${key}: expected a proxy URL or an object {"http": ..., "https": ...}`)
  }
  const out: { http?: ProxyEndpoint; https?: ProxyEndpoint; all?: ProxyEndpoint } = {}
  for (const [rawScheme, url] of Object.entries(value)) {
    const scheme = rawScheme.trim().toLowerCase().replace(/:\/*$/, '')
    if (scheme !== 'http' && scheme !== 'https' && scheme !== 'all') {
      throw new ConfigError(`${key}.${rawScheme}: expected the target scheme "http" or "https"`)
    }
    if (url === undefined || url === null || url === '') continue
    if (typeof url !== 'string') throw new ConfigError(`${key}.${rawScheme}: expected a proxy URL string`)
    out[scheme] = parseProxyUrl(url, `${key}.${rawScheme}`, resources)
  }
  const http = out.http ?? out.all
  const https = out.https ?? out.all
  if (http === undefined && https === undefined) return undefined
  return Object.freeze({ ...(http && { http }), ...(https && { https }) })
}

/** A proxy is a destination like the gateway: its host is judged as one (`destinations.ts`). */
function parseProxyUrl(raw: string, key: string, resources: ResourceContext): ProxyEndpoint {
  const text = raw.trim()
  // LinOTP's documentation shows socks5:// proxies (python-requests with PySocks).
  if (/^socks[0-9a-z]*:/i.test(text)) {
    const socks = parseSocksUrl(text, key)
    checkDestination(resources, key, socks.host)
    const host = socks.host.includes(':') ? `[${socks.host}]` : socks.host
    return Object.freeze({ uri: `${socks.scheme}://${host}:${socks.port}`, socks })
  }
  let url: URL
  try {
    url = new URL(text.includes('://') ? text : `http://${text}`)
  } catch {
    throw new ConfigError(`${key}: not a valid proxy URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${key}: unsupported proxy scheme ${url.protocol} (http, https, socks5 or socks5h)`)
  }
  if (url.hostname === '') throw new ConfigError(`${key}: proxy URL has no host`)
  checkDestination(resources, key, url.hostname)
  const uri = `${url.protocol}//${url.host}`
  if (url.username === '' && url.password === '') return Object.freeze({ uri })
  let credentials: string
  try {
    credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
  } catch {
    throw new ConfigError(`${key}: the proxy credentials are not valid percent-encoding`)
  }
  return Object.freeze({ uri, authorization: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` })
}


// ---------------------------------------------------------------------------------------------
// Request headers (HEADERS)

/** Headers undici manages itself or refuses; setting them from config would break the request. */
const FORBIDDEN_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer'])
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * An optional object of extra request headers, returned with lower-cased names (so a provider can
 * merge it over its defaults case-insensitively). Refuses invalid names, line breaks in values
 * (header injection), headers the HTTP client manages, `Proxy-Authorization` (credentials belong
 * in the PROXY URL) and a name given twice in different case.
 */
export function configHeaders(config: Record<string, unknown>, key = 'HEADERS'): Record<string, string> {
  // A Map, not an object: a header named `constructor` or `__proto__` must not meet the prototype.
  const headers = new Map<string, string>()
  for (const [name, value] of Object.entries(configStringMap(config, key))) {
    const lower = name.toLowerCase()
    if (!TOKEN.test(name)) throw new ConfigError(`${key}: '${name}' is not a valid header name`)
    if (/[\r\n\0]/.test(value)) throw new ConfigError(`${key}.${name}: value must not contain line breaks`)
    // HTTP/1.1 header values are bytes; undici refuses anything outside Latin-1 at send time.
    if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) throw new ConfigError(`${key}.${name}: value must be printable Latin-1 (encode other characters as the gateway expects)`)
    if (FORBIDDEN_HEADERS.has(lower)) throw new ConfigError(`${key}.${name}: this header is managed by the HTTP client`)
    if (lower === 'proxy-authorization') throw new ConfigError(`${key}.Proxy-Authorization: put the proxy credentials into the PROXY URL`)
    if (headers.has(lower)) throw new ConfigError(`${key}: '${name}' is given twice`)
    headers.set(lower, value)
  }
  return Object.fromEntries(headers)
}

// ---------------------------------------------------------------------------------------------
// Gateway URL (URL)

/** A gateway URL without userinfo and fragment, and the credentials its userinfo held. */
export interface GatewayUrl {
  readonly href: string
  /** From `https://user:pass@host/…`, percent-decoded; undefined when the URL has no userinfo. */
  readonly credentials: { readonly username: string; readonly password: string } | undefined
}

/**
 * An `http://` or `https://` gateway URL. Userinfo is taken out of the URL (it must never be sent
 * in the request line) and returned as credentials; userinfo without `:` is refused, since LinOTP
 * reads it as `user:password`.
 */
export function parseGatewayUrl(raw: string, key = 'URL', resources: ResourceContext = LOCAL): GatewayUrl {
  const text = raw.trim()
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ConfigError(`${key}: not a valid URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${key}: must be an http or https URL`)
  checkDestination(resources, key, url.hostname)
  // From the text, not from `url.username`: the URL parser re-encodes what it keeps.
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(text)?.[1]
  url.username = ''
  url.password = ''
  url.hash = ''
  if (userinfo === undefined) return Object.freeze({ href: url.href, credentials: undefined })
  const colon = userinfo.indexOf(':')
  if (colon < 0) throw new ConfigError(`${key}: credentials in the URL must have the form user:password@host`)
  try {
    const credentials = Object.freeze({ username: decodeURIComponent(userinfo.slice(0, colon)), password: decodeURIComponent(userinfo.slice(colon + 1)) })
    return Object.freeze({ href: url.href, credentials })
  } catch {
    throw new ConfigError(`${key}: credentials in the URL are not validly percent-encoded`)
  }
}
