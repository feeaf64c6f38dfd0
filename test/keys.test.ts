/**
 * The master key and the data it protects (issue 6, findings 7 and 9): a key check value stored
 * with the data, no new key for an existing database, key file and data directory permissions,
 * `sms-otp key rotate` and the run lock that keeps it away from running sidecars. Everything runs the real sidecar (`serve()` on port 0, SQLite in a
 * temp directory) or the real CLI.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { spawn } from 'node:child_process'
import { KEY_CHECK, PIN_KEY, ROTATING } from '../src/crypto/key-check.js'
import { createKeyFile } from '../src/crypto/key-file.js'
import { rekeyStore, rotateMasterKey } from '../src/crypto/rotate.js'
import { Secrets, loadMasterKey } from '../src/crypto/secrets.js'
import { isOtpError } from '../src/errors.js'
import { silentLogger } from '../src/logger.js'
import { serve, type ServeOptions } from '../src/sidecar/serve.js'
import { createSmsOtp } from '../src/sms-otp.js'
import { createMemoryStore } from '../src/stores/memory.js'
import { createSqliteStore } from '../src/stores/sqlite.js'
import type { SettingsStore, Store } from '../src/stores/types.js'
import Database from 'better-sqlite3'
import { decodeResolver } from '../src/settings/resolvers.js'
import { readOutbox } from './helpers/harness.js'
import { cli } from './helpers/cli.js'


const dirs: string[] = []
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sms-otp-keys-'))
  dirs.push(dir)
  return dir
}

/** A config file like the demo's: realm example, an outbox provider in `dataDir`, alice with PIN 1234. */
async function writeConfig(root: string, dataDir: string): Promise<string> {
  const file = join(root, 'sms-otp.json')
  await writeFile(file, JSON.stringify({
    realms: [{ name: 'example', default: true }],
    providers: [{ name: 'outbox', class: 'FileSMSProvider', config: { file: 'sms-outbox.log', here: dataDir, append: true }, timeout: 120, default: true }],
    tokens: [
      { serial: 'LSSM0001', user: 'alice', realm: 'example', phone: '+4915112345678', pin: '1234' },
      { serial: 'LSSM0002', user: 'bob', realm: 'example', phone: '+4915112345679', pin: '4321' },
    ],
  }))
  return file
}

/** Every file under `dir` with its mode and a hash of its bytes, sorted. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    const st = await stat(path)
    const hash = entry.isFile() ? createHash('sha256').update(await readFile(path)).digest('hex') : 'dir'
    out.push(`${path.slice(dir.length)} ${(st.mode & 0o7777).toString(8)} ${hash}`)
  }
  return out.sort()
}

const start = (options: ServeOptions) => serve({ port: 0, host: '127.0.0.1', logger: silentLogger, env: {}, ...options })

async function post(url: string, path: string, params: Record<string, string>): Promise<{ status: number; body: { result?: { value?: unknown } } }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() })
  return { status: res.status, body: (await res.json()) as { result?: { value?: unknown } } }
}

/** A data directory whose database holds alice's token and the outbox provider, made by a first start. */
async function installed(env: NodeJS.ProcessEnv = {}): Promise<{ root: string; dataDir: string; configFile: string }> {
  const root = await tempDir()
  const dataDir = join(root, 'data')
  const configFile = await writeConfig(root, dataDir)
  const running = await start({ dataDir, configFile, env })
  await running.close()
  return { root, dataDir, configFile }
}

const keyMismatch = (pattern: RegExp) => (err: unknown): boolean => {
  assert.ok(isOtpError(err, 'ERR_OTP_KEY_MISMATCH'), `expected ERR_OTP_KEY_MISMATCH, got ${String(err)}`)
  assert.match(err.message, pattern)
  return true
}

