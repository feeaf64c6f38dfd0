/** User resolvers without LDAP: sha512-crypt, the file resolver, the function resolver, realms. */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { after, describe, test } from 'node:test'
import bcrypt from 'bcryptjs'
import { createRealms, escapeFilterValue, fileResolver, functionResolver, sha512Crypt, verifyHash, type UserResolver } from '../src/users/index.js'

const dir = mkdtempSync(join(tmpdir(), 'sms-otp-users-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const file = (name: string, text: string) => {
  const path = join(dir, `${n++}-${name}`)
  writeFileSync(path, text)
  return path
}
const coded = (code: string, pattern?: RegExp) => (err: unknown) => (err as { code?: string }).code === code && (pattern === undefined || pattern.test((err as Error).message))

describe('sha512-crypt (Drepper spec vectors, glibc/openssl cross-check)', () => {
  // From "Unix crypt using SHA-256 and SHA-512" (Ulrich Drepper), the SHA-512 test vectors.
  const vectors: Array<[string, string, string]> = [
    ['$6$saltstring', 'Hello world!', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
    ['$6$rounds=10000$saltstringsaltstring', 'Hello world!', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'],
    ['$6$rounds=5000$toolongsaltstring', 'This is just a test', '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0'],
    ['$6$rounds=1400$anotherlongsaltstring', 'a very much longer text to encrypt.  This one even stretches over morethan one line.', '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1'],
    ['$6$rounds=77777$short', 'we have a short salt string but not a short password', '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0'],
    ['$6$rounds=123456$asaltof16chars..', 'a short string', '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1'],
  ]
  for (const [setting, password, expected] of vectors) {
    test(`${setting}`, async () => {
      assert.equal(sha512Crypt(password, setting), expected)
      assert.equal(await verifyHash(password, expected), true)
      assert.equal(await verifyHash(`${password}x`, expected), false)
    })
  }

  test('rounds below 1000 are clamped to 1000 (as glibc)', () => {
    assert.match(sha512Crypt('x', '$6$rounds=10$salt'), /^\$6\$rounds=1000\$salt\$/)
  })

  test('matches openssl passwd -6 (UTF-8, long password)', { skip: hasOpenssl() ? false : 'no openssl' }, () => {
    const pw = 'pässwörd-'.repeat(12)
    const expected = execFileSync('openssl', ['passwd', '-6', '-salt', 'x.y/Z9ab', pw], { encoding: 'utf8' }).trim()
    assert.equal(sha512Crypt(pw, '$6$x.y/Z9ab'), expected)
  })
})

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('file resolver', () => {
  const aliceHash = bcrypt.hashSync('alice-password', 4)
  const bobHash = sha512Crypt('bob-password', '$6$rounds=5000$bobsalt')

  test('JSON: bcrypt and sha512-crypt users, attributes, right/wrong/empty password, unknown user', async () => {
    const path = file('users.json', JSON.stringify([
      { login: 'alice', password: aliceHash, mobile: '+4915112345678', email: 'alice@example.org' },
      { login: 'bob', password: bobHash, email: 'bob@example.org' },
    ]))
    const r = fileResolver({ name: 'local', path })
    assert.deepEqual(await r.find('alice', 'home'), { login: 'alice', realm: 'home', resolver: 'local', attributes: { mobile: '+4915112345678', email: 'alice@example.org' } })
    assert.equal((await r.find('bob', 'home'))?.attributes.mobile, undefined)
    assert.equal(await r.find('carol', 'home'), undefined)
    assert.equal(await r.checkPassword('alice', 'alice-password'), true)
    assert.equal(await r.checkPassword('alice', 'bob-password'), false)
    assert.equal(await r.checkPassword('bob', 'bob-password'), true)
    assert.equal(await r.checkPassword('bob', ''), false)
    assert.equal(await r.checkPassword('carol', 'alice-password'), false)
  })

  test('passwd-style lines: login:hash:mobile:email:name, comments and blank lines', async () => {
    const path = file('users', `# sms-otp users\n\nalice:${aliceHash}:+4915112345678:alice@example.org:Alice Example\nbob:${bobHash}\n`)
    const r = fileResolver({ name: 'local', path })
    assert.deepEqual((await r.find('alice', 'r'))?.attributes, { mobile: '+4915112345678', email: 'alice@example.org', name: 'Alice Example' })
    assert.deepEqual((await r.find('bob', 'r'))?.attributes, {})
    assert.equal(await r.checkPassword('bob', 'bob-password'), true)
  })

  test('a malformed file is a clear error naming the line', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['users', `alice:${aliceHash}\nbob\n`, /line 2: expected login:hash/],
      ['users', `# x\nalice:${aliceHash}:+49:a@b:A:extra\n`, /line 2: expected login:hash/],
      ['users', `alice:alice-password\n`, /line 1: the password of 'alice' is not a bcrypt .* plaintext passwords are refused/],
      ['users.json', `[\n {"login": "alice", "password": "${aliceHash}"},\n {"login": "bob" "password": 1}\n]`, /line 3 column \d+: not valid JSON: /],
      ['users.json', JSON.stringify([{ login: 'alice', password: 'secret' }]), /entry 1: .*plaintext passwords are refused/],
      ['users.json', JSON.stringify([{ login: 'alice', password: aliceHash, mobile: 49151 }]), /entry 1: attribute 'mobile' must be a string/],
      ['users.json', JSON.stringify({ alice: aliceHash }), /expected a JSON array/],
      ['users', `alice:${aliceHash}\nalice:${bobHash}\n`, /login 'alice' appears twice/],
    ]
    for (const [name, text, pattern] of cases) {
      const path = file(name, text)
      await assert.rejects(fileResolver({ name: 'local', path }).find('alice', 'r'), coded('ERR_OTP_INVALID_CONFIG', pattern), pattern.source)
    }
  })

  test('a missing file is ERR_OTP_DIRECTORY, not "no such user"', async () => {
    const r = fileResolver({ name: 'local', path: join(dir, 'missing.json') })
    await assert.rejects(r.find('alice', 'r'), coded('ERR_OTP_DIRECTORY'))
    await assert.rejects(r.checkPassword('alice', 'x'), coded('ERR_OTP_DIRECTORY'))
  })

  test('the file is read again when it changes', async () => {
    const path = file('users', `alice:${aliceHash}:+4915100000001\n`)
    const r = fileResolver({ name: 'local', path })
    assert.equal((await r.find('alice', 'r'))?.attributes.mobile, '+4915100000001')
    writeFileSync(path, `alice:${aliceHash}:+4915100000002\nbob:${bobHash}\n`)
    utimesSync(path, new Date(), new Date(Date.now() + 5000))
    assert.equal((await r.find('alice', 'r'))?.attributes.mobile, '+4915100000002')
    assert.ok(await r.find('bob', 'r'))
  })

  test('threat: user enumeration by timing — an unknown login costs a real hash check', async () => {
    // Cost 10: a check takes tens of ms; without the dummy an unknown login answers in microseconds.
    const path = file('users.json', JSON.stringify([{ login: 'alice', password: bcrypt.hashSync('alice-password', 10) }]))
    const r = fileResolver({ name: 'local', path })
    await r.find('alice', 'r') // load (and make the dummy) outside the measurement
    const time = async (login: string) => {
      let best = Infinity
      for (let i = 0; i < 3; i++) {
        const t = performance.now()
        assert.equal(await r.checkPassword(login, 'wrong-password'), false)
        best = Math.min(best, performance.now() - t)
      }
      return best
    }
    const known = await time('alice')
    const unknown = await time('nobody')
    assert.ok(unknown >= known * 0.3, `unknown login took ${unknown.toFixed(1)} ms, known ${known.toFixed(1)} ms`)
  })

  test('bad options fail at construction with a coded TypeError, without I/O', () => {
    for (const bad of [{}, { name: 'x' }, { name: 'bad name', path: '/x' }, { name: 'x', path: '/x', format: 'csv' }, { name: 'x', path: '/x', extra: 1 }]) {
      assert.throws(() => fileResolver(bad as never), coded('ERR_OTP_INVALID_OPTION'))
    }
    assert.doesNotThrow(() => fileResolver({ name: 'x', path: join(dir, 'does-not-exist-yet') }))
  })
})

describe('function resolver', () => {
  const seen: string[] = []
  const app = functionResolver({
    name: 'app',
    find: async (login) => (login.toLowerCase() === 'alice' ? { login: 'alice', attributes: { mobile: '+4915112345678' } } : undefined),
    checkPassword: async (login, password) => {
      seen.push(password)
      return login === 'alice' && password === 'alice-password'
    },
  })

  test('find and checkPassword go to the host; realm and resolver are filled in', async () => {
    assert.deepEqual(await app.find('ALICE', 'web'), { login: 'alice', realm: 'web', resolver: 'app', attributes: { mobile: '+4915112345678' } })
    assert.equal(await app.find('bob', 'web'), undefined)
    assert.equal(await app.checkPassword('alice', 'alice-password'), true)
    assert.equal(await app.checkPassword('alice', 'nope'), false)
  })

  test('an empty password never reaches the host and is false', async () => {
    seen.length = 0
    assert.equal(await app.checkPassword('alice', ''), false)
    assert.deepEqual(seen, [])
  })

  test('a host failure is ERR_OTP_DIRECTORY; no checkPassword means every check is false', async () => {
    const broken = functionResolver({ name: 'b', find: async () => { throw new Error('db down') }, checkPassword: async () => { throw new Error('db down') } })
    await assert.rejects(broken.find('alice', 'r'), coded('ERR_OTP_DIRECTORY'))
    await assert.rejects(broken.checkPassword('alice', 'x'), coded('ERR_OTP_DIRECTORY'))
    const oidc = functionResolver({ name: 'oidc', find: async () => ({}) })
    assert.equal(await oidc.checkPassword('alice', 'anything'), false)
  })

  test('bad options fail at construction with a coded TypeError', () => {
    assert.throws(() => functionResolver({ name: 'x' } as never), coded('ERR_OTP_INVALID_OPTION', /functionResolver\.find/))
    assert.throws(() => functionResolver({ name: '', find: async () => undefined }), coded('ERR_OTP_INVALID_OPTION'))
  })
})

describe('realms', () => {
  const make = (name: string, logins: string[], mobile: string): UserResolver => functionResolver({
    name,
    find: async (login) => (logins.includes(login) ? { attributes: { mobile } } : undefined),
    checkPassword: async (login, password) => logins.includes(login) && password === `${name}-pw`,
  })
  const first = make('first', ['alice'], '+491')
  const second = make('second', ['alice', 'bob'], '+492')
  const users = createRealms({ realms: { Corp: [first, second], other: [second] }, defaultRealm: 'CORP' })

  test('the first resolver that knows the login wins; realm names are case-insensitive', async () => {
    assert.deepEqual(users.realms, ['corp', 'other'])
    assert.equal((await users.find('alice'))?.resolver, 'first')
    assert.equal((await users.find('alice', 'Other'))?.resolver, 'second')
    assert.equal((await users.find('bob', 'corp'))?.attributes.mobile, '+492')
    assert.equal((await users.find('bob', 'corp'))?.realm, 'corp')
    assert.equal(await users.find('carol'), undefined)
    assert.equal(await users.find('alice', 'nowhere'), undefined)
  })

  test('checkPassword asks the resolver that knows the login', async () => {
    assert.equal(await users.checkPassword('alice', 'first-pw'), true)
    assert.equal(await users.checkPassword('alice', 'second-pw'), false)
    assert.equal(await users.checkPassword('alice', 'second-pw', 'other'), true)
    assert.equal(await users.checkPassword('carol', 'first-pw'), false)
  })

  test('bad realm tables fail at construction with a coded TypeError', () => {
    for (const bad of [{ realms: { a: [] } }, { realms: { 'bad realm': [first] } }, { realms: { a: [first], A: [second] } }, { realms: { a: [first] }, defaultRealm: 'b' }, { realms: { a: [{}] } }]) {
      assert.throws(() => createRealms(bad as never), coded('ERR_OTP_INVALID_OPTION'))
    }
  })
})

test('RFC 4515 escaping of filter values', () => {
  assert.equal(escapeFilterValue('*)(uid=*'), '\\2a\\29\\28uid=\\2a')
  assert.equal(escapeFilterValue('a\\b\u0000c'), 'a\\5cb\\00c')
  assert.equal(escapeFilterValue('jürgen.o-k'), 'jürgen.o-k')
})
