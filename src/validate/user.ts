/**
 * Request user resolution (LinOTP §2.1): `user` + `realm`; without `realm`, `login@realm` is split
 * at the last `@` when `splitAtSign` is on and the part after it is a known realm; otherwise the
 * default realm applies.
 */
import type { Settings } from '../settings/index.js'

export interface RequestUser {
  /** Login, '' when no user was given. */
  readonly login: string
  /** Lower-case realm, or null when there is none (no realm given and no default realm). */
  readonly realm: string | null
}

export function resolveUser(settings: Settings, user: string | undefined, realm: string | undefined): RequestUser {
  const login = (user ?? '').trim()
  if (realm !== undefined && realm.trim() !== '') return { login, realm: realm.trim().toLowerCase() }
  if (settings.config.bool('splitAtSign')) {
    const at = login.lastIndexOf('@')
    if (at > 0) {
      const candidate = login.slice(at + 1).toLowerCase()
      if (settings.realms.some((r) => r.name === candidate)) return { login: login.slice(0, at), realm: candidate }
    }
  }
  return { login, realm: login === '' ? null : (settings.defaultRealm ?? null) }
}
