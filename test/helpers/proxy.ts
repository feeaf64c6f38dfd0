/**
 * A small loopback forward proxy for provider tests: absolute-form requests (`GET http://host/x`)
 * are forwarded, `CONNECT host:port` opens a raw tunnel. Optionally demands
 * `Proxy-Authorization: Basic`. Records what it proxied.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

export interface ProxiedRequest {
  readonly kind: 'absolute' | 'connect'
  /** The absolute URL, or host:port for CONNECT. */
  readonly target: string
  readonly method: string
  readonly proxyAuthorization: string | undefined
  /** Whether the proxy let it through. */
  readonly allowed: boolean
}

export interface ForwardProxy {
  readonly url: string
  readonly port: number
  readonly proxied: ProxiedRequest[]
  close(): Promise<void>
}

export async function startProxy(opts: { username?: string; password?: string } = {}): Promise<ForwardProxy> {
  const proxied: ProxiedRequest[] = []
  const sockets = new Set<Socket>()
  const expected =
    opts.username !== undefined ? `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}` : undefined
  const allowed = (req: IncomingMessage) => expected === undefined || req.headers['proxy-authorization'] === expected

  const server: Server = createServer((req, res) => {
    const target = req.url ?? ''
    const ok = allowed(req) && /^http:\/\//i.test(target)
    proxied.push({ kind: 'absolute', target, method: req.method ?? '', proxyAuthorization: req.headers['proxy-authorization'], allowed: ok })
    if (!ok) {
      res.writeHead(allowed(req) ? 400 : 407, { 'proxy-authenticate': 'Basic realm="proxy"' })
      res.end()
      return
    }
    const headers = { ...req.headers }
    delete headers['proxy-authorization']
    delete headers['proxy-connection']
    const upstream = httpRequest(target, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', () => {
      res.writeHead(502)
      res.end()
    })
    req.pipe(upstream)
  })

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? ''
    const ok = allowed(req)
    proxied.push({ kind: 'connect', target, method: 'CONNECT', proxyAuthorization: req.headers['proxy-authorization'], allowed: ok })
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => {})
    if (!ok) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="proxy"\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))]
    const upstream = connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('error', () => client.destroy())
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proxied,
    async close() {
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
