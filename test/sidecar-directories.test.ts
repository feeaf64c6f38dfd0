/**
 * User directories configured as data: resolver definitions and realms in the sidecar config
 * file and over LinOTP's /system API, persisted in the store, seen by the engine at once.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import type { LookupFunction } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import bcrypt from 'bcryptjs'
import { Secrets } from '../src/crypto/secrets.js'
import { isOtpError } from '../src/errors.js'
import { applyConfig, parseConfig, readConfigFile } from '../src/sidecar/config-file.js'
import { createSmsOtp } from '../src/sms-otp.js'
import { MIGRATIONS } from '../src/stores/sqlite-migrations.js'
import { createSqliteStore } from '../src/stores/sqlite.js'
import { createMemoryStore } from '../src/stores/memory.js'
import { decodeResolver, encodeResolver, resealResolver } from '../src/settings/resolvers.js'
import { functionResolver } from '../src/users/index.js'
import { enrolAlice, startHarness, type Harness, type HarnessOptions } from './helpers/harness.js'
import { SERVICE_DN, SERVICE_PW, SUFFIX, slapdSkip, startSlapd, type Slapd } from './helpers/slapd.js'
import { createTestPki, type TestPki } from './helpers/tls.js'
import { adminOk, aliceOtp, auditOf, check, policy } from './helpers/validate-helpers.js'

const BIND_SECRET = 'bind-secret-Do-Not-Show-7f3a'
const hash = (password: string): string => bcrypt.hashSync(password, 4)

async function usersFile(dir: string, name: string, password: string, mobile = '+4915112345678'): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, JSON.stringify([{ login: 'alice', password: hash(password), mobile }]))
  return path
}

/** A `dns.lookup` that knows only `names`; other names fail as unknown. */
function fakeLookup(names: Record<string, string>): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (err: Error | null, address: unknown, family?: number) => void) => {
    const address = names[hostname]
    if (address === undefined) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), options.all ? [] : '')
    const family = address.includes(':') ? 6 : 4
    if (options.all) callback(null, [{ address, family }])
    else callback(null, address, family)
  }) as unknown as LookupFunction
}

const ldapParams = (extra: Record<string, string> = {}): Record<string, string> => ({
  LDAPURI: 'ldaps://ldap.example.org', LDAPBASE: `ou=people,${SUFFIX}`, BINDDN: SERVICE_DN, BINDPW: BIND_SECRET, ...extra,
})

