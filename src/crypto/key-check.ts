/**
 * The key check value stored with the data: the engine compares it with the master key it was
 * given before it reads or writes anything else, so a lost, replaced or mistyped key stops the
 * start (`ERR_OTP_KEY_MISMATCH`) instead of turning every PIN into "wrong otp pin".
 *
 * Kept in the settings store as kind `config` under names starting with `sms-otp/`: the `/` is
 * outside the config key alphabet, so no admin request or config file can set them, and
 * `Settings` never lists them (`/system/getConfig` does not show them).
 */
import { OtpError, isOtpError } from '../errors.js'
import { IMPORTED_DEFAULT } from '../settings/providers.js'
import type { Store } from '../stores/types.js'
import type { Secrets } from './secrets.js'

/** Config names under this prefix are internal: never listed, never settable. */
export const INTERNAL_PREFIX = 'sms-otp/'
/** The key check value of the master key the data is sealed with. */
export const KEY_CHECK = `${INTERNAL_PREFIX}key-check`
/** The PIN key sealed under the master key (present after a rotation). */
export const PIN_KEY = `${INTERNAL_PREFIX}pin-key`
/** While a rotation runs: the key check value of the key it moves the data to. */
export const ROTATING = `${INTERNAL_PREFIX}rotating`

const RECOVER = 'restore the key file from your backup, or set SMS_OTP_ENC_KEY to the key this database was written with'

/** An `ERR_OTP_KEY_MISMATCH` (start-up: the status is only used if it ever reaches HTTP). */
export const keyMismatch = (message: string): OtpError => new OtpError('ERR_OTP_KEY_MISMATCH', message, { status: 500 })

/**
 * Checks that `secrets` holds the key of the data in `store`, then installs the stored PIN key.
 * - a stored check value that differs: refused, nothing written;
 * - no check value but stored secrets (an install from before check values): written only after
 *   one stored secret decrypts with this key, else refused;
 * - an empty database: the check value is inserted if still absent, then read back; a start
 *   whose key is not the one that got there first is refused (two first starts at once);
 * - an interrupted `key rotate` (data partly under each key): refused until it is finished.
 * @throws OtpError `ERR_OTP_KEY_MISMATCH`
 */
export async function checkMasterKey(store: Store, secrets: Secrets): Promise<void> {
  if ((await store.settings.get('config', ROTATING)) !== undefined) {
    throw keyMismatch('a key rotation of this database was interrupted and its data is partly under the old and partly under the new key: run `sms-otp key rotate` again to finish it (with the same --new-key-file when the key comes from SMS_OTP_ENC_KEY)')
  }
  await verifyKey(store, secrets)
  await usePinKey(store, secrets)
}

/** The key check of {@link checkMasterKey} without the rotation marker (rotation resumes use it). */
export async function verifyKey(store: Store, secrets: Secrets): Promise<void> {
  const stored = await store.settings.get('config', KEY_CHECK)
  if (stored !== undefined) {
    if (secrets.matchesCheckValue(stored)) return
    throw keyMismatch(`the master key does not belong to this database (its key check value differs): ${RECOVER}. Nothing was changed.`)
  }
  if ((await probe(store, secrets)) === 'failed') {
    throw keyMismatch(`the master key does not decrypt the secrets stored in this database: ${RECOVER}. Nothing was changed.`)
  }
  // Two first starts with different keys at once: the first insert wins and is never replaced (an
  // upsert would let a slower start overwrite it after the first had started and sealed data), so
  // whoever did not insert reads the winner back and stops unless it holds the same key.
  await store.settings.putIfAbsent('config', KEY_CHECK, secrets.keyCheckValue)
  const now = await store.settings.get('config', KEY_CHECK)
  if (now === undefined || !secrets.matchesCheckValue(now)) throw keyMismatch(`another process stored a different master key for this database at the same time: ${RECOVER}`)
}

/** Installs the PIN key stored after a rotation; without one the derived PIN key stays. */
export async function usePinKey(store: Store, secrets: Secrets): Promise<void> {
  const sealed = await store.settings.get('config', PIN_KEY)
  if (sealed !== undefined) secrets.usePinKey(sealed)
}

/**
 * For a database without a check value: 'fresh' when it holds no sealed secret, 'proven' when one
 * decrypts with `secrets`, 'failed' when there are secrets and none decrypts.
 */
async function probe(store: Store, secrets: Secrets): Promise<'fresh' | 'proven' | 'failed'> {
  const attempts: Array<() => unknown> = []
  let data = false
  for (const [name, value] of await store.settings.list('provider')) {
    data = true
    const sealed = sealedConfig(value)
    if (sealed !== undefined) attempts.push(() => secrets.decryptConfig(name, sealed))
  }
  const legacy = await store.settings.get('config', 'SMSProviderConfig')
  if (legacy?.startsWith('v1:')) {
    data = true
    attempts.push(() => secrets.decryptConfig(IMPORTED_DEFAULT, legacy))
  }
  for (const token of await store.tokens.list({}, 1)) {
    data = true
    attempts.push(() => secrets.decryptSeed(token.serial, token.seed))
  }
  if (!data) return 'fresh'
  for (const attempt of attempts) {
    try {
      attempt()
      return 'proven' // GCM: only the right key opens a ciphertext
    } catch (err) {
      if (!isOtpError(err, 'ERR_OTP_CRYPTO')) throw err
    }
  }
  return 'failed'
}

/** The sealed config of a stored provider record, if it has one. */
export function sealedConfig(value: string): string | undefined {
  try {
    const config = (JSON.parse(value) as { config?: unknown }).config
    return typeof config === 'string' ? config : undefined
  } catch {
    return undefined
  }
}
