/**
 * Classification of failed HTTP exchanges into "unavailable" (the gateway could not be reached:
 * fail over) and "rejected" (a local problem no other attempt would fix). Messages are safe for
 * logs and audit: they name a cause and an error code, never a URL query or a body.
 */
import { NETWORK_ERROR_TEXT } from './errors.js'

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

const UNAVAILABLE_CODES: Record<string, string> = {
  ...NETWORK_ERROR_TEXT,
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
 *   a malformed HTTP reply, proxy failures (http proxies and SOCKS: unreachable, authentication
 *   refused, CONNECT refused with a SOCKS reply code, handshake timeout), and TLS failures. A TLS failure will not heal by
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
    // destinations.ts: the policy refused the address (a name may resolve elsewhere later, and
    // the next provider may well be allowed), so this fails over like an unreachable gateway.
    if (code === 'ERR_OTP_RESOURCE_NOT_ALLOWED') return { kind: 'unavailable', reason: message, code }
    // socks-connector.ts words its errors as finished reasons (proxy host:port, step, SOCKS reply;
    // never credentials): a SOCKS proxy that is down, refuses or times out means fail over.
    if (e.name === 'SocksError' && code !== undefined) return { kind: 'unavailable', reason: message, code }
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
