/**
 * HTTP transport shared by the HTTP-based SMS providers (HttpSMSProvider, RestSMSProvider): one
 * pooled keep-alive undici dispatcher per provider instance (optionally through a forward proxy)
 * and a bounded request helper with Basic and Digest authentication whose failures are classified
 * into "unavailable" (fail over) and "rejected" (do not retry). The config readers live in
 * `http-config.ts`, the authentication headers in `http-digest.ts`, the classification in
 * `http-errors.ts`.
 *
 * Nothing here ever puts a URL query, a request body or a reply body into an error message:
 * gateways carry the phone number and the SMS text (with the OTP) in exactly those places.
 */
import { rootCertificates } from 'node:tls'
import { isIP } from 'node:net'
import { Agent, buildConnector, Dispatcher, Pool, ProxyAgent, request } from 'undici'
import { checkSocket, destinationError, destinationRefusal, guardedLookup, type DestinationContext } from './destinations.js'
import { LOCAL } from '../resources.js'
import { SYSTEM_TRUST, type HttpProxyEndpoint, type ProxyConfig, type ProxyEndpoint, type SocksProxyEndpoint, type TlsTrust } from './http-config.js'
import { basicAuthorization, digestAuthorization, findDigestChallenge } from './http-digest.js'
import { classifyHttpError, HttpRequestError } from './http-errors.js'
import { createSocksConnector } from './socks-connector.js'
import { setMaxListeners } from 'node:events'
import type { Logger } from '../../logger.js'
import { maskPhone } from '../../phone/index.js'
import type { SendResult } from '../types.js'

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
  /** Who defined the provider and what it may reach (`destinations.ts`). @default trusted, no allow-lists */
  readonly destinations?: DestinationContext
}

/**
 * Builds the one pooled keep-alive dispatcher of a provider instance: an undici `Agent`, or per
 * distinct proxy a `ProxyAgent` (http/https proxy) or an `Agent` with a SOCKS5 connector, routed
 * by the target URL's scheme. Nothing connects until the first request. Plain-http targets behind
 * an http proxy are sent in absolute form (no CONNECT, as python-requests does); https targets are
 * tunnelled with CONNECT. Through a SOCKS proxy both are tunnelled, TLS inside the tunnel.
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
  // Every connection to a gateway or proxy resolves through the guarded lookup: an address the
  // policy refuses fails the connect before a byte is sent (DNS rebinding included).
  const guard = opts.destinations ?? LOCAL
  const lookup = guardedLookup(guard)
  const direct = (): Dispatcher => new Agent({ ...poolOptions, connect: guardedConnector(buildConnector({ ...targetTls, lookup }), guard) })
  const viaProxy = (proxy: HttpProxyEndpoint): Dispatcher =>
    new ProxyAgent({
      uri: proxy.uri,
      ...(proxy.authorization !== undefined && { token: proxy.authorization }),
      proxyTunnel: false,
      requestTls: targetTls,
      // The proxy itself is trusted like the target plus the system CAs (a private gateway CA
      // must not make a public proxy certificate fail).
      proxyTls: {
        lookup,
        rejectUnauthorized: tls.rejectUnauthorized,
        ...(tls.ca && { ca: [...rootCertificates, ...tls.ca] }),
        timeout: opts.connectTimeoutMs,
      },
      ...poolOptions,
      // undici builds the absolute-form client to the proxy with only `{ connect }`; the factory
      // gives it our timeouts too.
      factory: (origin: string | URL, o: object) => new Pool(origin, { ...poolOptions, ...o }),
    })

  // The same pooling and keep-alive as a direct Agent; only the way a socket is opened differs.
  const viaSocks = (endpoint: SocksProxyEndpoint): Dispatcher => {
    const { timeout: _timeout, ...tlsOnly } = targetTls
    return new Agent({ ...poolOptions, connect: createSocksConnector({ proxy: endpoint.socks, tls: tlsOnly, timeoutMs: opts.connectTimeoutMs, destinations: guard }) })
  }

  const { http, https } = opts.proxy ?? {}
  if (http === undefined && https === undefined) return direct()
  // One dispatcher per distinct proxy (URL and credentials), so http and https targets behind the
  // same proxy share one pool.
  const cache = new Map<string, Dispatcher>()
  const pick = (endpoint: ProxyEndpoint | undefined): Dispatcher => {
    const id =
      endpoint === undefined
        ? ''
        : 'socks' in endpoint
          ? JSON.stringify([endpoint.uri, endpoint.socks.username, endpoint.socks.password])
          : JSON.stringify([endpoint.uri, endpoint.authorization])
    let d = cache.get(id)
    if (d === undefined) {
      d = endpoint === undefined ? direct() : 'socks' in endpoint ? viaSocks(endpoint) : viaProxy(endpoint)
      cache.set(id, d)
    }
    return d
  }
  const httpRoute = pick(http)
  const httpsRoute = pick(https)
  return httpRoute === httpsRoute ? httpRoute : new SchemeRouter(httpRoute, httpsRoute)
}

/**
 * Judges a literal address before connecting (Node's lookup is not asked for those) and, as a
 * second line, the address the socket actually reached.
 */
