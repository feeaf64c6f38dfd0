/**
 * A small loopback SOCKS5 server (RFC 1928, RFC 1929 username/password) for provider tests. It
 * handles CONNECT by IPv4, IPv6 and domain name, records every handshake, pipes the tunnel, and
 * can refuse CONNECT with a given reply code or stay silent (to test timeouts). Written
 * independently of the client under test.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'

export interface SocksHandshake {
  /** Authentication methods the client offered. */
  readonly methods: number[]
  /** What the client sent for RFC 1929 (undefined when no sub-negotiation happened). */
  readonly username: string | undefined
  readonly password: string | undefined
  readonly auth: 'none' | 'ok' | 'wrong' | 'no-method'
  readonly command: number | undefined
  readonly addressType: 'ipv4' | 'domain' | 'ipv6' | undefined
  /** The CONNECT target as the client sent it. */
  readonly host: string | undefined
  readonly port: number | undefined
  /** Reply code sent (0 = succeeded). */
  readonly reply: number | undefined
}

export interface SocksBehaviour {
  /** Demand username/password (RFC 1929) with these credentials. */
  username?: string
  password?: string
  /** Answer every CONNECT with this reply code instead of connecting. */
  refuseWith?: number
  /** Accept TCP but never answer the greeting. */
  silent?: boolean
  /** Address type of BND.ADDR in a success reply. @default 'ipv4' */
  boundAddressType?: 'ipv4' | 'domain' | 'ipv6'
}

export interface SocksServer {
  readonly port: number
  /** `socks5://127.0.0.1:<port>` (no credentials). */
  readonly url: string
  readonly handshakes: SocksHandshake[]
  /** TCP connections accepted so far. */
  readonly connections: number
  /** Replaces the behaviour and clears the records. */
  reset(behaviour?: SocksBehaviour): void
  close(): Promise<void>
}

/** Bytes from a socket in order, on demand. */
function reader(socket: Socket) {
  let buffered = Buffer.alloc(0)
  let waiting: (() => void) | undefined
  let ended = false
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    waiting?.()
  })
  const stop = () => {
    ended = true
    waiting?.()
  }
  socket.on('end', stop)
  socket.on('close', stop)
  return {
    async take(n: number): Promise<Buffer> {
      while (buffered.length < n) {
        if (ended) throw new Error('client closed')
        await new Promise<void>((resolve) => (waiting = resolve))
        waiting = undefined
      }
      const out = buffered.subarray(0, n)
      buffered = buffered.subarray(n)
      return out
    },
    /** Whatever arrived beyond the handshake; stops collecting. */
    rest(): Buffer {
      socket.removeAllListeners('data')
      return buffered
    },
  }
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16))
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')
}

export async function startSocksServer(initial: SocksBehaviour = {}): Promise<SocksServer> {
  let behaviour = initial
  const handshakes: SocksHandshake[] = []
  const sockets = new Set<Socket>()
  let connections = 0
  const track = (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
  }

  const handle = async (client: Socket) => {
    const b = behaviour
    const rec: { -readonly [K in keyof SocksHandshake]: SocksHandshake[K] } = {
      methods: [], username: undefined, password: undefined, auth: 'none', command: undefined, addressType: undefined, host: undefined, port: undefined, reply: undefined,
    }
    const input = reader(client)
    const [version = 0, count = 0] = await input.take(2)
    if (version !== 5) return void client.destroy()
    rec.methods = [...(await input.take(count))]
    handshakes.push(rec)
    const wantAuth = b.username !== undefined
    const method = wantAuth ? (rec.methods.includes(2) ? 2 : 0xff) : rec.methods.includes(0) ? 0 : 0xff
    client.write(Buffer.from([5, method]))
    if (method === 0xff) {
      rec.auth = 'no-method'
      return void client.end()
    }
    if (method === 2) {
      const [, ulen = 0] = await input.take(2)
      rec.username = (await input.take(ulen)).toString('utf8')
      const [plen = 0] = await input.take(1)
      rec.password = (await input.take(plen)).toString('utf8')
      rec.auth = rec.username === b.username && rec.password === (b.password ?? '') ? 'ok' : 'wrong'
      client.write(Buffer.from([1, rec.auth === 'ok' ? 0 : 1]))
      if (rec.auth !== 'ok') return void client.end()
    }
    const [, command = 0, , atyp = 0] = await input.take(4)
    rec.command = command
    if (atyp === 1) {
      rec.addressType = 'ipv4'
      rec.host = [...(await input.take(4))].join('.')
    } else if (atyp === 4) {
      rec.addressType = 'ipv6'
      rec.host = ipv6Text(await input.take(16))
    } else if (atyp === 3) {
      rec.addressType = 'domain'
      const [len = 0] = await input.take(1)
      rec.host = (await input.take(len)).toString('utf8')
    }
    rec.port = (await input.take(2)).readUInt16BE(0)
    const replyWith = (code: number) => {
      rec.reply = code
      const bound =
        b.boundAddressType === 'domain'
          ? Buffer.from([3, 9, ...Buffer.from('localhost'), 0x04, 0x38])
          : b.boundAddressType === 'ipv6'
            ? Buffer.from([4, ...Buffer.alloc(15), 1, 0x04, 0x38])
            : Buffer.from([1, 127, 0, 0, 1, 0x04, 0x38])
      client.write(Buffer.concat([Buffer.from([5, code, 0]), bound]))
    }
    if (command !== 1 || rec.host === undefined) {
      replyWith(command !== 1 ? 7 : 8)
      return void client.end()
    }
    if (b.refuseWith !== undefined) {
      replyWith(b.refuseWith)
      return void client.end()
    }
    const upstream = connect({ host: rec.host, port: rec.port })
    track(upstream)
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      if (rec.reply !== undefined) return void client.destroy()
      replyWith(err.code === 'ECONNREFUSED' ? 5 : err.code === 'ENOTFOUND' ? 4 : 1)
      client.end()
    })
    upstream.once('connect', () => {
      replyWith(0)
      const early = input.rest()
      if (early.length > 0) upstream.write(early)
      client.pipe(upstream)
      upstream.pipe(client)
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
  }

  const server: Server = createServer((client) => {
    connections++
    track(client)
    if (behaviour.silent) return
    handle(client).catch(() => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `socks5://127.0.0.1:${port}`,
    handshakes,
    get connections() {
      return connections
    },
    reset(next: SocksBehaviour = {}) {
      behaviour = next
      handshakes.length = 0
      connections = 0
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
