/**
 * HTTP building blocks shared by the HTTP-based SMS providers (HttpSMSProvider, RestSMSProvider):
 * one pooled keep-alive undici dispatcher per provider instance (optionally through a forward
 * proxy), LinOTP's SERVER_CERTIFICATE semantics, a bounded request helper with Basic and Digest
 * (RFC 7616) authentication, and the classification of failures into "unavailable" (fail over)
 * and "rejected" (do not retry).
 *
 * Nothing here ever puts a URL query, a request body or a reply body into an error message:
 * gateways carry the phone number and the SMS text (with the OTP) in exactly those places.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import { Agent, Dispatcher, Pool, ProxyAgent, request } from 'undici'
import { ConfigError } from '../errors.js'

// ---------------------------------------------------------------------------------------------
// TLS trust (SERVER_CERTIFICATE)

/** How the server certificate of the gateway is verified. */
export interface TlsTrust {
  /** false only when the admin wrote `SERVER_CERTIFICATE: false`. */
  readonly rejectUnauthorized: boolean
  /** PEM texts that replace the system CAs (LinOTP/requests `verify=<path>` semantics). */
  readonly ca?: readonly string[]
}

const SYSTEM_TRUST: TlsTrust = Object.freeze({ rejectUnauthorized: true })
const NO_VERIFY: TlsTrust = Object.freeze({ rejectUnauthorized: false })

/**
 * LinOTP's SERVER_CERTIFICATE: absent/empty → system CAs; `false`/"false" (any case) → no
 * verification; a non-empty string → a CA file, or a directory whose *.pem/*.crt files are read.
 * `true`/"true" is accepted as "system CAs" (LinOTP would look for a file named "true").
 * Files are read here, once, at config load.
 */
export function loadServerCertificate(value: unknown, key = 'SERVER_CERTIFICATE'): TlsTrust {
  if (value === undefined || value === null || value === true) return SYSTEM_TRUST
  if (value === false) return NO_VERIFY
  if (typeof value !== 'string') {
    throw new ConfigError(`${key}: expected false or a CA file/directory path, got ${typeof value}`)
  }
  const path = value.trim()
  if (path === '' || path.toLowerCase() === 'true') return SYSTEM_TRUST
  if (path.toLowerCase() === 'false') return NO_VERIFY
  const notFound = (cause?: unknown) =>
    new ConfigError(`server certificate verification could not be made as certificate could not be found: ${path}`, undefined, cause)
  let files: string[]
  try {
    files = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((f) => /\.(pem|crt)$/i.test(f))
          .sort()
          .map((f) => join(path, f))
      : [path]
  } catch (err) {
    throw notFound(err)
  }
  const ca: string[] = []
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
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

/** One forward proxy. `uri` carries no credentials; `authorization` is a secret. */
export interface ProxyEndpoint {
  readonly uri: string
  readonly authorization?: string
}

/** Proxy per target scheme; a scheme without an entry is reached directly. */
export interface ProxyConfig {
  readonly http?: ProxyEndpoint
  readonly https?: ProxyEndpoint
}

/**
 * LinOTP's PROXY: a string (used for http and https targets) or an object scheme → proxy URL
 * (`{"http": "...", "https": "..."}`; `all` is accepted as a fallback for both). A proxy URL
 * without a scheme gets `http://` (as requests does); userinfo becomes Proxy-Authorization: Basic.
 */
export function parseProxy(value: unknown, key = 'PROXY'): ProxyConfig | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value === 'string') {
    const endpoint = parseProxyUrl(value, key)
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
    out[scheme] = parseProxyUrl(url, `${key}.${rawScheme}`)
  }
  const http = out.http ?? out.all
  const https = out.https ?? out.all
  if (http === undefined && https === undefined) return undefined
  return Object.freeze({ ...(http && { http }), ...(https && { https }) })
}