describe('resolvers and realms in the sidecar config file', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-dirs-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('a file resolver and a realm from the config file answer find and checkPassword; applying twice changes nothing', async () => {
    const fileName = await usersFile(dir, 'users.json', 'alice-password')
    const path = join(dir, 'config.json')
    await writeFile(path, JSON.stringify({
      resolvers: [{ name: 'staff', type: 'file', fileName }],
      realms: [{ name: 'Corp', default: true, resolvers: ['staff'] }],
    }))
    const otp = await createSmsOtp()
    try {
      await applyConfig(otp, await readConfigFile(path))
      await applyConfig(otp, await readConfigFile(path)) // a restart applies the same file again
      const alice = await otp.users.find('alice')
      assert.equal(alice?.realm, 'corp')
      assert.equal(alice?.resolver, 'staff')
      assert.equal(alice?.attributes.mobile, '+4915112345678')
      assert.equal(await otp.users.checkPassword('alice', 'alice-password', 'CORP'), true)
      assert.equal(await otp.users.checkPassword('alice', 'wrong', 'corp'), false)
      assert.equal(await otp.users.find('mallory'), undefined)
      assert.deepEqual(otp.realms.list(), [{ name: 'corp', default: true, resolvers: ['staff'] }])
      assert.deepEqual(otp.resolvers.list(), [{ name: 'staff', type: 'file', origin: 'local', params: { fileName } }])
    } finally {
      await otp.close()
    }
  })

  it('a malformed resolver is refused naming it and its parameter; nothing is written', async () => {
    const fileName = await usersFile(dir, 'ok.json', 'x')
    const good = { name: 'staff', type: 'file', fileName }
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: 'corp', type: 'ldap', LDAPURI: 'http://ldap.example.org', LDAPBASE: 'dc=x', BINDDN: 'cn=a', BINDPW: 'p' }, /resolvers: resolver 'corp': LDAPURI: expected ldap:\/\/host/],
      [{ name: 'corp', type: 'ldap', LDAPURI: 'ldap://ldap.example.org', LDAPBASE: 'dc=x', BINDDN: 'cn=a' }, /resolver 'corp': missing parameter BINDPW/],
      [{ name: 'corp', type: 'ldap', LDAPURI: 'ldap://a', LDAPBASE: 'dc=x', BINDDN: 'cn=a', BINDPW: 'p', USERINFO: '{"mobile":' }, /resolver 'corp': USERINFO: not valid JSON/],
      [{ name: 'corp', type: 'ldap', LDAPURI: 'ldap://a', LDAPBASE: 'dc=x', BINDDN: 'cn=a', BINDPW: 'p', TIMEOUT: 'soon' }, /resolver 'corp': TIMEOUT: seconds/],
      [{ name: 'corp', type: 'sqlresolver' }, /resolver 'corp': type: expected 'file'/],
      [{ name: 'corp', type: 'file', fileName, colour: 'blue' }, /resolver 'corp': unknown parameter "colour"/],
      [{ name: 'bad name', type: 'file', fileName }, /resolver name "bad name"/],
    ]
    for (const [resolver, message] of cases) {
      assert.throws(() => parseConfig({ resolvers: [good, resolver] }, 'sms-otp.json'), (err: unknown) => {
        assert.ok(isOtpError(err, 'ERR_OTP_INVALID_CONFIG'), String(err))
        assert.match((err as Error).message, /^sms-otp\.json: /)
        assert.match((err as Error).message, message)
        return true
      })
    }
    // A realm naming a resolver nobody defined: refused before the valid resolver is written.
    const otp = await createSmsOtp()
    try {
      const config = parseConfig({ resolvers: [good], realms: [{ name: 'corp', resolvers: ['staff', 'nobody'] }] })
      await assert.rejects(applyConfig(otp, config), /realms: corp: no resolver 'nobody'/)
      assert.deepEqual(otp.resolvers.list(), [])
      assert.deepEqual(otp.realms.list(), [])
    } finally {
      await otp.close()
    }
  })

  it('BINDPW may come from the environment; an unset variable is named', () => {
    const entry = { name: 'corp', type: 'ldap', ...ldapParams(), BINDPW: { env: 'SMS_OTP_TEST_LDAP_PW' } }
    delete process.env.SMS_OTP_TEST_LDAP_PW
    assert.throws(() => parseConfig({ resolvers: [entry] }), /resolver 'corp': BINDPW: environment variable SMS_OTP_TEST_LDAP_PW is not set/)
    process.env.SMS_OTP_TEST_LDAP_PW = BIND_SECRET
    try {
      const config = parseConfig({ resolvers: [entry] })
      assert.equal(config.resolvers?.[0]?.params.BINDPW, BIND_SECRET)
    } finally {
      delete process.env.SMS_OTP_TEST_LDAP_PW
    }
  })

  it('threat: even a config-file resolver may not point at the cloud metadata address', () => {
    assert.throws(() => parseConfig({ resolvers: [{ name: 'corp', type: 'ldap', ...ldapParams({ LDAPURI: 'ldap://169.254.169.254' }) }] }), (err: unknown) => isOtpError(err, 'ERR_OTP_RESOURCE_NOT_ALLOWED'))
    // A private directory server is the operator's business.
    parseConfig({ resolvers: [{ name: 'corp', type: 'ldap', ...ldapParams({ LDAPURI: 'ldap://10.0.0.5:389' }) }] })
  })
})