describe('the key belongs to the data', () => {
  it('threat: a deleted key file is not replaced by a new key — serve refuses and writes nothing', async () => {
    const { dataDir, configFile } = await installed()
    await rm(join(dataDir, 'sms-otp.key'))
    const before = await snapshot(dataDir)
    await assert.rejects(start({ dataDir, configFile }), keyMismatch(/key file .*missing.*existing database.*restore.*SMS_OTP_ENC_KEY/s))
    assert.deepEqual(await snapshot(dataDir), before, 'database and data directory byte-for-byte unchanged, no key file created')
  })

  it('threat: another key (SMS_OTP_ENC_KEY) is refused at start and touches nothing', async () => {
    const { dataDir, configFile } = await installed()
    const before = await snapshot(dataDir)
    const other = { SMS_OTP_ENC_KEY: randomBytes(32).toString('hex') }
    await assert.rejects(start({ dataDir, configFile, env: other }), keyMismatch(/does not belong to this database.*restore the key file.*SMS_OTP_ENC_KEY/s))
    await assert.rejects(start({ dataDir, env: other }), keyMismatch(/does not belong/), 'also without a config file')
    assert.deepEqual(await snapshot(dataDir), before)
  })

  it('threat: another key on a database with tokens only (no provider to fail on) is refused', async () => {
    const root = await tempDir()
    const dataDir = join(root, 'data')
    const configFile = join(root, 'tokens.json')
    await writeFile(configFile, JSON.stringify({ tokens: [{ serial: 'LSSM0002', user: 'bob', phone: '+4915112345679', pin: '4321' }] }))
    const key = { SMS_OTP_ENC_KEY: randomBytes(32).toString('hex') }
    await (await start({ dataDir, configFile, env: key })).close()
    const before = await snapshot(dataDir)
    await assert.rejects(start({ dataDir, env: { SMS_OTP_ENC_KEY: randomBytes(32).toString('hex') } }), keyMismatch(/does not belong/))
    assert.deepEqual(await snapshot(dataDir), before)
    await (await start({ dataDir, env: key })).close() // the right key still opens it
  })
  it('threat: two first starts with different keys at once — the slower one refuses instead of replacing the first one\'s check value', async () => {
    const inner = createMemoryStore()
    // B's process is slower: its write of the check value happens only after A has fully started.
    let release: () => void = () => undefined
    const gate = new Promise<void>((ok) => (release = ok))
    let held = false
    const late = async <T>(name: string, write: () => Promise<T>): Promise<T> => {
      if (!held && name === KEY_CHECK) {
        held = true
        await gate
      }
      return write()
    }
    const settingsB: SettingsStore = {
      ...inner.settings,
      put: (kind, name, value) => late(name, () => inner.settings.put(kind, name, value)),
      putIfAbsent: (kind, name, value) => late(name, () => inner.settings.putIfAbsent(kind, name, value)),
    }
    const shared = { open: async () => undefined, close: async () => undefined }
    const keyA = Secrets.ephemeral()
    const b = createSmsOtp({ store: { ...inner, ...shared, settings: settingsB }, secrets: Secrets.ephemeral() })
    while (!held) await new Promise((ok) => setImmediate(ok)) // B has read "no check value" and is about to write
    const a = await createSmsOtp({ store: { ...inner, ...shared }, secrets: keyA })
    await a.tokens.init({ user: 'alice', phone: '+4915112345678', pin: '1234', serial: 'ALICE' })
    release()
    const outcome = await b.then(async (otp) => {
      await otp.close()
      return 'B started with another key than the data\'s'
    }, (err: unknown) => err)
    assert.ok(keyMismatch(/another process stored a different master key for this database at the same time/)(outcome))
    assert.ok(keyA.matchesCheckValue((await inner.settings.get('config', KEY_CHECK)) ?? ''), 'the check value is still A\'s')
    await a.close()
    const again = await createSmsOtp({ store: inner, secrets: keyA }) // A's next start
    const token = await inner.tokens.get('ALICE')
    assert.ok(token)
    assert.equal(keyA.decryptSeed('ALICE', token.seed).length, 20, 'A\'s data still opens with A\'s key')
    await again.close()
  })
})

