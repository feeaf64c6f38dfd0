/**
 * Which network addresses a provider may reach. Judged twice: at `setProvider` from the text
 * (a literal IP address, a metadata host name, a name the allow-list cannot match) and again at
 * connect time on every address a name resolves to, so a name that resolves to a refused address
 * (or re-binds to one later) is caught too. The rules:
 * - link-local (169.254.0.0/16, fe80::/10) and cloud metadata addresses (169.254.169.254,
 *   fd00:ec2::254, 100.100.100.200, the name metadata.google.internal) are refused for every
 *   provider unless an `allowHosts` address entry covers them;
 * - local (operator) definitions may reach everything else;
 * - admin-defined ones may reach a host on `allowHosts` (by name or address), an internal address
 *   (loopback, private, CGNAT, ULA …) only with `allowPrivateNetworks`, and a public address only
 *   while `allowHosts` is empty.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { BlockList, isIP, type LookupFunction } from 'node:net'

/** What kind of address an IP is, for the rules above. */
export type AddressKind = 'metadata' | 'link-local' | 'internal' | 'public'

/** Operator's `allowHosts`: names (lower case, no trailing dot) and address ranges. */
export interface HostList {
  readonly names: ReadonlySet<string>
  readonly addresses: BlockList
  /** Number of address entries (BlockList cannot say whether it is empty). */
  readonly addressCount: number
  readonly size: number
}