function parseProxyUrl(raw: string, key: string): ProxyEndpoint {
  const text = raw.trim()
  let url: URL
  try {
    url = new URL(text.includes('://') ? text : `http://${text}`)
  } catch {
    throw new ConfigError(`${key}: not a valid proxy URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${key}: unsupported proxy scheme ${url.protocol} (http or https)`)
  }
  if (url.hostname === '') throw new ConfigError(`${key}: proxy URL has no host`)
  const uri = `${url.protocol}//${url.host}`
  if (url.username === '' && url.password === '') return Object.freeze({ uri })
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
  return Object.freeze({ uri, authorization: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` })
}

// ---------------------------------------------------------------------------------------------
// Dispatcher

export interface ClientTls extends TlsTrust {
  /** Optional client certificate (PEM) and key for mutual TLS. */
  readonly cert?: string | Buffer
  readonly key?: string | Buffer
  readonly passphrase?: string
}

export interface DispatcherOptions {
  readonly tls?: ClientTls
  readonly proxy?: ProxyConfig | undefined
  readonly connectTimeoutMs: number
  /** Default headers/body (between chunks) timeout; a request can override it. */
  readonly readTimeoutMs: number
  /** Idle keep-alive time of pooled sockets. @default 4000 (below common server idle timeouts) */
  readonly keepAliveTimeoutMs?: number
}

/**
 * Builds the one pooled keep-alive dispatcher of a provider instance: an undici `Agent`, or a
 * `ProxyAgent` per distinct proxy, routed by the target URL's scheme. Nothing connects until the
 * first request. Plain-http targets behind an http proxy are sent in absolute form (no CONNECT,
 * as python-requests does); https targets are tunnelled with CONNECT.
 */
export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const tls: ClientTls = opts.tls ?? SYSTEM_TRUST
  const targetTls = {
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.ca && { ca: [...tls.ca] }),
    ...(tls.cert !== undefined && { cert: tls.cert }),
    ...(tls.key !== undefined && { key: tls.key }),
    ...(tls.passphrase !== undefined && { passphrase: tls.passphrase }),
    timeout: opts.connectTimeoutMs,
  }
  const poolOptions = {
    headersTimeout: opts.readTimeoutMs,
    bodyTimeout: opts.readTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 4000,
  }
  const direct = (): Dispatcher => new Agent({ ...poolOptions, connect: targetTls })
  const viaProxy = (proxy: ProxyEndpoint): Dispatcher =>
    new ProxyAgent({
      uri: proxy.uri,
      ...(proxy.authorization !== undefined && { token: proxy.authorization }),
      proxyTunnel: false,
      requestTls: targetTls,
      // The proxy itself is trusted like the target plus the system CAs (a private gateway CA
      // must not make a public proxy certificate fail).
      proxyTls: {
        rejectUnauthorized: tls.rejectUnauthorized,
        ...(tls.ca && { ca: [...rootCertificates, ...tls.ca] }),
        timeout: opts.connectTimeoutMs,
      },
      ...poolOptions,
      // undici builds the absolute-form client to the proxy with only `{ connect }`; the factory
      // gives it our timeouts too.
      factory: (origin: string | URL, o: object) => new Pool(origin, { ...poolOptions, ...o }),
    })

  const { http, https } = opts.proxy ?? {}
  if (http === undefined && https === undefined) return direct()
  const cache = new Map<string, Dispatcher>()
  const pick = (endpoint: ProxyEndpoint | undefined): Dispatcher => {
    const id = endpoint === undefined ? '' : `${endpoint.uri} ${endpoint.authorization ?? ''}`
    let d = cache.get(id)
    if (d === undefined) {
      d = endpoint === undefined ? direct() : viaProxy(endpoint)
      cache.set(id, d)
    }
    return d
  }
  const httpRoute = pick(http)
  const httpsRoute = pick(https)
  return httpRoute === httpsRoute ? httpRoute : new SchemeRouter(httpRoute, httpsRoute)
}

/** Sends http: origins to one dispatcher and https: origins to another. */
class SchemeRouter extends Dispatcher {
  readonly #http: Dispatcher
  readonly #https: Dispatcher
  constructor(http: Dispatcher, https: Dispatcher) {
    super()
    this.#http = http
    this.#https = https
  }
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const https = String(options.origin ?? '').startsWith('https:')
    return (https ? this.#https : this.#http).dispatch(options, handler)
  }
  override close(): Promise<void>
  override close(callback: () => void): void
  override close(callback?: () => void): Promise<void> | void {
    const done = Promise.all([this.#http.close(), this.#https.close()]).then(() => undefined)
    if (callback === undefined) return done
    void done.then(callback, callback)
  }
  override destroy(err: Error | null, callback: () => void): void
  override destroy(callback: () => void): void
  override destroy(err: Error | null): Promise<void>
  override destroy(): Promise<void>
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null)
    const callback = typeof a === 'function' ? a : b
    const done = Promise.all([this.#http.destroy(err), this.#https.destroy(err)]).then(() => undefined)
    if (callback === undefined) return done
    void done.then(callback, callback)
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface HttpAuth {
  readonly username: string
  readonly password: string
  readonly type: 'basic' | 'digest'
}

export interface HttpRequestOptions {
  readonly method: string
  readonly url: string | URL
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
  readonly auth?: HttpAuth | undefined
  readonly signal?: AbortSignal | undefined
  /** Headers timeout and body (between chunks) timeout of this request. */
  readonly readTimeoutMs?: number
  /** With readTimeoutMs: the reply headers must arrive within connect + read time. */
  readonly connectTimeoutMs?: number
  /** Hard limit for the whole exchange including a Digest retry and the body read. */
  readonly deadlineMs?: number
  /** Reply bytes kept; the rest is discarded. @default 65536 */
  readonly maxBodyBytes?: number
}

export interface HttpResponse {
  readonly status: number
  readonly headers: Dispatcher.ResponseData['headers']
  /** The reply body decoded (charset from Content-Type, else UTF-8), at most maxBodyBytes. */
  readonly bodyText: string
  readonly truncated: boolean
}

export type FailureKind = 'unavailable' | 'rejected'

/** A failed exchange, classified. `message` is safe for logs (no URL query, no bodies). */
export class HttpRequestError extends Error {
  readonly kind: FailureKind
  readonly code: string | undefined
  constructor(kind: FailureKind, message: string, code: string | undefined, cause: unknown) {
    super(message, { cause })
    this.name = 'HttpRequestError'
    this.kind = kind
    this.code = code
  }
}

const DEFAULT_MAX_BODY = 64 * 1024

/**
 * One HTTP exchange with bounded time and reply size. Basic auth is sent pre-emptively; Digest
 * auth answers one `401 WWW-Authenticate: Digest` challenge and retries once. Every failure is
 * thrown as an {@link HttpRequestError}; any HTTP status is a normal result.
 */
export async function httpRequest(dispatcher: Dispatcher, opts: HttpRequestOptions): Promise<HttpResponse> {
  const url = new URL(opts.url)
  url.hash = ''
  // undici's own headers/body timeouts run on a coarse (~0.5 s) timer wheel; these native timers
  // make the configured values hold precisely.
  const timeoutCtl = new AbortController()
  let timeoutReason: string | undefined
  const fire = (reason: string) => {
    timeoutReason ??= reason
    timeoutCtl.abort()
  }
  const deadlineTimer = opts.deadlineMs === undefined ? undefined : setTimeout(() => fire('request exceeded its deadline'), opts.deadlineMs)
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeoutCtl.signal]) : timeoutCtl.signal
  const baseHeaders: Record<string, string> = { ...opts.headers }
  if (opts.auth?.type === 'basic') baseHeaders.authorization = basicAuthorization(opts.auth.username, opts.auth.password)
  const replyWaitMs = opts.readTimeoutMs === undefined ? undefined : opts.readTimeoutMs + (opts.connectTimeoutMs ?? 0)
  const send = async (headers: Record<string, string>) => {
    const timer = replyWaitMs === undefined ? undefined : setTimeout(() => fire('no reply within the timeout'), replyWaitMs)
    try {
      return await request(url, {
        dispatcher,
        method: opts.method as Dispatcher.HttpMethod,
        headers,
        ...(opts.body !== undefined && { body: opts.body }),
        signal,
        ...(opts.readTimeoutMs !== undefined && { headersTimeout: opts.readTimeoutMs, bodyTimeout: opts.readTimeoutMs }),
      })
    } finally {
      clearTimeout(timer)
    }
  }
  const max = opts.maxBodyBytes ?? DEFAULT_MAX_BODY
  try {
    if (signal.aborted) throw signal.reason
    let res = await send(baseHeaders)
    if (res.statusCode === 401 && opts.auth?.type === 'digest') {
      const challenge = findDigestChallenge(res.headers['www-authenticate'])
      if (challenge !== undefined) {
        const authorization = digestAuthorization(challenge, {
          username: opts.auth.username,
          password: opts.auth.password,
          method: opts.method,
          uri: `${url.pathname}${url.search}`,
          body: opts.body ?? '',
        })
        if (authorization !== undefined) {
          await readBounded(res.body, max) // drain so the socket goes back to the pool
          // undici re-validates an idle socket in a setImmediate before reusing it; without
          // waiting for that the retry would open a second connection.
          await new Promise((resolve) => setImmediate(resolve))
          res = await send({ ...baseHeaders, authorization })
        }
      }
    }
    const { bytes, truncated } = await readBounded(res.body, max)
    return { status: res.statusCode, headers: res.headers, bodyText: decode(bytes, res.headers['content-type']), truncated }
  } catch (err) {
    if (err instanceof HttpRequestError) throw err
    const c = classifyHttpError(err, {
      aborted: opts.signal?.aborted === true,
      ...(timeoutReason !== undefined && { timeoutReason }),
    })
    throw new HttpRequestError(c.kind, c.reason, c.code, err)
  } finally {
    clearTimeout(deadlineTimer)
  }
}

async function readBounded(body: AsyncIterable<Uint8Array> & { destroy(): unknown }, max: number) {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const buf = Buffer.from(chunk)
    if (size + buf.length > max) {
      chunks.push(buf.subarray(0, max - size))
      size = max
      body.destroy() // stop reading; the socket is discarded rather than drained
      return { bytes: Buffer.concat(chunks), truncated: true }
    }
    chunks.push(buf)
    size += buf.length
  }
  return { bytes: Buffer.concat(chunks), truncated: false }
}

function decode(bytes: Buffer, contentType: string | string[] | undefined): string {
  const charset = /;\s*charset\s*=\s*"?([\w.:-]+)"?/i.exec(String(contentType ?? ''))?.[1]
  if (charset !== undefined) {
    try {
      return new TextDecoder(charset).decode(bytes)
    } catch {
      // unknown label: fall back to UTF-8
    }
  }
  return new TextDecoder('utf-8').decode(bytes)
}

// ---------------------------------------------------------------------------------------------
// Authentication

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`
}

/** One parsed `WWW-Authenticate` challenge; parameter names lower-cased. */
export interface AuthChallenge {
  readonly scheme: string
  readonly params: ReadonlyMap<string, string>
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/

/** Parses a `WWW-Authenticate` value that may hold several challenges (RFC 9110 §11.6.1). */
export function parseAuthChallenges(header: string): AuthChallenge[] {
  const out: Array<{ scheme: string; params: Map<string, string> }> = []
  let current: { scheme: string; params: Map<string, string> } | undefined
  let i = 0
  const n = header.length
  const skipWs = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++
  }
  while (i < n) {
    skipWs()
    if (header[i] === ',') {
      i++
      continue
    }
    const start = i
    while (i < n && TOKEN_CHAR.test(header[i] as string)) i++
    const token = header.slice(start, i)
    if (token === '') {
      i++ // stray character
      continue
    }
    skipWs()
    if (header[i] === '=' && current !== undefined) {
      i++
      skipWs()
      let value = ''
      if (header[i] === '"') {
        i++
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++
          value += header[i]
          i++
        }
        i++
      } else {
        const vs = i
        while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++
        value = header.slice(vs, i)
      }
      current.params.set(token.toLowerCase(), value)
    } else {
      current = { scheme: token.toLowerCase(), params: new Map() }
      out.push(current)
    }
  }
  return out
}

function findDigestChallenge(header: string | string[] | undefined): AuthChallenge | undefined {
  if (header === undefined) return undefined
  const text = Array.isArray(header) ? header.join(', ') : header
  return parseAuthChallenges(text).find((c) => c.scheme === 'digest' && c.params.has('nonce'))
}

const DIGEST_HASHES: Record<string, string> = {
  md5: 'md5',
  'sha-256': 'sha256',
  'sha-512-256': 'sha512-256',
}

/**
 * The `Authorization: Digest ...` answer to a challenge (RFC 7616; RFC 2069 form when the server
 * offers no qop). Returns undefined for an algorithm or qop we cannot answer.
 */
export function digestAuthorization(
  challenge: AuthChallenge,
  req: { username: string; password: string; method: string; uri: string; body: string; cnonce?: string },
): string | undefined {
  const p = challenge.params
  const realm = p.get('realm') ?? ''
  const nonce = p.get('nonce') ?? ''
  const algorithmParam = p.get('algorithm')
  const algorithm = (algorithmParam ?? 'MD5').toLowerCase()
  const sess = algorithm.endsWith('-sess')
  const hashName = DIGEST_HASHES[sess ? algorithm.slice(0, -5) : algorithm]
  if (hashName === undefined) return undefined
  const H = (s: string) => createHash(hashName).update(s, 'utf8').digest('hex')

  const offered = p.get('qop')?.split(',').map((q) => q.trim().toLowerCase())
  const qop = offered === undefined ? undefined : offered.includes('auth') ? 'auth' : offered.includes('auth-int') ? 'auth-int' : null
  if (qop === null) return undefined
  const cnonce = req.cnonce ?? randomBytes(16).toString('hex')
  const nc = '00000001'

  let ha1 = H(`${req.username}:${realm}:${req.password}`)
  if (sess) ha1 = H(`${ha1}:${nonce}:${cnonce}`)
  const ha2 = qop === 'auth-int' ? H(`${req.method}:${req.uri}:${H(req.body)}`) : H(`${req.method}:${req.uri}`)
  const response = qop === undefined ? H(`${ha1}:${nonce}:${ha2}`) : H(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`)

  const userhash = p.get('userhash')?.toLowerCase() === 'true'
  const parts: string[] = []
  if (userhash) parts.push(`username=${quote(H(`${req.username}:${realm}`))}`, 'userhash=true')
  else if (/^[\x20-\x7e]*$/.test(req.username)) parts.push(`username=${quote(req.username)}`)
  else parts.push(`username*=UTF-8''${encodeURIComponent(req.username)}`)
  parts.push(`realm=${quote(realm)}`, `nonce=${quote(nonce)}`, `uri=${quote(req.uri)}`)
  if (algorithmParam !== undefined) parts.push(`algorithm=${algorithmParam}`)
  parts.push(`response=${quote(response)}`)
  const opaque = p.get('opaque')
  if (opaque !== undefined) parts.push(`opaque=${quote(opaque)}`)
  if (qop !== undefined) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${quote(cnonce)}`)
  return `Digest ${parts.join(', ')}`
}

function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`
}

// ---------------------------------------------------------------------------------------------
// Failure classification

const UNAVAILABLE_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  EPIPE: 'connection closed while sending',
  ETIMEDOUT: 'connection timed out',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  EAI_FAIL: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  EHOSTDOWN: 'host down',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network down',
  EADDRNOTAVAIL: 'address not available',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no reply within the read timeout',
  UND_ERR_BODY_TIMEOUT: 'reply body stalled beyond the read timeout',
  UND_ERR_SOCKET: 'connection closed by the gateway',
  UND_ERR_CLOSED: 'provider is closed',
  UND_ERR_DESTROYED: 'provider is closed',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'reply truncated',
  UND_ERR_PRX_TLS: 'TLS failure at the proxy',
}

/** TLS verification and handshake failures (OpenSSL verify codes and Node's TLS codes). */
const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED|ERR_TLS_|ERR_SSL_)/

/**
 * Classifies a thrown request error.
 * - unavailable (fail over): refused/reset/DNS/unreachable, connect/headers/body timeouts, abort,
 *   a malformed HTTP reply, proxy failures, and TLS failures. A TLS failure will not heal by
 *   retrying the same provider, but the next provider may well work, so it fails over; the
 *   reason names the TLS code so the misconfiguration is visible in the audit.
 * - rejected: everything else (bad request options, unsupported features): a local problem that
 *   no other attempt would fix either, so it ends the attempt without blocking the provider.
 */
export function classifyHttpError(
  err: unknown,
  ctx: { aborted?: boolean; timeoutReason?: string } = {},
): { kind: FailureKind; reason: string; code: string | undefined } {
  if (ctx.aborted) return { kind: 'unavailable', reason: 'request aborted', code: 'ABORT_ERR' }
  if (ctx.timeoutReason !== undefined) return { kind: 'unavailable', reason: `${ctx.timeoutReason} (ETIMEDOUT)`, code: 'ETIMEDOUT' }
  for (const e of errorChain(err)) {
    const code = typeof e.code === 'string' ? e.code : undefined
    const message = typeof e.message === 'string' ? e.message : ''
    const proxyStatus = /Proxy response \((\d{3})\)|Proxy Authentication Required \((\d{3})\)/.exec(message)
    if (proxyStatus) {
      return { kind: 'unavailable', reason: `proxy refused the request (HTTP ${proxyStatus[1] ?? proxyStatus[2]})`, code }
    }
    if (code !== undefined && code in UNAVAILABLE_CODES) {
      return { kind: 'unavailable', reason: `${UNAVAILABLE_CODES[code]} (${code})`, code }
    }
    if (code !== undefined && TLS_CODE.test(code)) {
      return { kind: 'unavailable', reason: `TLS failure (${code})`, code }
    }
    if (code?.startsWith('HPE_')) return { kind: 'unavailable', reason: `malformed HTTP reply (${code})`, code }
    if (e.name === 'AbortError' || code === 'ABORT_ERR' || code === 'UND_ERR_ABORTED' || code === 'UND_ERR_ABORT') {
      return { kind: 'unavailable', reason: 'request aborted', code: code ?? 'ABORT_ERR' }
    }
    if (e.name === 'TimeoutError') return { kind: 'unavailable', reason: 'request timed out', code: 'ETIMEDOUT' }
  }
  const first = errorChain(err)[0]
  const code = typeof first?.code === 'string' ? first.code : undefined
  return { kind: 'rejected', reason: `request failed (${code ?? first?.name ?? typeof err})`, code }
}

interface ErrorLike {
  code?: unknown
  name?: unknown
  message?: unknown
  cause?: unknown
  errors?: unknown
}

/** The error, its causes and AggregateError members (Node's happy-eyeballs connect). */
function errorChain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = []
  const visit = (e: unknown, depth: number) => {
    if (depth > 4 || e === null || typeof e !== 'object') return
    const el = e as ErrorLike
    out.push(el)
    if (Array.isArray(el.errors)) for (const x of el.errors) visit(x, depth + 1)
    visit(el.cause, depth + 1)
  }
  visit(err, 0)
  return out
}