describe('permissions of the key file and the data directory', () => {
  it('threat: a key file readable by group or others is refused (chmod 600)', async () => {
    const dir = await tempDir()
    const file = join(dir, 'sms-otp.key')
    await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 })
    await chmod(file, 0o644)
    await assert.rejects(loadMasterKey(file, {}), (err: unknown) => {
      assert.ok(isOtpError(err), String(err))
      assert.match(err.message, /readable or writable by group or others \(mode 0644\).*chmod 600/s)
      return true
    })
    await chmod(file, 0o620)
    await assert.rejects(loadMasterKey(file, {}), /chmod 600/)
    await chmod(file, 0o600)
    assert.equal((await loadMasterKey(file, {})).length, 32)
  })

  it('threat: serve refuses a data directory owned by another account (injected service uid)', async () => {
    const { dataDir, configFile } = await installed()
    const owner = (await stat(dataDir)).uid
    await assert.rejects(start({ dataDir, configFile, serviceUid: owner + 1 } as ServeOptions), (err: unknown) => {
      assert.ok(isOtpError(err), String(err))
      assert.match(err.message, new RegExp(`owned by uid ${owner}, not by the service user \\(uid ${owner + 1}\\)`))
      return true
    })
    await (await start({ dataDir, configFile, serviceUid: owner } as ServeOptions)).close()
  })

  it('threat: serve refuses a data directory that really belongs to another uid (chown, as root)', { skip: process.getuid?.() !== 0 && 'needs root to chown' }, async () => {
    const { dataDir, configFile } = await installed()
    await chown(dataDir, 4242, 4242)
    await assert.rejects(start({ dataDir, configFile }), /owned by uid 4242, not by the service user \(uid 0\)/)
  })

  it('threat: serve refuses a data directory writable by others', async () => {
    const { dataDir, configFile } = await installed()
    await chmod(dataDir, 0o777)
    await assert.rejects(start({ dataDir, configFile }), /writable by others.*chmod 700/s)
    await chmod(dataDir, 0o700)
    await (await start({ dataDir, configFile })).close()
  })
})

/** PIN only (sends an SMS), then the OTP of that SMS from the outbox. */
async function triggerAlice(url: string, dataDir: string): Promise<string> {
  const sent = await post(url, '/validate/check', { user: 'alice', pass: '1234' })
  assert.equal(sent.body.result?.value, false)
  const otp = /\d{6}/.exec((await readOutbox(join(dataDir, 'sms-outbox.log'))).at(-1)?.text ?? '')?.[0]
  assert.ok(otp, 'an SMS with an OTP was written to the outbox')
  return otp
}

async function authenticates(url: string, otp: string): Promise<unknown> {
  return (await post(url, '/validate/check', { user: 'alice', pass: `1234${otp}` })).body.result?.value
}

/** Asserts that `key` opens no seed, no provider config and not the PIN key of the database. */
async function opensNothing(db: string, key: Buffer): Promise<void> {
  const store = createSqliteStore({ path: db })
  await store.open()
  const old = new Secrets(key)
  const crypto = (err: unknown) => isOtpError(err, 'ERR_OTP_CRYPTO')
  try {
    const tokens = await store.tokens.list({}, 100)
    assert.ok(tokens.length >= 2)
    for (const t of tokens) assert.throws(() => old.decryptSeed(t.serial, t.seed), crypto, `seed of ${t.serial}`)
    for (const [name, value] of await store.settings.list('provider')) {
      assert.throws(() => old.decryptConfig(name, (JSON.parse(value) as { config: string }).config), crypto, `provider ${name}`)
    }
    const pinKey = (await store.settings.get('config', PIN_KEY)) ?? ''
    assert.throws(() => old.usePinKey(pinKey), crypto, 'PIN key')
    assert.equal(old.matchesCheckValue((await store.settings.get('config', KEY_CHECK)) ?? ''), false)
  } finally {
    await store.close()
  }
}