/** The minimum a destination check needs (a `ResourceContext` is one). */
export interface DestinationContext {
  readonly origin: 'local' | 'admin'
  readonly policy: { readonly hosts: HostList; readonly allowPrivateNetworks: boolean; readonly lookup: LookupFunction | undefined }
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/

/** Parses allow-list entries: host names, IP addresses, CIDR networks. @throws Error naming the entry. */
export function parseHostList(entries: readonly string[]): HostList {
  const names = new Set<string>()
  const addresses = new BlockList()
  let addressCount = 0
  for (const raw of entries) {
    const entry = raw.trim()
    const [given = '', prefix, extra] = unbracket(entry).split('/')
    const address = canonicalHost(given) // `127.1` is 127.0.0.1 here too
    const family = isIP(address)
    if (family !== 0) {
      const bits = prefix === undefined ? undefined : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN
      if (extra !== undefined || (bits !== undefined && !(bits <= (family === 4 ? 32 : 128)))) throw new Error(`'${entry}' is not a valid CIDR network`)
      if (bits === undefined) addresses.addAddress(address, family === 4 ? 'ipv4' : 'ipv6')
      else addresses.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6')
      addressCount++
    } else {
      const name = normalizeName(prefix === undefined ? address : entry)
      if (!HOST_NAME.test(name)) throw new Error(`'${entry}' is not a host name, IP address or CIDR network (no scheme, port or path)`)
      names.add(name)
    }
  }
  return Object.freeze({ names, addresses, addressCount, size: names.size + addressCount })
}

function subnets(list: Array<[string, number]>): BlockList {
  const b = new BlockList()
  for (const [net, bits] of list) b.addSubnet(net, bits, net.includes(':') ? 'ipv6' : 'ipv4')
  return b
}

const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200'])
const METADATA_NAMES = new Set(['metadata.google.internal'])
const LINK_LOCAL = subnets([['169.254.0.0', 16], ['fe80::', 10]])
const INTERNAL = subnets([
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fec0::', 10], ['ff00::', 8],
])

/** Classifies an IP address; IPv4 inside IPv6 (mapped, NAT64, 6to4) counts as that IPv4 address. */
export function classifyAddress(ip: string): AddressKind {
  const address = embeddedIPv4(unbracket(ip).replace(/%.*$/, '').toLowerCase())
  const type = isIP(address) === 4 ? 'ipv4' : 'ipv6'
  if (METADATA.has(address) || (type === 'ipv6' && [...METADATA].some((m) => m.includes(':') && sameIPv6(m, address)))) return 'metadata'
  if (LINK_LOCAL.check(address, type)) return 'link-local'
  if (INTERNAL.check(address, type)) return 'internal'
  return 'public'
}

/**
 * Why `address` (reached as `name`, if a name) is refused for this definition, or undefined when
 * it may be reached. The text names the address and the start flag that would allow it.
 */
export function destinationRefusal(ctx: DestinationContext, name: string | undefined, address: string): string | undefined {
  const kind = classifyAddress(address)
  const { hosts } = ctx.policy
  const plain = unbracket(address)
  const addressListed = hosts.addressCount > 0 && hosts.addresses.check(plain, isIP(plain) === 4 ? 'ipv4' : 'ipv6')
  if (kind === 'metadata' || kind === 'link-local') {
    if (addressListed) return undefined
    return `${plain} is a ${kind === 'metadata' ? 'cloud metadata' : 'link-local'} address, not allowed for any provider; start sms-otp serve with --allow-host ${plain} (library: resources.allowHosts) to allow it`
  }
  if (ctx.origin === 'local') return undefined
  if (addressListed || (name !== undefined && hosts.names.has(normalizeName(name)))) return undefined
  if (kind === 'internal') {
    if (ctx.policy.allowPrivateNetworks) return undefined
    return `${plain}${name === undefined ? '' : ` (${name})`} is an internal address (loopback or private network), not allowed for a provider set through the admin API; start sms-otp serve with --allow-host ${name ?? plain} (library: resources.allowHosts or allowPrivateNetworks) to allow it`
  }
  if (hosts.size === 0) return undefined
  return `${name ?? plain} is not allowed: a provider set through the admin API may reach only the allowed hosts; start sms-otp serve with --allow-host ${name ?? plain} to allow it`
}

/**
 * Judges a destination from its text at config load (URL host, proxy host, mail or SMPP server),
 * after {@link canonicalHost}. Literal addresses and `localhost` are decided here; a name is
 * refused here when it is a metadata name not on the list, or when an admin-defined provider has an
 * allow-list that holds names only and this name is not among them.
 * Other names are judged when they resolve ({@link guardedLookup}).
 * @returns the refusal text, or undefined.
 */
export function textRefusal(ctx: DestinationContext, host: string): string | undefined {
  const plain = canonicalHost(host)
  if (isIP(plain) !== 0) return destinationRefusal(ctx, undefined, plain)
  const name = normalizeName(plain)
  const { hosts } = ctx.policy
  if (hosts.names.has(name)) return undefined
  if (METADATA_NAMES.has(name)) return `${name} is the cloud metadata service, not allowed for any provider; start sms-otp serve with --allow-host ${name} (library: resources.allowHosts) to allow it`
  // RFC 6761: every *.localhost name is loopback.
  if (name === 'localhost' || name.endsWith('.localhost')) return destinationRefusal(ctx, name, '127.0.0.1')
  if (ctx.origin === 'admin' && hosts.size > 0 && hosts.addressCount === 0) {
    return `${name} is not allowed: a provider set through the admin API may reach only the allowed hosts; start sms-otp serve with --allow-host ${name} to allow it`
  }
  return undefined
}

/** The error a refused connection fails with; providers report its message as the reason. */
export function destinationError(reason: string): Error & { code: 'ERR_OTP_RESOURCE_NOT_ALLOWED' } {
  return Object.assign(new Error(reason), { code: 'ERR_OTP_RESOURCE_NOT_ALLOWED' as const })
}

/**
 * A `lookup` for `net.connect`/`tls.connect` that resolves with the policy's resolver and fails
 * with {@link destinationError} when any address the name resolves to is refused. Node calls it
 * for names only; literal addresses are judged by {@link textRefusal} and {@link checkSocket}.
 */
export function guardedLookup(ctx: DestinationContext): LookupFunction {
  const base = ctx.policy.lookup ?? (dnsLookup as unknown as LookupFunction)
  return (hostname, options, callback) => {
    const opts = typeof options === 'object' && options !== null ? options : {}
    base(hostname, { ...opts, all: true }, (err, result) => {
      if (err) return callback(err, opts.all === true ? [] : '', 0)
      const list = (Array.isArray(result) ? result : [{ address: String(result), family: isIP(String(result)) }]) as LookupAddress[]
      for (const a of list) {
        const reason = destinationRefusal(ctx, hostname, a.address)
        if (reason !== undefined) return callback(destinationError(reason), opts.all === true ? [] : '', 0)
      }
      const first = list[0]
      if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), opts.all === true ? [] : '', 0)
      if (opts.all === true) callback(null, list)
      else callback(null, first.address, first.family)
    })
  }
}

