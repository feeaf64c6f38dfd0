/**
 * "Remember this device": after a correct OTP the browser may get a signed, user-bound cookie that
 * skips the SMS for N days. Framework-free (the gate sets and reads the cookie).
 *
 * - The cookie is `v1.<payload>.<mac>`: base64url JSON `{ u, r, iat, exp, id }` and an
 *   HMAC-SHA256 over it with the host's secret. It names the user it was earned by; the gate
 *   accepts it only for that user. It holds no secret of the user's (no OTP, no PIN, no phone).
 * - Revocation replaces a random generation value kept with the engine's config, read from the
 *   store at every check (so every instance sharing the store sees it at once, whatever its clock): per user (`otp.devices.revoke({ user, realm })`) or for everyone
 *   (`otp.devices.revokeAll()`). A cookie issued before it is refused, and a session that was
 *   let in by such a cookie loses its mark at its next request.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { invalidOption } from '../errors.js'
import type { Settings } from '../settings/index.js'
import type { SettingsStore } from '../stores/types.js'
import { resolveUser } from '../validate/user.js'

/** A verified device cookie's facts. */
export interface DeviceClaim {
  readonly user: string
  readonly realm: string | null
  /** Issued at, epoch ms. */
  readonly iat: number
  /** Expires at, epoch ms. */
  readonly exp: number
  /** The revocation generation the cookie was issued in (see {@link deviceEpoch}). */
  readonly epoch: string
}

/** Longest cookie value read (a valid one is far shorter). */
const MAX_COOKIE = 2048
const GLOBAL_KEY = 'RememberDevices.epoch'

/** Signs and checks device cookies with one host secret. */
export class DeviceSigner {
  readonly #key: Buffer

  /** @throws TypeError `ERR_OTP_INVALID_OPTION` when the secret is shorter than 32 bytes */
  constructor(secret: string | Buffer) {
    const raw = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
    if (!Buffer.isBuffer(raw) || raw.length < 32) throw invalidOption('rememberDevice.secret', 'at least 32 bytes (e.g. randomBytes(32), kept across restarts)')
    // A key of its own for this purpose, so the host may reuse its session secret safely.
    this.#key = createHmac('sha256', raw).update('sms-otp remember-device v1').digest()
  }

  /** A cookie value for `user` valid for `ms` from `now`, in revocation generation `epoch`. */
  issue(user: string, realm: string | null, now: number, ms: number, epoch: string): string {
    const payload = Buffer.from(JSON.stringify({ u: user, r: realm, iat: now, exp: now + ms, g: epoch, id: randomBytes(9).toString('base64url') })).toString('base64url')
    return `v1.${payload}.${this.#mac(payload)}`
  }

  /**
   * The claim of a well-signed, unexpired cookie; undefined for anything else. `maxMs`: a cookie
   * issued for longer than the host allows now (it lowered `days`) is refused too.
   */
  read(value: string | undefined, now: number, maxMs: number): DeviceClaim | undefined {
    if (typeof value !== 'string' || value.length > MAX_COOKIE) return undefined
    const [version, payload, mac, extra] = value.split('.')
    if (version !== 'v1' || payload === undefined || mac === undefined || extra !== undefined) return undefined
    const expected = Buffer.from(this.#mac(payload))
    const given = Buffer.from(mac)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    let claim: unknown
    try {
      claim = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    } catch {
      return undefined
    }
    const c = claim as Record<string, unknown>
    if (typeof c.u !== 'string' || !(typeof c.r === 'string' || c.r === null) || typeof c.iat !== 'number' || typeof c.exp !== 'number' || typeof c.g !== 'string') return undefined
    if (now >= c.exp || c.exp - c.iat > maxMs) return undefined
    return { user: c.u, realm: c.r, iat: c.iat, exp: c.exp, epoch: c.g }
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url')
  }
}

/** The config key of one user's "not before" time (hashed: config keys are plain ASCII). */
export function userKey(user: string, realm: string | null): string {
  return `${GLOBAL_KEY}:${createHash('sha256').update(`${realm ?? ''}\0${user}`).digest('hex').slice(0, 32)}`
}

/**
 * The owner a device cookie names: login and realm as the engine resolves them (the default
 * realm filled in), so the gate and an admin's revocation name the same user.
 */
export function deviceOwner(settings: Settings, user: string, realm: string | undefined): { user: string; realm: string | null } {
  const who = resolveUser(settings, user, realm)
  return { user: who.login, realm: who.realm }
}

/**
 * The revocation generation of this owner's devices: a random value per user and one for
 * everyone, replaced on every revocation. A cookie counts only while it names the current one.
 * Read from the store itself, not the settings this process loaded, so a revocation by another
 * process (the sidecar's admin API, another instance) counts at once; and no clocks are compared,
 * so instances whose clocks differ agree.
 */
export async function deviceEpoch(store: SettingsStore, owner: { user: string; realm: string | null }): Promise<string> {
  const [all, one] = await Promise.all([store.get('config', GLOBAL_KEY), store.get('config', userKey(owner.user, owner.realm))])
  return `${all ?? ''}.${one ?? ''}`
}

/** Revokes remembered devices: of one user, or (without a user) of everyone. */
export async function revokeDevices(settings: Settings, who?: { user: string; realm?: string | undefined }): Promise<void> {
  const owner = who === undefined ? undefined : deviceOwner(settings, who.user, who.realm)
  const key = owner === undefined ? GLOBAL_KEY : userKey(owner.user, owner.realm)
  await settings.setConfig({ [key]: randomBytes(12).toString('base64url') })
}