describe('key rotate', () => {
  it('re-encrypts under a new key: after a restart alice authenticates with her PIN and the OTP sent before; the old key opens nothing', async () => {
    const { dataDir, configFile } = await installed()
    const keyFile = join(dataDir, 'sms-otp.key')
    const oldKey = await loadMasterKey(keyFile, {})
    const first = await start({ dataDir, configFile })
    const otp = await triggerAlice(first.url, dataDir)
    await first.close()

    const run = await cli(['key', 'rotate', '--data-dir', dataDir])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /key rotated: [23] seeds and 1 provider configs re-encrypted/)
    assert.match(run.stdout, /new key in .*sms-otp\.key: back it up/)
    const newKey = await loadMasterKey(keyFile, {})
    assert.ok(!newKey.equals(oldKey))
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
    await assert.rejects(stat(`${keyFile}.new`), /ENOENT/)

    // No config file: the provider must come out of the database, decrypted with the new key.
    const second = await start({ dataDir })
    try {
      assert.equal(await authenticates(second.url, otp), true, 'old PIN (carried PIN key) + OTP of the old seed')
      assert.equal(await authenticates(second.url, await triggerAlice(second.url, dataDir)), true)
    } finally {
      await second.close()
    }
    await assert.rejects(start({ dataDir, env: { SMS_OTP_ENC_KEY: oldKey.toString('hex') } }), keyMismatch(/does not belong/))
    await opensNothing(join(dataDir, 'sms-otp.db'), oldKey)

    // A second rotation carries the (now stored) PIN key over again.
    const again = await rotateMasterKey({ dataDir, env: {} })
    assert.equal(again.providers, 1)
    const third = await start({ dataDir })
    try {
      assert.equal(await authenticates(third.url, await triggerAlice(third.url, dataDir)), true)
    } finally {
      await third.close()
    }
    await opensNothing(join(dataDir, 'sms-otp.db'), newKey)
  })

  it('re-seals a stored LDAP resolver password (BINDPW): after the rotation it decrypts with the new key only', async () => {
    const { dataDir } = await installed()
    const first = await start({ dataDir })
    await first.otp.resolvers.set({ name: 'corp', type: 'ldap', params: { LDAPURI: 'ldap://127.0.0.1:1', LDAPBASE: 'dc=example,dc=org', BINDDN: 'cn=service,dc=example,dc=org', BINDPW: 'bind-secret' } })
    await first.close()
    const oldKey = await loadMasterKey(join(dataDir, 'sms-otp.key'), {})
    const report = await rotateMasterKey({ dataDir, env: {} })
    assert.equal(report.providers, 1)
    const newKey = await loadMasterKey(join(dataDir, 'sms-otp.key'), {})
    const db = new Database(join(dataDir, 'sms-otp.db'), { readonly: true })
    const row = db.prepare("SELECT value FROM settings WHERE kind = 'resolver' AND name = 'corp'").get() as { value: string }
    db.close()
    assert.equal(row.value.includes('bind-secret'), false)
    assert.equal(decodeResolver('corp', row.value, new Secrets(newKey)).definition.params.BINDPW, 'bind-secret')
    assert.ok(decodeResolver('corp', row.value, new Secrets(oldKey)).error, 'the old key opens nothing')
  })

  it('with SMS_OTP_ENC_KEY: refused without --new-key-file; with it the new key goes there and only the new key starts', async () => {
    const oldKey = randomBytes(32).toString('hex')
    const { root: dir, dataDir } = await installed({ SMS_OTP_ENC_KEY: oldKey })
    const refused = await cli(['key', 'rotate', '--data-dir', dataDir], { SMS_OTP_ENC_KEY: oldKey })
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /SMS_OTP_ENC_KEY is set and key rotate cannot change the environment: run it with --new-key-file FILE/)
    await assert.rejects(rotateMasterKey({ dataDir, env: {}, newKeyFile: join(dir, 'x.key') }), /--new-key-file is for installations that keep the key in SMS_OTP_ENC_KEY/)

    const newKeyFile = join(dir, 'new.key')
    const report = await rotateMasterKey({ dataDir, env: { SMS_OTP_ENC_KEY: oldKey }, newKeyFile })
    assert.equal(report.keyFile, newKeyFile)
    assert.equal((await stat(newKeyFile)).mode & 0o777, 0o600)
    await assert.rejects(stat(join(dataDir, 'sms-otp.key')), /ENOENT/, 'no key file appears in env mode')
    await assert.rejects(start({ dataDir, env: { SMS_OTP_ENC_KEY: oldKey } }), keyMismatch(/does not belong/))
    const newKey = (await readFile(newKeyFile, 'utf8')).trim()
    const running = await start({ dataDir, env: { SMS_OTP_ENC_KEY: newKey } })
    try {
      assert.equal(await authenticates(running.url, await triggerAlice(running.url, dataDir)), true)
    } finally {
      await running.close()
    }
  })

  it('a rotation interrupted half-way never leaves data unreadable: a start with either key alone refuses, the next start finishes it', async () => {
    const { dataDir, configFile } = await installed()
    const keyFile = join(dataDir, 'sms-otp.key')
    const first = await start({ dataDir, configFile })
    const otp = await triggerAlice(first.url, dataDir)
    await first.close()
    const oldKey = await loadMasterKey(keyFile, {})
    const newKey = randomBytes(32)
    assert.equal(await createKeyFile(`${keyFile}.new`, newKey), true)

    // The crash: the store fails after the first seed was re-encrypted.
    const store = createSqliteStore({ path: join(dataDir, 'sms-otp.db') })
    await store.open()
    let updates = 0
    const crashing: Store = { ...store, tokens: { ...store.tokens, replaceSeed: async (serial, expected, next) => {
      if (++updates > 1) throw new Error('simulated crash')
      return store.tokens.replaceSeed(serial, expected, next)
    } } }
    await assert.rejects(rekeyStore(crashing, new Secrets(oldKey), new Secrets(newKey)), /simulated crash/)
    assert.ok(await store.settings.get('config', ROTATING), 'the rotation marker is stored')
    await store.close()

    const interrupted = keyMismatch(/rotation of this database was interrupted.*sms-otp key rotate/s)
    await assert.rejects(start({ dataDir, env: { SMS_OTP_ENC_KEY: oldKey.toString('hex') } }), interrupted)
    await assert.rejects(start({ dataDir, env: { SMS_OTP_ENC_KEY: newKey.toString('hex') } }), interrupted)

    const running = await start({ dataDir }) // finds sms-otp.key.new and finishes the rotation
    try {
      assert.equal(await authenticates(running.url, otp), true)
    } finally {
      await running.close()
    }
    assert.deepEqual(await loadMasterKey(keyFile, {}), newKey)
    await assert.rejects(stat(`${keyFile}.new`), /ENOENT/)
    await opensNothing(join(dataDir, 'sms-otp.db'), oldKey)
  })
})