describe('resolvers and realms over /system', () => {
  let h: Harness | undefined
  afterEach(async () => {
    await h?.close()
    h = undefined
  })
  // The operator lists the directory server admin-defined LDAP resolvers may name.
  const start = async (options: HarnessOptions = {}): Promise<Harness> => (h = await startHarness({ ...options, resources: { allowHosts: ['ldap.example.org'], ...options.resources } }))

  it('setResolver (file) + setRealm + setDefaultRealm: /validate/check with otppin=password authenticates against it', async () => {
    const h = await start()
    const fileName = await usersFile(h.dir, 'users.json', 'alice-password')
    await adminOk(h, '/system/setResolver', { name: 'staff', type: 'passwdresolver', fileName })
    await adminOk(h, '/system/setRealm', { realm: 'Example', resolvers: 'useridresolver.PasswdIdResolver.IdResolver.staff' })
    await adminOk(h, '/system/setRealm', { realm: 'other' })
    await adminOk(h, '/system/setDefaultRealm', { realm: 'other' })
    assert.equal((await adminOk(h, '/system/getDefaultRealm', {})).result.value.other.default, true)
    await adminOk(h, '/system/setDefaultRealm', { realm: 'EXAMPLE' })
    const realms = (await adminOk(h, '/system/getRealms', {})).result.value
    assert.deepEqual(realms.example, { realmname: 'example', default: true, resolvers: ['staff'], useridresolver: ['useridresolver.PasswdIdResolver.IdResolver.staff'] })
    assert.equal(realms.other.default, false)
    assert.deepEqual(Object.keys((await adminOk(h, '/system/getDefaultRealm', {})).result.value), ['example'])
    assert.equal((await h.admin('/system/setDefaultRealm', { realm: 'nowhere' })).body.result.value, false)

    await enrolAlice(h)
    await policy(h, 'pw', 'otppin=password')
    const first = await check(h, { user: 'alice', pass: 'alice-password' })
    assert.equal(first.body.detail?.message, 'sms submitted', JSON.stringify(first.body))
    assert.equal((await check(h, { user: 'alice', pass: `alice-password${aliceOtp(1)}` })).body.result.value, true)
    const audited = auditOf(h, 'system/setResolver').at(-1)
    assert.equal(audited?.action, 'resolver set')
    assert.equal(audited?.target?.resolver, 'staff')
  })

  it('live: a realm switched to another resolver, or a resolver redefined, is used by the next check without a restart', async () => {
    const h = await start()
    const a = await usersFile(h.dir, 'a.json', 'password-a')
    const b = await usersFile(h.dir, 'b.json', 'password-b')
    const c = await usersFile(h.dir, 'c.json', 'password-c')
    await adminOk(h, '/system/setResolver', { name: 'first', type: 'file', fileName: a })
    await adminOk(h, '/system/setResolver', { name: 'second', type: 'file', fileName: b })
    await adminOk(h, '/system/setRealm', { realm: 'example', resolvers: 'first' })
    await enrolAlice(h)
    await policy(h, 'pw', 'otppin=password')
    assert.equal((await check(h, { user: 'alice', pass: 'password-a' })).body.detail?.message, 'sms submitted')

    await adminOk(h, '/system/setRealm', { realm: 'example', resolvers: 'second' })
    h.clock.advance(60_000)
    const old = await check(h, { user: 'alice', pass: 'password-a' })
    assert.equal(old.body.result.value, false)
    assert.equal(old.body.detail, undefined, 'the old directory no longer counts')
    assert.equal((await check(h, { user: 'alice', pass: 'password-b' })).body.detail?.message, 'sms submitted')

    await adminOk(h, '/system/setResolver', { name: 'second', type: 'file', fileName: c })
    h.clock.advance(60_000)
    assert.equal((await check(h, { user: 'alice', pass: 'password-b' })).body.detail, undefined)
    assert.equal((await check(h, { user: 'alice', pass: 'password-c' })).body.detail?.message, 'sms submitted')
  })

  it('getResolvers and getResolver never show BINDPW; neither do the audit, the logs or the stored value', async () => {
    const h = await start()
    const set = await adminOk(h, '/system/setResolver', { name: 'corp', type: 'ldapresolver', ...ldapParams({ USERINFO: '{"mobile":"mobile","email":"mail"}', SIZELIMIT: '500' }) })
    assert.match(JSON.stringify(set.detail?.warnings), /SIZELIMIT is not used/)
    const all = await adminOk(h, '/system/getResolvers', {})
    assert.deepEqual(all.result.value.corp, { resolvername: 'corp', type: 'ldapresolver', origin: 'admin', spec: 'useridresolver.LDAPIdResolver.IdResolver.corp' })
    const one = await adminOk(h, '/system/getResolver', { resolver: 'corp' })
    assert.equal(one.result.value.data.BINDPW, '***')
    assert.equal(one.result.value.data.LDAPURI, 'ldaps://ldap.example.org')
    assert.equal(one.result.value.data.USERINFO, '{"mobile":"mobile","email":"mail"}')
    assert.equal(h.otp.resolvers.get('corp')?.params.BINDPW, '***')
    for (const text of [JSON.stringify(all), JSON.stringify(one), JSON.stringify(h.audit), h.logs.join('\n')]) assert.ok(!text.includes(BIND_SECRET))
    const stored = await h.otp.core.store.settings.get('resolver', 'corp')
    assert.ok(stored !== undefined && !stored.includes(BIND_SECRET), 'BINDPW is encrypted at rest')
    assert.equal((await h.admin('/system/getResolver', { resolver: 'nobody' })).body.result.status, false)
    // Sending back what getResolver showed does not store the mask as the password.
    const masked = await h.admin('/system/setResolver', { name: 'corp', type: 'ldapresolver', ...ldapParams({ BINDPW: '***' }) })
    assert.match(masked.body.result.error.message, /resolver 'corp': BINDPW: give the password/)
  })

  it('delResolver is refused while a realm lists it; delRealm then frees it', async () => {
    const h = await start()
    await adminOk(h, '/system/setResolver', { name: 'staff', type: 'file', fileName: await usersFile(h.dir, 'u.json', 'x') })
    await adminOk(h, '/system/setRealm', { realm: 'corp', resolvers: 'staff' })
    const refused = await h.admin('/system/delResolver', { resolver: 'staff' })
    assert.equal(refused.body.result.status, false)
    assert.match(refused.body.result.error.message, /resolver 'staff' is still used by realm\(s\) corp/)
    assert.equal(auditOf(h, 'system/delResolver').at(-1)?.result, false)
    assert.ok((await adminOk(h, '/system/getResolvers', {})).result.value.staff)
    assert.deepEqual((await adminOk(h, '/system/delRealm', { realm: 'CORP' })).result.value, { 'delRealm corp': true })
    assert.deepEqual((await adminOk(h, '/system/delResolver', { resolver: 'staff' })).result.value, { 'delResolver staff': true })
    assert.deepEqual((await adminOk(h, '/system/delResolver', { resolver: 'staff' })).result.value, { 'delResolver staff': false })
    assert.equal((await adminOk(h, '/system/getRealms', {})).result.value.corp, undefined)
    const unknown = await h.admin('/system/setRealm', { realm: 'corp', resolvers: 'staff' })
    assert.match(unknown.body.result.error.message, /realm 'corp': no resolver 'staff'/)
  })

  it('resolvers given in code are listed as local and cannot be replaced or deleted through the API', async () => {
    const app = functionResolver({ name: 'app', find: async () => undefined })
    const h = await start({ users: { realms: { example: [app] } } })
    const listed = (await adminOk(h, '/system/getResolvers', {})).result.value
    assert.deepEqual(listed.app, { resolvername: 'app', type: 'code', origin: 'local', spec: 'app' })
    const replaced = await h.admin('/system/setResolver', { name: 'app', type: 'file', fileName: await usersFile(h.dir, 'u.json', 'x') })
    assert.match(replaced.body.result.error.message, /resolver 'app' is given in the host's code .* cannot be replaced/)
    const deleted = await h.admin('/system/delResolver', { resolver: 'app' })
    assert.match(deleted.body.result.error.message, /resolver 'app' is given in the host's code .* cannot be deleted/)
    assert.match((await h.admin('/system/delRealm', { realm: 'example' })).body.result.error.message, /realm 'example' is given in the host's code/)
    // A stored resolver may be added after the code ones.
    await adminOk(h, '/system/setResolver', { name: 'staff', type: 'file', fileName: await usersFile(h.dir, 's.json', 'alice-password') })
    await adminOk(h, '/system/setRealm', { realm: 'example', resolvers: 'staff' })
    assert.deepEqual((await adminOk(h, '/system/getRealms', {})).result.value.example.resolvers, ['app', 'staff'])
    assert.equal(await h.otp.users.checkPassword('alice', 'alice-password', 'example'), true)
  })

  it("threat: an admin-defined users file outside --allow-path, or with '..', is refused (ERR_OTP_RESOURCE_NOT_ALLOWED)", async () => {
    const h = await start()
    for (const fileName of ['/etc/passwd', join(h.dir, '..', 'users.json'), 'users.json']) {
      const r = await h.admin('/system/setResolver', { name: 'staff', type: 'file', fileName })
      assert.equal(r.status, 403, fileName)
      assert.equal(r.body.result.error.code, 'ERR_OTP_RESOURCE_NOT_ALLOWED', fileName)
      assert.match(r.body.result.error.message, /fileName: a resolver set through the admin API/)
    }
    const ca = await h.admin('/system/setResolver', { name: 'corp', type: 'ldap', ...ldapParams({ CACERTIFICATE: '/etc/ssl/certs/ca-certificates.crt' }) })
    assert.equal(ca.body.result.error.code, 'ERR_OTP_RESOURCE_NOT_ALLOWED')
    assert.deepEqual(h.otp.resolvers.list(), [])
  })

  it('threat: an admin-defined LDAP URI to the metadata address, link-local, loopback or a private host is refused without an allowance', async () => {
    const h = await start()
    for (const uri of ['ldap://169.254.169.254', 'ldap://169.254.10.10:389', 'ldap://10.0.0.5', 'ldaps://192.168.1.10:636', 'ldap://localhost', 'ldap://[::1]', 'ldap://2130706433', 'ldap://metadata.google.internal']) {
      const r = await h.admin('/system/setResolver', { name: 'corp', type: 'ldap', ...ldapParams({ LDAPURI: uri }) })
      assert.equal(r.body.result.error?.code, 'ERR_OTP_RESOURCE_NOT_ALLOWED', `${uri}: ${JSON.stringify(r.body)}`)
    }
    assert.deepEqual(h.otp.resolvers.list(), [])
  })

  it("threat: an admin-defined LDAP resolver receives users' passwords: its server must be listed (public is not enough) and reached over TLS", async () => {
    const h = await start()
    const unlisted = await h.admin('/system/setResolver', { name: 'corp', type: 'ldap', ...ldapParams({ LDAPURI: 'ldaps://203.0.113.10' }) })
    assert.equal(unlisted.body.result.error?.code, 'ERR_OTP_RESOURCE_NOT_ALLOWED')
    assert.match(unlisted.body.result.error?.message ?? '', /--allow-host 203\.0\.113\.10/)
    const clear = await h.admin('/system/setResolver', { name: 'corp', type: 'ldap', ...ldapParams({ LDAPURI: 'ldap://ldap.example.org' }) })
    assert.equal(clear.body.result.error?.code, 'ERR_OTP_RESOURCE_NOT_ALLOWED')
    assert.match(clear.body.result.error?.message ?? '', /needs ldaps:\/\/ or START_TLS/)
    await adminOk(h, '/system/setResolver', { name: 'corp', type: 'ldap', ...ldapParams({ LDAPURI: 'ldap://ldap.example.org', START_TLS: 'true' }) })
    assert.deepEqual(h.otp.resolvers.list().map((r) => r.name), ['corp'])
  })

  it('realm names are case-insensitive and lower-cased', async () => {
    const h = await start()
    await adminOk(h, '/system/setResolver', { name: 'staff', type: 'file', fileName: await usersFile(h.dir, 'u.json', 'alice-password') })
    await adminOk(h, '/system/setRealm', { realm: 'Sales.EU', resolvers: 'staff' })
    assert.ok((await adminOk(h, '/system/getRealms', {})).result.value['sales.eu'])
    assert.equal(await h.otp.users.checkPassword('alice', 'alice-password', 'SALES.eu'), true)
  })
})

describe('an LDAP resolver defined over /system against a real slapd', { skip: slapdSkip }, () => {
  const people = `ou=people,${SUFFIX}`
  let slapd: Slapd
  let pki: TestPki
  let h: Harness
  before(async () => {
    pki = createTestPki()
    slapd = await startSlapd({
      ldif: `dn: uid=alice,${people}\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice\nsn: Example\nmobile: +4915112345678\nmail: alice@example.org\nuserPassword: alice-password\n`,
      tls: { certPath: pki.serverCertPath, keyPath: pki.serverKeyPath },
    })
    // The operator allows the directory's loopback address and the name it is reached by.
    h = await startHarness({ resources: { allowHosts: ['127.0.0.1', 'localhost'], lookup: fakeLookup({ localhost: '127.0.0.1' }) } })
  })
  after(async () => {
    await h?.close()
    await slapd?.stop()
    pki?.cleanup()
  })

  // StartTLS on the plain port, by the name the certificate carries: admin-defined LDAP needs TLS.
  const base = (extra: Record<string, string> = {}) => ({
    name: 'corp', type: 'ldapresolver', LDAPBASE: people, BINDDN: SERVICE_DN, BINDPW: SERVICE_PW,
    LOGINNAMEATTRIBUTE: 'uid', LDAPSEARCHFILTER: '(uid=*)(objectClass=inetOrgPerson)', USERINFO: '{"mobile":"mobile","email":"mail"}', TIMEOUT: '3', ...extra,
  })
  const params = (extra: Record<string, string> = {}) =>
    base({ LDAPURI: `ldap://localhost:${new URL(slapd.url).port}`, START_TLS: 'true', CACERTIFICATE: readFileSync(pki.caCertPath, 'utf8'), ...extra })

  it('finds users and checks passwords; /validate/check with otppin=password binds as the user', async () => {
    await adminOk(h, '/system/setResolver', params())
    await adminOk(h, '/system/setRealm', { realm: 'example', resolvers: 'corp' })
    const alice = await h.otp.users.find('alice', 'example')
    assert.deepEqual(alice?.attributes, { mobile: '+4915112345678', email: 'alice@example.org' })
    assert.equal(await h.otp.users.checkPassword('alice', 'wrong', 'example'), false)
    await enrolAlice(h)
    await policy(h, 'pw', 'otppin=password')
    const first = await check(h, { user: 'alice', pass: 'alice-password' })
    assert.equal(first.body.detail?.message, 'sms submitted', JSON.stringify(first.body))
    assert.equal((await check(h, { user: 'alice', pass: `alice-password${aliceOtp(1)}` })).body.result.value, true)
  })

  it('ldaps:// by host name with the CA given as PEM text: connects to the judged address, checks the certificate against the name', async () => {
    const port = new URL(slapd.ldapsUrl ?? '').port
    const caCert = await readFile(pki.caCertPath, 'utf8')
    await adminOk(h, '/system/setResolver', base({ name: 'corp-tls', LDAPURI: `ldaps://localhost:${port}`, CACERTIFICATE: caCert }))
    await adminOk(h, '/system/setRealm', { realm: 'tls', resolvers: 'corp-tls' })
    assert.equal((await h.otp.users.find('alice', 'tls'))?.attributes.mobile, '+4915112345678')
    assert.equal(await h.otp.users.checkPassword('alice', 'alice-password', 'tls'), true)
    // Without the CA the certificate is not trusted: the directory cannot answer.
    await adminOk(h, '/system/setResolver', base({ name: 'corp-tls', LDAPURI: `ldaps://localhost:${port}` }))
    await assert.rejects(h.otp.users.find('alice', 'tls'), (err: unknown) => isOtpError(err, 'ERR_OTP_DIRECTORY'))
  })

  it("a replaced resolver's service connection is closed", async () => {
    await adminOk(h, '/system/setResolver', params())
    await adminOk(h, '/system/setRealm', { realm: 'example', resolvers: 'corp' })
    assert.ok(await h.otp.users.find('alice', 'example'))
    await slapd.quiet()
    const unbinds = (): number => slapd.log().split('\n').filter((l) => /\bUNBIND\b/.test(l)).length
    const before = unbinds()
    await adminOk(h, '/system/setResolver', params({ TIMEOUT: '4' }))
    await slapd.quiet(200)
    assert.ok(unbinds() > before, 'the old service connection was unbound')
    assert.ok(await h.otp.users.find('alice', 'example'), 'the new definition works')
  })
})

describe('persistence', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-dirs-db-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('a restart on the same sqlite file sees the resolvers and realms; BINDPW is stored encrypted', async () => {
    const key = randomBytes(32)
    const path = join(dir, 'otp.db')
    const fileName = await usersFile(dir, 'users.json', 'alice-password')
    const first = await createSmsOtp({ store: createSqliteStore({ path }), secrets: new Secrets(key) })
    await first.resolvers.set({ name: 'staff', type: 'file', params: { fileName } })
    await first.resolvers.set({ name: 'corp', type: 'ldap', params: ldapParams() })
    await first.realms.set('Corp', { default: true, resolvers: ['staff', 'corp'] })
    await first.close()
    const raw = new Database(path, { readonly: true })
    const values = raw.prepare("SELECT value FROM settings WHERE kind = 'resolver'").all() as Array<{ value: string }>
    raw.close()
    assert.equal(values.length, 2)
    assert.ok(values.every((v) => !v.value.includes(BIND_SECRET)))

    const again = await createSmsOtp({ store: createSqliteStore({ path }), secrets: new Secrets(key) })
    try {
      assert.deepEqual(again.resolvers.list().map((r) => [r.name, r.type, r.origin]), [['corp', 'ldap', 'local'], ['staff', 'file', 'local']])
      assert.deepEqual(again.realms.list(), [{ name: 'corp', default: true, resolvers: ['staff', 'corp'] }])
      assert.equal(again.realms.getDefault(), 'corp')
      assert.equal(await again.users.checkPassword('alice', 'alice-password'), true)
    } finally {
      await again.close()
    }
  })

  it('threat: a stored admin-defined resolver is judged again at start, against the allow-lists of that start', async () => {
    const key = randomBytes(32)
    const path = join(dir, 'admin.db')
    const fileName = await usersFile(dir, 'admin-users.json', 'alice-password')
    const first = await createSmsOtp({ store: createSqliteStore({ path }), secrets: new Secrets(key), resources: { allowPaths: [dir] } })
    await first.resolvers.set({ name: 'staff', type: 'file', params: { fileName } }, { origin: 'admin' })
    await first.realms.set('corp', { resolvers: ['staff'] })
    assert.equal(await first.users.checkPassword('alice', 'alice-password', 'corp'), true)
    await first.close()
    const narrowed = await createSmsOtp({ store: createSqliteStore({ path }), secrets: new Secrets(key) })
    try {
      assert.equal(narrowed.resolvers.get('staff')?.origin, 'admin')
      await assert.rejects(narrowed.users.checkPassword('alice', 'alice-password', 'corp'), (err: unknown) => isOtpError(err, 'ERR_OTP_DIRECTORY'))
    } finally {
      await narrowed.close()
    }
  })

  it('a database of schema version 1 is upgraded with its settings kept, and takes resolver definitions', async () => {
    const path = join(dir, 'v1.db')
    const db = new Database(path)
    db.exec(MIGRATIONS[0]?.up ?? '')
    db.pragma('user_version = 1')
    db.prepare("INSERT INTO settings (kind, name, value) VALUES ('realm', 'corp', '{\"default\":true}')").run()
    db.close()
    const store = createSqliteStore({ path })
    await store.open()
    try {
      assert.equal(await store.settings.get('realm', 'corp'), '{"default":true}')
      await store.settings.put('resolver', 'staff', '{}')
      assert.equal(await store.settings.get('resolver', 'staff'), '{}')
    } finally {
      await store.close()
    }
  })
})

describe('stored secrets that do not decrypt', () => {
  it('do not stop the engine: only that resolver fails, saying why', async () => {
    const store = createMemoryStore()
    const definition = { name: 'corp', type: 'ldap' as const, params: ldapParams() }
    await store.settings.put('resolver', 'corp', encodeResolver(definition, 'local', Secrets.ephemeral()))
    await store.settings.put('realm', 'corp', '{"default":true,"resolvers":["corp"]}')
    const otp = await createSmsOtp({ store, secrets: Secrets.ephemeral() })
    try {
      assert.equal(otp.resolvers.get('corp')?.type, 'ldap')
      await assert.rejects(otp.users.find('alice'), (err: unknown) => isOtpError(err, 'ERR_OTP_DIRECTORY') && /cannot be decrypted/.test((err as Error).message))
    } finally {
      await otp.close()
    }
  })
})

describe('key rotation support', () => {
  it('resealResolver moves BINDPW from the old key to the new one, once', () => {
    const from = Secrets.ephemeral()
    const to = Secrets.ephemeral()
    const stored = encodeResolver({ name: 'corp', type: 'ldap', params: ldapParams() }, 'admin', from)
    const moved = resealResolver('corp', stored, from, to)
    assert.ok(moved !== undefined && !moved.includes(BIND_SECRET))
    assert.equal(decodeResolver('corp', moved, to).definition.params.BINDPW, BIND_SECRET)
    assert.equal(decodeResolver('corp', moved, to).origin, 'admin')
    assert.equal(resealResolver('corp', moved, from, to), undefined, 'already under the new key')
    assert.throws(() => resealResolver('corp', stored, Secrets.ephemeral(), to), (err: unknown) => isOtpError(err, 'ERR_OTP_CRYPTO'))
  })
})
