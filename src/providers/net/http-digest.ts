/**
 * HTTP authentication headers: Basic, and Digest (RFC 7616, with the RFC 2069 form) answering a
 * parsed `WWW-Authenticate` challenge. Pure functions; the retry itself lives in `httpRequest`.
 */
import { createHash, randomBytes } from 'node:crypto'

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

/** The first Digest challenge with a nonce in a `WWW-Authenticate` header (one or several values). */
export function findDigestChallenge(header: string | string[] | undefined): AuthChallenge | undefined {
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

