/**
 * Password hashes a users file may hold: bcrypt (`$2a$`, `$2b$`, `$2y$`, via bcryptjs) and
 * sha512-crypt (`$6$`, glibc's `crypt(3)`, Ulrich Drepper's "Unix crypt using SHA-256 and
 * SHA-512" specification), implemented here on node:crypto. Anything else, plaintext included,
 * is refused when the file is loaded.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import bcrypt from 'bcryptjs'

/** The hash kinds a users file may hold. */
export type HashKind = 'bcrypt' | 'sha512-crypt'

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/
const SHA512 = /^\$6\$(?:rounds=(\d{1,9})\$)?([^$:\n]{0,16})\$([./A-Za-z0-9]{86})$/

/** The kind of `hash`, or undefined when it is not a supported hash (plaintext, MD5-crypt …). */
export function hashKind(hash: string): HashKind | undefined {
  if (BCRYPT.test(hash)) return 'bcrypt'
  if (SHA512.test(hash)) return 'sha512-crypt'
  return undefined
}

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const ROUNDS_DEFAULT = 5000
const ROUNDS_MIN = 1000
const ROUNDS_MAX = 999_999_999

/** Byte order of the final encoding (spec step 22), three bytes → four characters. */
const ORDER = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
] as const

function b64(value: number, chars: number): string {
  let out = ''
  for (let i = 0; i < chars; i++) {
    out += ALPHABET[value & 0x3f]
    value >>>= 6
  }
  return out
}

/** `len` bytes of `block` repeated (spec steps 16 and 20: P and S sequences). */
function repeatTo(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len)
  for (let i = 0; i < len; i += block.length) block.copy(out, i, 0, Math.min(block.length, len - i))
  return out
}

/**
 * sha512-crypt of `password` with the setting `$6$[rounds=N$]salt` (a full hash works too: its
 * checksum is ignored). Rounds are clamped to 1000…999999999 as glibc does.
 * @example sha512Crypt('Hello world!', '$6$saltstring') // '$6$saltstring$svn8UoSVapNt…'
 */
export function sha512Crypt(password: string, setting: string): string {
  const m = /^\$6\$(?:rounds=(\d{1,9})\$)?([^$]*)/.exec(setting)
  if (!m) throw new TypeError('not a sha512-crypt setting')
  const explicitRounds = m[1] !== undefined
  const rounds = explicitRounds ? Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, Number(m[1]))) : ROUNDS_DEFAULT
  const salt = Buffer.from((m[2] ?? '').slice(0, 16), 'utf8')
  const pw = Buffer.from(password, 'utf8')
  const sha = () => createHash('sha512')

  const b = sha().update(pw).update(salt).update(pw).digest()
  const a = sha().update(pw).update(salt)
  for (let n = pw.length; n > 0; n -= 64) a.update(n > 64 ? b : b.subarray(0, n))
  for (let n = pw.length; n > 0; n >>>= 1) a.update(n & 1 ? b : pw)
  let c = a.digest()

  const dp = sha()
  for (let i = 0; i < pw.length; i++) dp.update(pw)
  const p = repeatTo(dp.digest(), pw.length)
  const ds = sha()
  for (let i = 0; i < 16 + (c[0] ?? 0); i++) ds.update(salt)
  const s = repeatTo(ds.digest(), salt.length)

  for (let i = 0; i < rounds; i++) {
    const h = sha()
    h.update(i & 1 ? p : c)
    if (i % 3 !== 0) h.update(s)
    if (i % 7 !== 0) h.update(p)
    h.update(i & 1 ? c : p)
    c = h.digest()
  }

  let out = ''
  for (const [x, y, z] of ORDER) out += b64(((c[x] ?? 0) << 16) | ((c[y] ?? 0) << 8) | (c[z] ?? 0), 4)
  out += b64(c[63] ?? 0, 2)
  return `$6$${explicitRounds ? `rounds=${rounds}$` : ''}${salt.toString('utf8')}$${out}`
}

/** Constant-time string equality (lengths are not secret here: both are hash outputs). */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** True when `password` matches `hash` (a bcrypt or sha512-crypt hash, see {@link hashKind}). */
export async function verifyHash(password: string, hash: string): Promise<boolean> {
  switch (hashKind(hash)) {
    case 'bcrypt':
      // bcryptjs compares in constant time; the work factor is the hash's own.
      return bcrypt.compare(password, hash)
    case 'sha512-crypt':
      return sameText(sha512Crypt(password, hash), hash)
    default:
      return false
  }
}

/**
 * A hash of a random secret with the same kind and cost as `model`, so that checking an unknown
 * login costs what checking a known one costs.
 */
export async function dummyHashLike(model: string): Promise<string> {
  const secret = randomBytes(18).toString('base64')
  const bc = BCRYPT.exec(model)
  if (bc) return bcrypt.hash(secret, Number(bc[1]))
  const sh = SHA512.exec(model)
  const salt = randomBytes(12).toString('base64').replace(/\+/g, '.')
  if (sh) return sha512Crypt(secret, `$6$${sh[1] === undefined ? '' : `rounds=${sh[1]}$`}${salt}`)
  return sha512Crypt(secret, `$6$${salt}`)
}