describe('databases from before key check values; the check value stays internal', () => {
  it('threat: a database without a check value does not adopt a wrong key (tokens only, nothing to fail on)', async () => {
    const store = createMemoryStore()
    const right = Secrets.ephemeral()
    const first = await createSmsOtp({ store, secrets: right })
    await first.tokens.init({ user: 'alice', phone: '+4915112345678', pin: '1234' })
    await first.close()
    await store.settings.delete('config', KEY_CHECK) // as an install from before check values
    await assert.rejects(createSmsOtp({ store, secrets: Secrets.ephemeral() }), keyMismatch(/does not decrypt the secrets stored in this database/))
    assert.equal(await store.settings.get('config', KEY_CHECK), undefined, 'nothing written')
    const otp = await createSmsOtp({ store, secrets: right })
    assert.equal(await store.settings.get('config', KEY_CHECK), right.keyCheckValue, 'written once a secret decrypted')
    await otp.close()
  })

  it('the check value is neither listed by config.get nor settable or deletable through config', async () => {
    const otp = await createSmsOtp()
    assert.ok(await otp.core.store.settings.get('config', KEY_CHECK))
    assert.deepEqual(Object.keys(otp.config.get()).filter((k) => k.startsWith('sms-otp/')), [])
    await assert.rejects(otp.config.set({ [KEY_CHECK]: 'x' }), /only letters, digits/)
    assert.equal(await otp.config.delete(KEY_CHECK), false)
    assert.ok(otp.core.secrets.matchesCheckValue((await otp.core.store.settings.get('config', KEY_CHECK)) ?? ''))
    await otp.close()
  })

  it('loadMasterKey with create: false never writes a key file', async () => {
    const dir = await tempDir()
    const file = join(dir, 'sub', 'sms-otp.key')
    await assert.rejects(loadMasterKey(file, {}, { create: false }), keyMismatch(/key file .* is missing for an existing database/))
    await assert.rejects(stat(join(dir, 'sub')), /ENOENT/)
  })
})

/** The pid of a process that has exited (its run lock file is stale). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((ok) => child.once('exit', ok))
  assert.ok(child.pid)
  return child.pid
}

/** Asserts that every seed in the database opens with `key`. */
async function seedsOpen(db: string, key: Buffer): Promise<string[]> {
  const store = createSqliteStore({ path: db })
  await store.open()
  try {
    const secrets = new Secrets(key)
    const tokens = await store.tokens.list({}, 100)
    for (const t of tokens) assert.doesNotThrow(() => secrets.decryptSeed(t.serial, t.seed), `seed of ${t.serial}`)
    return tokens.map((t) => t.serial)
  } finally {
    await store.close()
  }
}

