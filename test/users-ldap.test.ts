/** The LDAP resolver against a real OpenLDAP slapd on loopback. */
import assert from 'node:assert/strict'
import { connect, createServer, type Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { isOtpError } from '../src/errors.js'
import { createSmsOtp } from '../src/sms-otp.js'
import { createRealms, fileResolver, ldapResolver, type LdapResolverOptions } from '../src/users/index.js'
import { SERVICE_DN, SERVICE_PW, SUFFIX, slapdSkip, startSlapd, type Slapd } from './helpers/slapd.js'
import { createTestPki, type TestPki } from './helpers/tls.js'

const people = `ou=people,${SUFFIX}`
const LDIF = `dn: uid=alice,${people}
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Example
mobile: +4915112345678
mail: alice@example.org
userPassword: alice-password

dn: uid=bob,${people}
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Example
mail: bob@example.org
userPassword: bob-password

dn: uid=carol,${people}
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: Example
mobile: +4915100000003
userPassword: carol-password
`

describe('LDAP resolver (real slapd)', { skip: slapdSkip }, () => {
  let slapd: Slapd
  let pki: TestPki
  const made: Array<{ close(): Promise<void> }> = []
  const resolver = (extra: Partial<LdapResolverOptions> = {}) => {
    const r = ldapResolver({ name: 'corp', url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PW, searchBase: people, timeoutMs: 3000, ...extra })
    made.push(r)
    return r
  }

  before(async () => {
    pki = createTestPki()
    slapd = await startSlapd({ ldif: LDIF, tls: { certPath: pki.serverCertPath, keyPath: pki.serverKeyPath } })
  })
  after(async () => {
    await Promise.all(made.map((r) => r.close()))
    await slapd?.stop()
    pki?.cleanup()
  })

  test('finds a user by login, with mobile and email mapped', async () => {
    const user = await resolver().find('alice', 'corp')
    assert.deepEqual(user, { login: 'alice', realm: 'corp', resolver: 'corp', attributes: { mobile: '+4915112345678', email: 'alice@example.org' } })
  })

  test('a user without mobile is found, without mobile', async () => {
    const user = await resolver({ attributes: { mobile: 'mobile', email: 'mail' } }).find('bob', 'corp')
    assert.equal(user?.login, 'bob')
    assert.equal(user?.attributes.mobile, undefined)
    assert.equal(user?.attributes.email, 'bob@example.org')
  })

  test('an unknown login is undefined, not an error', async () => {
    assert.equal(await resolver().find('mallory', 'corp'), undefined)
  })

  test('password check: right, wrong, unknown user', async () => {
    const r = resolver()
    assert.equal(await r.checkPassword('alice', 'alice-password'), true)
    assert.equal(await r.checkPassword('alice', 'bob-password'), false)
    assert.equal(await r.checkPassword('mallory', 'alice-password'), false)
  })

  test('threat: empty password would be an anonymous bind that succeeds — refused', async () => {
    const r = resolver()
    assert.equal(await r.checkPassword('alice', ''), false)
  })

  test('threat: LDAP filter injection — `*)(uid=*` and `*` find nobody and authenticate nobody', async () => {
    const r = resolver()
    assert.equal(await r.find('*)(uid=*', 'corp'), undefined)
    assert.equal(await r.find('*', 'corp'), undefined)
    assert.equal(await r.find('al*', 'corp'), undefined)
    assert.equal(await r.checkPassword('*', 'alice-password'), false)
    assert.equal(await r.checkPassword('alice)(|(uid=*', 'alice-password'), false)
  })

  test('a wrong service bind password → ERR_OTP_DIRECTORY (503), not "no such user"', async () => {
    const r = resolver({ bindPassword: 'wrong' })
    await assert.rejects(r.find('alice', 'corp'), (err: unknown) => isOtpError(err, 'ERR_OTP_DIRECTORY') && err.status === 503 && /service bind was refused/.test(err.message))
    await assert.rejects(r.checkPassword('alice', 'alice-password'), (err: unknown) => isOtpError(err, 'ERR_OTP_DIRECTORY'))
  })

  test('an unreachable server → ERR_OTP_DIRECTORY within the timeout', async () => {
    // A port that accepts TCP but never speaks LDAP: the operation deadline must end it.
    const silent = createServer(() => undefined)
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    try {
      const r = resolver({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 500 })
      await assert.rejects(r.find('alice', 'corp'), (err: unknown) => isOtpError(err, 'ERR_OTP_DIRECTORY'))
    } finally {
      silent.close()
    }
    // And a closed port.
    const closed = resolver({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 500 })
    await assert.rejects(closed.find('alice', 'corp'), (err: unknown) => isOtpError(err, 'ERR_OTP_DIRECTORY'))
  })

  test('connection reuse: many finds, one service bind', async () => {
    await slapd.quiet()
    const before = slapd.binds(SERVICE_DN)
    const r = resolver()
    for (let i = 0; i < 20; i++) assert.equal((await r.find(i % 2 ? 'alice' : 'carol', 'corp'))?.resolver, 'corp')
    await Promise.all(Array.from({ length: 10 }, () => r.find('alice', 'corp')))
    await slapd.quiet()
    assert.equal(slapd.binds(SERVICE_DN) - before, 1)
  })

  test('reconnects (and binds again) after the service connection is closed', async () => {
    const r = resolver()
    assert.ok(await r.find('alice', 'corp'))
    await slapd.quiet()
    const before = slapd.binds(SERVICE_DN)
    await r.close()
    assert.ok(await r.find('alice', 'corp'))
    await slapd.quiet()
    assert.equal(slapd.binds(SERVICE_DN) - before, 1)
  })

  test('reconnects after the server side drops the service connection', async () => {
    // A TCP forwarder in front of slapd whose connections the test can cut.
    const sockets = new Set<Socket>()
    const fwd = createServer((inbound) => {
      const outbound = connect(slapd.port, '127.0.0.1')
      for (const s of [inbound, outbound]) {
        sockets.add(s)
        s.on('error', () => undefined)
        s.on('close', () => sockets.delete(s))
      }
      inbound.pipe(outbound).pipe(inbound)
    })
    await new Promise<void>((resolve) => fwd.listen(0, '127.0.0.1', resolve))
    try {
      const r = resolver({ url: `ldap://127.0.0.1:${(fwd.address() as { port: number }).port}` })
      assert.ok(await r.find('alice', 'corp'))
      await slapd.quiet()
    const before = slapd.binds(SERVICE_DN)
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => setTimeout(resolve, 50))
      assert.equal((await r.find('carol', 'corp'))?.login, 'carol')
      await slapd.quiet()
    assert.equal(slapd.binds(SERVICE_DN) - before, 1)
      await r.close()
    } finally {
      for (const s of sockets) s.destroy()
      fwd.close()
    }
  })

  test('threat: user enumeration by timing — an unknown login still costs a bind', async () => {
    const r = resolver()
    const binds = () => (slapd.log().match(/ BIND dn="uid=[^"]*,ou=people,dc=example,dc=org" method=/g) ?? []).length
    await slapd.quiet()
    let before = binds()
    assert.equal(await r.checkPassword('alice', 'wrong'), false)
    await slapd.quiet()
    assert.equal(binds() - before, 1)
    before = binds()
    assert.equal(await r.checkPassword('mallory', 'wrong'), false)
    await slapd.quiet()
    assert.equal(binds() - before, 1)
  })

  test('StartTLS with a CA file', async () => {
    const r = resolver({ startTls: true, caFile: pki.caCertPath, servername: 'localhost' })
    assert.equal((await r.find('alice', 'corp'))?.attributes.mobile, '+4915112345678')
    assert.equal(await r.checkPassword('alice', 'alice-password'), true)
  })

  test('LDAPS with a CA file; an untrusted certificate is a directory error', async () => {
    const r = resolver({ url: slapd.ldapsUrl ?? '', caFile: pki.caCertPath, servername: 'localhost' })
    assert.equal(await r.checkPassword('carol', 'carol-password'), true)
    const untrusted = resolver({ url: slapd.ldapsUrl ?? '', servername: 'localhost' })
    await assert.rejects(untrusted.find('alice', 'corp'), (err: unknown) => isOtpError(err, 'ERR_OTP_DIRECTORY'))
  })

  test('realms: LDAP first, then a file; the first resolver that knows the login wins', async () => {
    const users = createRealms({ realms: { Corp: [resolver(), fileResolver({ name: 'local', path: '/nonexistent/users.json' })] } })
    assert.equal(users.defaultRealm, 'corp')
    assert.equal((await users.find('alice'))?.resolver, 'corp')
    assert.equal(await users.checkPassword('alice', 'alice-password'), true)
    // Not in LDAP → the file is asked, and its absence is a directory error, not "no such user".
    await assert.rejects(users.find('mallory'), (err: unknown) => isOtpError(err, 'ERR_OTP_DIRECTORY'))
  })

  test('createSmsOtp({ users }) exposes the realms as otp.users, and close() closes the connection', async () => {
    const otp = await createSmsOtp({ users: { realms: { corp: [ldapResolver({ name: 'corp', url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PW, searchBase: people })] } } })
    try {
      assert.equal((await otp.users.find('alice'))?.attributes.mobile, '+4915112345678')
      assert.equal(await otp.users.checkPassword('alice', 'alice-password'), true)
      assert.equal(await otp.users.checkPassword('alice', ''), false)
    } finally {
      await otp.close()
    }
    await assert.rejects(createSmsOtp({ users: { realms: { corp: [] } } }), (err: unknown) => (err as { code?: string }).code === 'ERR_OTP_INVALID_OPTION')
  })

  test('bad options fail at construction with a coded TypeError', () => {
    const base = { name: 'x', url: 'ldap://127.0.0.1', bindDn: SERVICE_DN, bindPassword: 'p', searchBase: people }
    for (const bad of [{ url: 'http://x' }, { bindPassword: '' }, { searchFilter: '(uid=alice)' }, { timeoutMs: 5 }, { unknown: 1 }]) {
      assert.throws(() => ldapResolver({ ...base, ...bad } as LdapResolverOptions), (err: unknown) => err instanceof TypeError && (err as { code?: string }).code === 'ERR_OTP_INVALID_OPTION')
    }
  })
})