function guardedConnector(base: buildConnector.connector, guard: DestinationContext): buildConnector.connector {
  return (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1')
    const early = isIP(host) === 0 ? undefined : destinationRefusal(guard, undefined, host)
    if (early !== undefined) return callback(destinationError(early), null)
    base(options, (err, socket) => {
      if (err !== null || socket === null) return callback(err, socket)
      const late = checkSocket(guard, host, socket.remoteAddress)
      if (late === undefined) return callback(null, socket)
      socket.destroy()
      callback(destinationError(late), null)
    })
  }
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
      const pending = request(url, {
        dispatcher,
        method: opts.method as Dispatcher.HttpMethod,
        headers,
        ...(opts.body !== undefined && { body: opts.body }),
        signal,
        ...(opts.readTimeoutMs !== undefined && { headersTimeout: opts.readTimeoutMs, bodyTimeout: opts.readTimeoutMs }),
      })
      return await untilAborted(pending, signal)
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

/**
 * undici looks at a request's signal only once the request has a connection: a request waiting
 * for one (a slow TCP connect, a SOCKS handshake) would ignore an abort until the connect timeout.
 * This settles at once on abort; undici still ends the request itself when the connection is
 * assigned (or fails), and a reply that arrives anyway is discarded.
 */
function untilAborted<T extends { body: { destroy(): unknown } }>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason)
      pending.then((res) => res.body.destroy(), () => undefined)
    }
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    pending.then(
      (res) => {
        signal.removeEventListener('abort', onAbort)
        resolve(res)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
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

/** The pooled transport of one HTTP-based provider. */
export interface ProviderTransport {
  readonly dispatcher: Dispatcher
  /**
   * Runs one exchange with a signal that also fires when the transport is closed and its grace
   * period is over, so `close()` never waits on a hanging gateway.
   */
  run<T>(signal: AbortSignal, exchange: (signal: AbortSignal) => Promise<T>): Promise<T>
  /**
   * One gateway exchange of a provider send: the request (timeouts from the provider's config,
   * deadline 2 x (connect + read) for a Digest round trip and a slow reply), the reply judged by
   * `judge`, a debug line with masked facts only, every failure classified. Never throws.
   */
  exchange(
    request: Omit<HttpRequestOptions, 'signal' | 'deadlineMs' | 'readTimeoutMs' | 'connectTimeoutMs'>,
    signal: AbortSignal,
    judge: (res: HttpResponse) => SendResult,
    log: { logger: Logger; phone: string; transactionId: string },
  ): Promise<SendResult>
  /** Lets exchanges in flight finish for the grace period, aborts the rest, destroys the pool. */
  close(): Promise<void>
}

/**
 * The one pooled dispatcher of an HTTP-based provider. Builds the pool only; sockets are opened by
 * the first request. A settings change or shutdown closes it: requests in flight get `graceMs`,
 * then they are aborted (their sends report `unavailable`).
 */
export function providerTransport(opts: DispatcherOptions, graceMs = 2000): ProviderTransport {
  const dispatcher = createDispatcher(opts)
  const stop = new AbortController()
  setMaxListeners(0, stop.signal) // every exchange in flight listens on it
  let inFlight = 0
  let drained: (() => void) | undefined
  let closing: Promise<void> | undefined
  const run = async <T>(signal: AbortSignal, exchange: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    inFlight++
    try {
      return await exchange(AbortSignal.any([signal, stop.signal]))
    } finally {
      if (--inFlight === 0) drained?.()
    }
  }
  return {
    dispatcher,
    run,
    async exchange(request, signal, judge, log) {
      const started = Date.now()
      const facts = { host: new URL(request.url).host, phone: maskPhone(log.phone), transactionId: log.transactionId }
      try {
        const res = await run(signal, (guarded) =>
          httpRequest(dispatcher, {
            ...request,
            signal: guarded,
            readTimeoutMs: opts.readTimeoutMs,
            connectTimeoutMs: opts.connectTimeoutMs,
            deadlineMs: 2 * (opts.connectTimeoutMs + opts.readTimeoutMs),
          }),
        )
        const result = judge(res)
        log.logger.debug({ ...facts, status: res.status, ms: Date.now() - started, result: result.status }, 'gateway replied')
        return result
      } catch (err) {
        if (err instanceof HttpRequestError) {
          log.logger.debug({ ...facts, ms: Date.now() - started, code: err.code }, 'gateway request failed')
          return { status: err.kind, reason: err.message }
        }
        // httpRequest classifies everything; this is a bug guard, never a runtime outcome.
        return { status: 'rejected', reason: `internal error (${err instanceof Error ? err.name : typeof err})` }
      }
    },
    close() {
      closing ??= (async () => {
        if (inFlight > 0) {
          await new Promise<void>((resolve) => {
            drained = resolve
            setTimeout(resolve, graceMs).unref()
          })
        }
        stop.abort()
        await dispatcher.destroy().catch(() => undefined)
      })()
      return closing
    },
  }
}