describe('key rotate and running sidecars (the run lock)', () => {
  const sidecarRunning = (err: unknown): boolean => {
    assert.ok(isOtpError(err, 'ERR_OTP_INVALID_CONFIG'), String(err))
    assert.match(err.message, new RegExp(`a sidecar \\(pid ${process.pid}\\) is using the data directory .*run/serve-${process.pid}-.*stop every sidecar process`, 's'))
    return true
  }

  it('threat: key rotate while a sidecar runs is refused (the sidecar would seal new seeds with the old key); after it closed the rotation works and nothing is lost', async () => {
    const { dataDir, configFile } = await installed()
    const keyFile = join(dataDir, 'sms-otp.key')
    const oldKey = await loadMasterKey(keyFile, {})
    const running = await start({ dataDir, configFile })
    try {
      await assert.rejects(rotateMasterKey({ dataDir, env: {} }), sidecarRunning)
      const run = await cli(['key', 'rotate', '--data-dir', dataDir]) // another process sees this one's lock
      assert.equal(run.code, 1, run.stdout)
      assert.match(run.stderr, /a sidecar \(pid \d+\) is using the data directory .*stop every sidecar process that uses it, then run key rotate again/s)
      await assert.rejects(stat(`${keyFile}.new`), /ENOENT/, 'a refused rotation writes no new key')
      assert.deepEqual(await loadMasterKey(keyFile, {}), oldKey)
      // The running engine keeps working with the key it has: a token enrolled now must survive.
      await running.otp.tokens.init({ user: 'carol', realm: 'example', phone: '+4915112345670', pin: '1111', serial: 'DURING' })
    } finally {
      await running.close()
    }
    assert.deepEqual(await readdir(join(dataDir, 'run')), [], 'close removed the lock file')
    const report = await rotateMasterKey({ dataDir, env: {} })
    const serials = await seedsOpen(join(dataDir, 'sms-otp.db'), await loadMasterKey(keyFile, {}))
    assert.ok(serials.includes('DURING') && serials.includes('LSSM0001'), serials.join())
    assert.equal(report.seeds, serials.length, 'every seed re-sealed, the one enrolled while the sidecar ran too')
    const again = await start({ dataDir })
    try {
      assert.equal(await authenticates(again.url, await triggerAlice(again.url, dataDir)), true)
    } finally {
      await again.close()
    }
  })

  it('a stale lock file of a dead process does not block key rotate, and is removed', async () => {
    const { dataDir } = await installed()
    await mkdir(join(dataDir, 'run'), { recursive: true })
    const stale = join(dataDir, 'run', `serve-${await deadPid()}-0123abcd`)
    await writeFile(stale, '')
    assert.ok((await rotateMasterKey({ dataDir, env: {} })).seeds >= 2)
    await assert.rejects(stat(stale), /ENOENT/)
  })

  it('a lock file of another live process blocks key rotate until that process is gone', async () => {
    const { dataDir } = await installed()
    await mkdir(join(dataDir, 'run'), { recursive: true })
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' })
    try {
      assert.ok(child.pid)
      await writeFile(join(dataDir, 'run', `serve-${child.pid}-0123abcd`), '')
      await assert.rejects(rotateMasterKey({ dataDir, env: {} }), new RegExp(`a sidecar \\(pid ${child.pid}\\) is using`))
    } finally {
      const exited = new Promise((ok) => child.once('exit', ok))
      child.kill()
      await exited
    }
    assert.ok((await rotateMasterKey({ dataDir, env: {} })).seeds >= 2)
  })

  it('--allow-path may not name the run lock directory (an admin-defined FileSMSProvider could fake lock files)', async () => {
    const { dataDir } = await installed()
    const started = start({ dataDir, resources: { allowPaths: [join(dataDir, 'run')] } })
    started.then((s) => s.close(), () => undefined)
    await assert.rejects(started, /allowPaths\[0\]: .* holds the run lock directory /)
  })

  it('threat: serve refuses to start while a key rotation runs on the data directory, and starts once it is over', async () => {
    const { dataDir, configFile } = await installed()
    await mkdir(join(dataDir, 'run'), { recursive: true })
    const rotating = join(dataDir, 'run', `rotate-${process.pid}-0123abcd`)
    await writeFile(rotating, '')
    const started = start({ dataDir, configFile })
    started.then((s) => s.close(), () => undefined) // an unexpected start must not keep the test process alive
    await assert.rejects(started, (err: unknown) => {
      assert.ok(isOtpError(err, 'ERR_OTP_INVALID_CONFIG'), String(err))
      assert.match(err.message, new RegExp(`a key rotation \\(pid ${process.pid}\\) is running on the data directory .*start the sidecar once it has finished`, 's'))
      return true
    })
    assert.deepEqual(await readdir(join(dataDir, 'run')), [`rotate-${process.pid}-0123abcd`], 'the refused start left no lock file')
    await rm(rotating)
    await (await start({ dataDir, configFile })).close()
  })
})