/** Checks the address a socket actually connected to; the refusal text, or undefined. */
export function checkSocket(ctx: DestinationContext, name: string, remoteAddress: string | undefined): string | undefined {
  if (remoteAddress === undefined) return undefined // not connected (yet): the lookup judged it
  return destinationRefusal(ctx, isIP(unbracket(name)) === 0 ? name : undefined, remoteAddress)
}

/**
 * The host as a resolver would take it. Resolvers accept IPv4 addresses in forms `isIP` does not
 * (`2130706433`, `127.1`, `0x7f000001`, `0177.0.0.1` are all 127.0.0.1), so a check that judged
 * those as names let them through. The WHATWG URL host parser turns each into its dotted quad,
 * lower-cases names and maps Unicode to punycode (`ｌｏｃａｌｈｏｓｔ` is `localhost`). Text that is no
 * host for it comes back unchanged (and is judged as a name, and again when it resolves).
 * @example canonicalHost('0x7f.1') // '127.0.0.1'
 */
/**
 * Is `host` (a name or a literal address) itself on the operator's allow-list? For destinations
 * that must be named explicitly, not merely be public (an admin-defined LDAP server, which
 * receives users' passwords).
 */
export function isListedHost(hosts: HostList, host: string): boolean {
  const plain = canonicalHost(host)
  const family = isIP(plain)
  if (family !== 0) return hosts.addressCount > 0 && hosts.addresses.check(plain, family === 4 ? 'ipv4' : 'ipv6')
  return hosts.names.has(normalizeName(plain))
}

export function canonicalHost(host: string): string {
  const plain = unbracket(host.trim())
  // Delimiters would make the parser pick a part (`a@127.1`'s host is 127.1): not a host at all.
  if (isIP(plain) !== 0 || plain === '' || /[/?#@\\\s]/.test(plain)) return plain
  try {
    return unbracket(new URL(`http://${plain.includes(':') ? `[${plain}]` : plain}`).hostname)
  } catch {
    return plain
  }
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function normalizeName(name: string): string {
  return canonicalHost(name).toLowerCase().replace(/\.$/, '')
}

/** The IPv4 address inside an IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address. */
function embeddedIPv4(address: string): string {
  if (isIP(address) !== 6) return address
  const words = expandIPv6(address)
  if (words === undefined) return address
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
  const zero = (from: number, to: number) => words.slice(from, to).every((w) => w === 0)
  if (zero(0, 5) && words[5] === 0xffff) return v4(words[6] as number, words[7] as number)
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return v4(words[6] as number, words[7] as number)
  if (words[0] === 0x2002) return v4(words[1] as number, words[2] as number)
  return address
}

/** Eight 16-bit words of an IPv6 address (with an optional trailing dotted quad). */
export function expandIPv6(address: string): number[] | undefined {
  let text = address
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const fill = tail === undefined ? 0 : 8 - h.length - t.length
  const words = [...h, ...Array<string>(Math.max(fill, 0)).fill('0'), ...t].map((w) => parseInt(w, 16))
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined
}

function sameIPv6(a: string, b: string): boolean {
  const x = expandIPv6(a)
  const y = expandIPv6(b)
  return x !== undefined && y !== undefined && x.every((w, i) => w === y[i])
}
