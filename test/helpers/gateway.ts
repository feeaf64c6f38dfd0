/**
 * A loopback HTTP(S) SMS gateway for provider tests. Records every request (method, path, decoded
 * query and form body, headers, which socket carried it) and answers with a configurable reply.
 * It can demand Basic or Digest authentication; Digest is verified here independently of the
 * client code under test (RFC 7616 / RFC 2069).
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'

export interface RecordedRequest {
  readonly method: string
  /** Request target as received (origin form, or absolute form if someone sent that). */
  readonly target: string
  readonly path: string
  /** Raw query string without '?'. */
  readonly rawQuery: string
  /** Decoded query pairs in order. */
  readonly query: Array<[string, string]>
  readonly body: string
  /** Decoded form pairs when the body is application/x-www-form-urlencoded. */
  readonly form: Array<[string, string]>
  readonly headers: IncomingMessage['headers']
  /** Distinct number per TCP connection: equal ids mean a reused keep-alive socket. */
  readonly socketId: number
  /** Outcome of the gateway's own auth check ('none' when no auth is demanded). */
  readonly auth: 'ok' | 'missing' | 'wrong' | 'none'
  /**
   * Settles when the exchange is over: 'answered' once the reply was written in full, 'aborted'
   * when the connection closed first (the client gave up, or the gateway was closed). Lets a test
   * prove that a client hung up on a slow or hanging gateway without measuring wall time.
   */
  readonly ended: Promise<'answered' | 'aborted'>
}

export interface DigestSetup {
  readonly username: string
  readonly password: string
  readonly realm?: string
  /** As the server announces it, e.g. MD5, MD5-sess, SHA-256, SHA-256-sess. Omitted → not sent (MD5). */
  readonly algorithm?: string
  /** `auth` (default) or `none` for the RFC 2069 form. */
  readonly qop?: 'auth' | 'none'
  readonly opaque?: string
}

export interface GatewayBehaviour {
  status?: number
  body?: string
  headers?: Record<string, string>
  delayMs?: number
  /** Never answer (the socket stays open until the client gives up or the gateway closes). */
  hang?: boolean
  basic?: { username: string; password: string }
  digest?: DigestSetup
}

export interface Gateway {
  readonly url: string
  readonly port: number
  readonly requests: RecordedRequest[]
  /** Replaces the behaviour (and clears recorded requests). */
  reset(behaviour?: GatewayBehaviour): void
  close(): Promise<void>
}

const H = (algorithm: string, s: string) =>
  createHash(algorithm.toUpperCase().startsWith('SHA-256') ? 'sha256' : 'md5').update(s, 'utf8').digest('hex')

/** Parses `Digest a="b", c=d` (the client's Authorization) into a map. */
function parseDigestHeader(value: string): Map<string, string> {
  const out = new Map<string, string>()
  const re = /([a-zA-Z*]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g
  for (const m of value.replace(/^Digest\s+/i, '').matchAll(re)) {
    out.set((m[1] as string).toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] as string))
  }
  return out
}

function checkDigest(setup: DigestSetup, nonce: string, method: string, target: string, header: string | undefined): RecordedRequest['auth'] {
  if (header === undefined || !/^Digest /i.test(header)) return 'missing'
  const p = parseDigestHeader(header)
  const realm = setup.realm ?? 'sms-gateway'
  const algorithm = setup.algorithm ?? 'MD5'
  if (p.get('username') !== setup.username || p.get('realm') !== realm || p.get('nonce') !== nonce) return 'wrong'
  if (p.get('uri') !== target) return 'wrong'
  if (setup.opaque !== undefined && p.get('opaque') !== setup.opaque) return 'wrong'
  if (setup.algorithm !== undefined && p.get('algorithm') !== setup.algorithm) return 'wrong'
  const cnonce = p.get('cnonce') ?? ''
  let ha1 = H(algorithm, `${setup.username}:${realm}:${setup.password}`)
  if (algorithm.toLowerCase().endsWith('-sess')) ha1 = H(algorithm, `${ha1}:${nonce}:${cnonce}`)
  const ha2 = H(algorithm, `${method}:${target}`)
  let expected: string
  if ((setup.qop ?? 'auth') === 'auth') {
    if (p.get('qop') !== 'auth' || p.get('nc') === undefined || cnonce === '') return 'wrong'
    expected = H(algorithm, `${ha1}:${nonce}:${p.get('nc')}:${cnonce}:auth:${ha2}`)
  } else {
    if (p.has('qop')) return 'wrong'
    expected = H(algorithm, `${ha1}:${nonce}:${ha2}`)
  }
  return p.get('response') === expected ? 'ok' : 'wrong'
}

export async function startGateway(opts: { behaviour?: GatewayBehaviour; tls?: { key: string; cert: string } } = {}): Promise<Gateway> {
  let behaviour: GatewayBehaviour = opts.behaviour ?? {}
  const requests: RecordedRequest[] = []
  const socketIds = new WeakMap<Socket, number>()
  let nextSocket = 1
  const nonce = randomBytes(12).toString('hex')

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const ended = new Promise<'answered' | 'aborted'>((resolve) => res.once('close', () => resolve(res.writableFinished ? 'answered' : 'aborted')))
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const target = req.url ?? '/'
      const parsed = new URL(target, 'http://gateway.invalid')
      const contentType = String(req.headers['content-type'] ?? '')
      let auth: RecordedRequest['auth'] = 'none'
      if (behaviour.basic) {
        const expected = `Basic ${Buffer.from(`${behaviour.basic.username}:${behaviour.basic.password}`).toString('base64')}`
        auth = req.headers.authorization === undefined ? 'missing' : req.headers.authorization === expected ? 'ok' : 'wrong'
      } else if (behaviour.digest) {
        auth = checkDigest(behaviour.digest, nonce, req.method ?? '', target, req.headers.authorization)
      }
      requests.push({
        method: req.method ?? '',
        target,
        path: parsed.pathname,
        rawQuery: parsed.search.replace(/^\?/, ''),
        query: [...parsed.searchParams],
        body,
        form: contentType.startsWith('application/x-www-form-urlencoded') ? [...new URLSearchParams(body)] : [],
        headers: req.headers,
        socketId: socketIds.get(req.socket) ?? 0,
        auth,
        ended,
      })
      if (auth === 'missing' || auth === 'wrong') {
        const d = behaviour.digest
        const challenge = d
          ? [
              `Digest realm="${d.realm ?? 'sms-gateway'}"`,
              `nonce="${nonce}"`,
              ...(d.qop === 'none' ? [] : ['qop="auth"']),
              ...(d.algorithm !== undefined ? [`algorithm=${d.algorithm}`] : []),
              ...(d.opaque !== undefined ? [`opaque="${d.opaque}"`] : []),
            ].join(', ')
          : 'Basic realm="sms-gateway"'
        res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'text/plain' })
        res.end('ERROR unauthorized')
        return
      }
      if (behaviour.hang) return
      const reply = () => {
        res.writeHead(behaviour.status ?? 200, { 'content-type': 'text/plain; charset=utf-8', ...behaviour.headers })
        res.end(behaviour.body ?? 'OK')
      }
      if (behaviour.delayMs) setTimeout(reply, behaviour.delayMs)
      else reply()
    })
  }

  const server: Server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : createHttpServer(handler)
  server.keepAliveTimeout = 10_000
  server.on(opts.tls ? 'secureConnection' : 'connection', (socket: Socket) => socketIds.set(socket, nextSocket++))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    reset(next: GatewayBehaviour = {}) {
      behaviour = next
      requests.length = 0
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
