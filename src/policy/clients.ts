/**
 * The `client` field (§4.6): IPv4/IPv6 addresses and CIDR networks, `*`, `!`/`-` exclusions.
 * An address inside a listed network counts as an exact match. Built on node:net's BlockList,
 * which also matches an IPv4-mapped IPv6 query (`::ffff:10.0.0.1`) against IPv4 rules.
 */
import { BlockList, isIP } from 'node:net'
import { EXACT, NO_MATCH, WILDCARD } from './types.js'
import { combine, fail, splitConditions, type ListMatcher } from './users.js'

/** A client address made ready for matching; `undefined` = unknown client. */
export interface ClientAddress {
  address: string
  family: 'ipv4' | 'ipv6'
}

/** Parses a query's client IP; anything that is not an IP address is an unknown client. */
export function toClientAddress(client: string | undefined): ClientAddress | undefined {
  if (client === undefined) return undefined
  const address = client.trim()
  const v = isIP(address)
  return v === 4 ? { address, family: 'ipv4' } : v === 6 ? { address, family: 'ipv6' } : undefined
}

function compileNetwork(policy: string, cond: string): BlockList {
  const list = new BlockList()
  const slash = cond.indexOf('/')
  const address = slash < 0 ? cond : cond.slice(0, slash)
  const v = isIP(address)
  if (v === 0) throw fail(policy, 'client', `'${cond}' is not an IP address or CIDR network`)
  const family = v === 4 ? 'ipv4' : 'ipv6'
  if (slash < 0) {
    list.addAddress(address, family)
    return list
  }
  const prefixText = cond.slice(slash + 1)
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN
  if (!(prefix >= 0 && prefix <= (v === 4 ? 32 : 128))) {
    throw fail(policy, 'client', `'${cond}' has an invalid prefix length`)
  }
  list.addSubnet(address, prefix, family)
  return list
}

/** Compiles a client list. With an unknown client only `*` matches (and only `!*` excludes). */
export function compileClientList(policy: string, text: string): ListMatcher<ClientAddress | undefined> {
  return combine(
    splitConditions(text).map(({ negated, cond }) => {
      if (cond === '*') return { negated, test: () => WILDCARD }
      if (cond === '') throw fail(policy, 'client', 'empty exclusion')
      const net = compileNetwork(policy, cond)
      return {
        negated,
        test: (c: ClientAddress | undefined) => (c !== undefined && net.check(c.address, c.family) ? EXACT : NO_MATCH),
      }
    }),
  )
}
