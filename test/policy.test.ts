import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, OtpError } from '../src/errors.js'
import type { Logger } from '../src/logger.js'
import { PolicyEngine, parsePolicy, type PolicyQuery, type PolicyRecord } from '../src/policy/index.js'

/** A policy with LinOTP's defaults; only what a row cares about is spelled out. */
function P(name: string, fields: Partial<PolicyRecord> = {}): PolicyRecord {
  return { name, scope: 'authentication', action: 'autosms', user: '*', realm: '*', client: '*', time: '', active: true, ...fields }
}

/** A logger that records warnings. */
function recordingLogger(): Logger & { warnings: object[] } {
  const warnings: object[] = []
  const logger = {
    warnings,
    debug() {},
    info() {},
    warn(obj: object) {
      warnings.push(obj)
    },
    error() {},
    child: () => logger,
  }
  return logger
}

// Local server time (time conditions are evaluated in local time).
const MONDAY_1030 = new Date(2024, 0, 15, 10, 30) // Mon 15 Jan 2024 10:30
const SUNDAY_1200 = new Date(2024, 0, 14, 12, 0) // Sun 14 Jan 2024 12:00

type Query = Partial<PolicyQuery>
type Row =
  | { name: string; policies: PolicyRecord[]; query: Query; action?: string; kind: 'match'; expect: string[] }
  | { name: string; policies: PolicyRecord[]; query: Query; action: string; kind: 'value'; expect: unknown; warns?: number }
  | { name: string; policies: PolicyRecord[]; query: Query; action: string; kind: 'bool'; expect: boolean }
  | { name: string; policies: PolicyRecord[]; query: Query; action: string; kind: 'string'; expect: string | undefined }
  | { name: string; policies: PolicyRecord[]; query: Query; kind: 'providers'; expect: string[] | undefined }
  | { name: string; policies: PolicyRecord[]; query: Query; kind: 'otppin'; expect: string | RegExp }
  | { name: string; policies: PolicyRecord[]; provider: string; kind: 'using'; expect: string[] }

const bob: Query = { user: 'bob', realm: 'realm1', client: '10.0.0.1' }

const rows: Row[] = [
  // --- users: wildcards, exclusions, case, name@realm, precision
  { name: 'user * matches any login, a named user does not', policies: [P('A'), P('B', { user: 'alice' })], query: bob, kind: 'match', expect: ['A'] },
  { name: 'user pattern b* matches bob only', policies: [P('A', { user: 'b*' }), P('B', { user: 'al*' })], query: bob, kind: 'match', expect: ['A'] },
  { name: 'exclusion !bob rejects the policy outright', policies: [P('A', { user: '*, !bob' }), P('B')], query: bob, kind: 'match', expect: ['B'] },
  { name: 'exclusion -bob works like !bob', policies: [P('A', { user: '*,-bob' }), P('B')], query: bob, kind: 'match', expect: ['B'] },
  { name: 'exclusion of another user leaves the policy', policies: [P('A', { user: '*, !bob' }), P('B', { user: 'carol' })], query: { user: 'alice' }, kind: 'match', expect: ['A'] },
  { name: 'exclusion-only list matches nobody', policies: [P('A', { user: '!bob' }), P('B', { user: 'x*' })], query: { user: 'alice' }, kind: 'match', expect: [] },
  { name: 'users are case-sensitive (Bob is not bob)', policies: [P('A', { user: 'Bob' }), P('B')], query: bob, kind: 'match', expect: ['B'] },
  { name: 'users are case-sensitive (Bob matches Bob)', policies: [P('A', { user: 'Bob' }), P('B')], query: { ...bob, user: 'Bob' }, kind: 'match', expect: ['A'] },
  { name: 'name@realm picks the realm', policies: [P('A', { user: 'bob@realm1' }), P('B', { user: 'bob@realm2' })], query: bob, kind: 'match', expect: ['A'] },
  { name: 'name@REALM: realm part is case-insensitive', policies: [P('A', { user: 'bob@REALM1' }), P('B', { user: 'bob@realm2' })], query: { user: 'bob', realm: 'Realm1' }, kind: 'match', expect: ['A'] },
  { name: '*@realm matches every user of that realm', policies: [P('A', { user: '*@realm1' }), P('B', { user: '*@realm2' })], query: { user: 'carol', realm: 'realm1' }, kind: 'match', expect: ['A'] },
  { name: 'precision: exact beats pattern', policies: [P('A', { user: 'b*' }), P('B', { user: 'bob' })], query: bob, kind: 'match', expect: ['B'] },
  { name: 'precision: pattern beats *', policies: [P('A'), P('B', { user: 'b*' })], query: bob, kind: 'match', expect: ['B'] },
  { name: 'precision: all exact matches stay, in config order', policies: [P('A', { user: 'bob' }), P('B'), P('C', { user: 'alice, bob' })], query: bob, kind: 'match', expect: ['A', 'C'] },
  { name: 'precision: bob@realm1 (exact) beats *@realm1 (pattern)', policies: [P('A', { user: '*@realm1' }), P('B', { user: 'bob@realm1' })], query: bob, kind: 'match', expect: ['B'] },
  { name: 'wildcards do not enable regex syntax (bob. is literal)', policies: [P('A', { user: 'bob.' }), P('B', { user: 'x*' })], query: { user: 'bobX' }, kind: 'match', expect: [] },
  { name: 'a literal dot still matches itself', policies: [P('A', { user: 'bob.' }), P('B')], query: { user: 'bob.' }, kind: 'match', expect: ['A'] },
  // --- realms
  { name: 'realms are case-insensitive', policies: [P('A', { realm: 'Realm1' }), P('B', { realm: 'realm2' })], query: { realm: 'REALM1' }, kind: 'match', expect: ['A'] },
  { name: 'realm: exact beats *', policies: [P('A'), P('B', { realm: 'realm1' })], query: bob, kind: 'match', expect: ['B'] },
  { name: 'realm: * applies when no exact realm matches', policies: [P('A'), P('B', { realm: 'realm2' })], query: bob, kind: 'match', expect: ['A'] },
  { name: 'realm exclusion wins even next to *', policies: [P('A', { realm: '*, !realm1' }), P('B', { realm: 'realm9, *' })], query: bob, kind: 'match', expect: ['B'] },
  { name: 'narrowing order: user precision decides before realm', policies: [P('A', { user: 'bob' }), P('B', { realm: 'realm1' })], query: bob, kind: 'match', expect: ['A'] },
  // --- clients
  { name: 'IPv4 address', policies: [P('A', { client: '10.0.0.1' }), P('B', { client: '10.0.0.2' })], query: bob, kind: 'match', expect: ['A'] },
  { name: 'IPv4 CIDR', policies: [P('A', { client: '192.168.0.0/16' }), P('B', { client: '10.0.0.0/8' })], query: { client: '192.168.3.4' }, kind: 'match', expect: ['A'] },
  { name: 'address inside a network is exact and beats *', policies: [P('A'), P('B', { client: '172.16.200.0/24' })], query: { client: '172.16.200.9' }, kind: 'match', expect: ['B'] },
  { name: 'address outside the network falls back to *', policies: [P('A'), P('B', { client: '172.16.200.0/24' })], query: { client: '8.8.8.8' }, kind: 'match', expect: ['A'] },
  { name: 'IPv6 address in another spelling', policies: [P('A', { client: '2001:db8::1' }), P('B', { client: '2001:db8::2' })], query: { client: '2001:0DB8:0:0:0:0:0:1' }, kind: 'match', expect: ['A'] },
  { name: 'IPv6 CIDR', policies: [P('A', { client: '2001:db8::/32' }), P('B', { client: 'fd00::/8' })], query: { client: '2001:db8:1::5' }, kind: 'match', expect: ['A'] },
  { name: 'IPv4-mapped IPv6 client matches an IPv4 rule', policies: [P('A', { client: '10.0.0.0/8' }), P('B')], query: { client: '::ffff:10.1.2.3' }, kind: 'match', expect: ['A'] },
  { name: 'IPv4-mapped IPv6 in hex form matches too', policies: [P('A', { client: '10.0.0.0/8' }), P('B', { client: '11.0.0.0/8' })], query: { client: '::ffff:a01:203' }, kind: 'match', expect: ['A'] },
  { name: 'client exclusion inside a network', policies: [P('A', { client: '10.0.0.0/8, !10.0.0.5' }), P('B')], query: { client: '10.0.0.5' }, kind: 'match', expect: ['B'] },
  { name: 'client exclusion wins next to *', policies: [P('A', { client: '*, -10.0.0.5' }), P('B', { client: '10.0.0.6' })], query: { client: '10.0.0.5' }, kind: 'match', expect: [] },
  { name: 'unknown client matches only * (exclusions not triggered)', policies: [P('A', { client: '10.0.0.0/8' }), P('B', { client: '*, !10.0.0.5' })], query: { user: 'bob' }, kind: 'match', expect: ['B'] },
  { name: 'a client that is not an IP address is unknown', policies: [P('A', { client: '10.0.0.0/8' }), P('B', { client: '*, !10.0.0.5' })], query: { client: 'localhost' }, kind: 'match', expect: ['B'] },
  // --- time
  { name: 'time: inside working hours', policies: [P('A', { time: '* 8-17 * * 1-5 *' }), P('B', { time: '* 18-23 * * * *' })], query: { now: MONDAY_1030 }, kind: 'match', expect: ['A'] },
  { name: 'time: outside working hours (Sunday)', policies: [P('A', { time: '* 8-17 * * 1-5 *' }), P('B')], query: { now: SUNDAY_1200 }, kind: 'match', expect: ['B'] },
  { name: 'time: month and weekday names', policies: [P('A', { time: '* * * jan mon *' }), P('B', { time: '* * * feb * *' })], query: { now: MONDAY_1030 }, kind: 'match', expect: ['A'] },
  { name: 'time: any of several ;-separated conditions', policies: [P('A', { time: '0-10 * * * * *; 30 10 * * * 2024' }), P('B', { time: '0 0 1 1 * 2000' })], query: { now: MONDAY_1030 }, kind: 'match', expect: ['A'] },
  { name: 'time: day of week 7 is Sunday', policies: [P('A', { time: '* * * * 7 *' }), P('B', { time: '* * * * 1 *' })], query: { now: SUNDAY_1200 }, kind: 'match', expect: ['A'] },
  { name: 'time: steps and lists', policies: [P('A', { time: '*/15 10,11 * * * *' }), P('B', { time: '*/7 * * * * *' })], query: { now: MONDAY_1030 }, kind: 'match', expect: ['A'] },
  { name: 'time: an exclusion condition beats *', policies: [P('A', { time: '*; !* 12 * * sun *' }), P('B', { time: '* 12 * * * *' })], query: { now: SUNDAY_1200 }, kind: 'match', expect: ['B'] },
  // --- active, scope, action filter
  { name: 'inactive policies never match', policies: [P('A', { user: 'bob', active: false }), P('B')], query: bob, kind: 'match', expect: ['B'] },
  { name: 'scopes are separate', policies: [P('A', { scope: 'authorization', action: 'detail_on_fail', user: 'bob' }), P('B', { action: '*', user: 'bob' })], query: { ...bob, scope: 'authorization' }, action: 'detail_on_fail', kind: 'match', expect: ['A'] },
  { name: 'action * matches every action filter', policies: [P('A', { action: '*' }), P('B', { action: 'smstext=x' })], query: bob, action: 'autosms', kind: 'match', expect: ['A'] },
  { name: 'policies without the action are not candidates', policies: [P('A', { action: 'trigger_sms', user: 'bob' }), P('B', { action: 'autosms' })], query: bob, action: 'autosms', kind: 'match', expect: ['B'] },
  // --- queries without a user (check_s pseudo-user)
  { name: 'no user: *@realm (pattern) beats *, a named user never matches', policies: [P('A'), P('B', { user: 'bob' }), P('C', { user: '*@realm1' })], query: { realm: 'realm1' }, kind: 'match', expect: ['C'] },
  { name: 'no user: exclusions of logins are not triggered', policies: [P('A', { user: '*, !bob' }), P('B', { user: 'bob' })], query: { realm: 'realm1' }, kind: 'match', expect: ['A'] },
  { name: 'no user: *@realm needs the realm', policies: [P('A', { user: '*@realm2' }), P('B')], query: { realm: 'realm1' }, kind: 'match', expect: ['B'] },
  { name: 'empty login is no user', policies: [P('A', { user: 'b*' }), P('B')], query: { user: '', realm: 'realm1' }, kind: 'match', expect: ['B'] },
  // --- typed values
  { name: 'smsProviders: split on spaces and commas, empties dropped', policies: [P('A', { action: 'sms_provider=  one   two ,' })], query: bob, kind: 'providers', expect: ['one', 'two'] },
  { name: 'smsProviders: undefined when no policy applies', policies: [P('A', { action: 'sms_provider=one', user: 'alice' })], query: bob, kind: 'providers', expect: undefined },
  { name: 'smsProviders: order kept, most precise policy chosen', policies: [P('A', { action: 'sms_provider=a b' }), P('B', { action: 'sms_provider="c, a"', user: 'bob' })], query: bob, kind: 'providers', expect: ['c', 'a'] },
  { name: 'smsProviders: an action=* policy names no provider', policies: [P('A', { action: '*', user: 'bob' }), P('B', { action: 'sms_provider=x' })], query: bob, kind: 'providers', expect: undefined },
  { name: 'conflicting values: first in config order wins, with a warning', policies: [P('A', { action: 'smstext=first <otp>' }), P('B', { action: 'smstext=second <otp>' })], query: bob, action: 'smstext', kind: 'value', expect: { value: 'first <otp>', policy: 'A' }, warns: 1 },
  { name: 'equal values do not warn', policies: [P('A', { action: 'autosms' }), P('B', { action: 'autosms=1' })], query: bob, action: 'autosms', kind: 'value', expect: { value: true, policy: 'A' }, warns: 0 },
  { name: 'otppin: default token_pin', policies: [P('A', { action: 'otppin=1', user: 'alice' })], query: bob, kind: 'otppin', expect: 'token_pin' },
  { name: 'otppin: 1 and password are the same mode', policies: [P('A', { action: 'otppin=1' }), P('B', { action: 'otppin=password' })], query: bob, kind: 'otppin', expect: 'password' },
  { name: 'otppin: different modes are an error', policies: [P('A', { action: 'otppin=1' }), P('B', { action: 'otppin=0' })], query: bob, kind: 'otppin', expect: /multiple pin policies found/ },
  { name: 'otppin: exact user policy shadows the * one (no conflict)', policies: [P('A', { action: 'otppin=2' }), P('B', { action: 'otppin=ignore_pin', user: 'bob' })], query: bob, kind: 'otppin', expect: 'ignore_pin' },
  { name: 'bool: !autosms is false', policies: [P('A', { action: '!autosms' })], query: bob, action: 'autosms', kind: 'value', expect: { value: false, policy: 'A' } },
  { name: 'bool: autosms=false is false', policies: [P('A', { action: 'autosms=false, trigger_sms' })], query: bob, action: 'autosms', kind: 'bool', expect: false },
  { name: 'bool: autosms=1 is true', policies: [P('A', { action: 'autosms=1' })], query: bob, action: 'autosms', kind: 'bool', expect: true },
  { name: 'bool: autosms=True is true', policies: [P('A', { action: 'autosms=True' })], query: bob, action: 'autosms', kind: 'bool', expect: true },
  { name: 'bool: false when no policy gives it', policies: [P('A', { action: 'trigger_sms' })], query: bob, action: 'autosms', kind: 'bool', expect: false },
  { name: 'bool: an action=* policy shadows a wider one and gives no value', policies: [P('A', { action: '*', user: 'bob' }), P('B')], query: bob, action: 'autosms', kind: 'bool', expect: false },
  { name: 'smstext in double quotes keeps its commas', policies: [P('A', { action: 'autosms, smstext="a, b <otp>", trigger_sms' })], query: bob, action: 'smstext', kind: 'string', expect: 'a, b <otp>' },
  { name: "smstext in single quotes keeps its commas", policies: [P('A', { action: "smstext='Code: <otp>, valid 2 min'" })], query: bob, action: 'smstext', kind: 'string', expect: 'Code: <otp>, valid 2 min' },
  { name: "an apostrophe inside an unquoted text is literal", policies: [P('A', { action: "smstext=don't share <otp>, autosms" })], query: bob, action: 'smstext', kind: 'string', expect: "don't share <otp>" },
  { name: 'policiesUsingProvider checks list membership', policies: [P('A', { action: 'sms_provider=one two' }), P('B', { action: 'sms_provider=onetwo' }), P('C', { action: "sms_provider='x,one'", active: false }), P('D', { action: 'autosms' })], provider: 'one', kind: 'using', expect: ['A', 'C'] },
]

function fullQuery(q: Query): PolicyQuery {
  return { scope: 'authentication', now: MONDAY_1030, ...q }
}

describe('policy matching table', () => {
  it('has at least 40 rows', () => assert.ok(rows.length >= 40, String(rows.length)))
  for (const row of rows) {
    it(row.name, () => {
      const logger = recordingLogger()
      const engine = new PolicyEngine(row.policies, { logger })
      switch (row.kind) {
        case 'match':
          assert.deepEqual(engine.match(fullQuery(row.query), row.action ?? 'autosms').map((m) => m.name), row.expect)
          break
        case 'value':
          assert.deepEqual(engine.value(fullQuery(row.query), row.action), row.expect)
          if (row.warns !== undefined) assert.equal(logger.warnings.length, row.warns)
          break
        case 'bool':
          assert.equal(engine.bool(fullQuery(row.query), row.action), row.expect)
          break
        case 'string':
          assert.equal(engine.string(fullQuery(row.query), row.action), row.expect)
          break
        case 'providers':
          assert.deepEqual(engine.smsProviders(fullQuery(row.query)), row.expect)
          break
        case 'otppin':
          if (row.expect instanceof RegExp) {
            const pattern = row.expect
            assert.throws(() => engine.otppin(fullQuery(row.query)), (e) => e instanceof OtpError && e.code === 'ERR_OTP_POLICY' && pattern.test(e.message))
          } else {
            assert.equal(engine.otppin(fullQuery(row.query)), row.expect)
          }
          break
        case 'using':
          assert.deepEqual(engine.policiesUsingProvider(row.provider), row.expect)
          break
      }
    })
  }
})

describe('policy parse errors (ConfigError ERR_OTP_POLICY naming policy and field)', () => {
  const cases: { name: string; policy: PolicyRecord; message: RegExp }[] = [
    { name: 'unknown action', policy: P('bad1', { action: 'autosms, sendsms' }), message: /policy 'bad1': action: unknown action 'sendsms' in scope 'authentication'/ },
    { name: 'action of another scope', policy: P('bad2', { action: 'detail_on_fail' }), message: /bad2.*unknown action 'detail_on_fail' in scope 'authentication'/ },
    { name: 'bad otppin value', policy: P('bad3', { action: 'otppin=4' }), message: /bad3.*action: otppin must be/ },
    { name: 'string action without a value', policy: P('bad5', { action: 'smstext' }), message: /bad5.*'smstext' expects a value/ },
    { name: 'unterminated quote', policy: P('bad6', { action: 'smstext="a, b' }), message: /bad6.*unterminated quote/ },
    { name: 'empty provider list', policy: P('bad7', { action: 'sms_provider= , ' }), message: /bad7.*sms_provider names no provider/ },
    { name: 'empty action', policy: P('bad8', { action: ' , ' }), message: /bad8.*no action given/ },
    { name: 'bad CIDR address', policy: P('bad9', { client: '10.0.0.300/24' }), message: /bad9.*client: '10\.0\.0\.300\/24' is not an IP address/ },
    { name: 'bad CIDR prefix', policy: P('bad10', { client: '10.0.0.0/33' }), message: /bad10.*client: '10\.0\.0\.0\/33' has an invalid prefix length/ },
    { name: 'bad IPv6 prefix', policy: P('bad11', { client: '2001:db8::/129' }), message: /bad11.*client.*invalid prefix length/ },
    { name: 'host name as client', policy: P('bad12', { client: 'gateway.local' }), message: /bad12.*client: 'gateway\.local' is not an IP address/ },
    { name: 'time with 5 fields', policy: P('bad13', { time: '* 8-17 * * 1-5' }), message: /bad13.*time:.*needs 6 fields/ },
    { name: 'time value out of range', policy: P('bad14', { time: '* 24 * * * *' }), message: /bad14.*time: hour '24' is not in 0-23/ },
    { name: 'time range backwards', policy: P('bad15', { time: '* 17-8 * * * *' }), message: /bad15.*time: hour range '17-8' runs backwards/ },
    { name: 'time bad weekday name', policy: P('bad16', { time: '* * * * monday *' }), message: /bad16.*time: day of week 'monday'/ },
    { name: 'time step 0', policy: P('bad17', { time: '*/0 * * * * *' }), message: /bad17.*time:.*step/ },
    { name: 'unknown scope', policy: P('bad18', { scope: 'authentification' }), message: /bad18.*scope: unknown scope 'authentification'/ },
    { name: 'unsupported scope', policy: P('bad19', { scope: 'admin' }), message: /bad19.*scope: scope 'admin' is not supported yet/ },
    { name: 'resolver name with a space', policy: P('bad20', { user: 'my resolver:' }), message: /bad20.*user: 'my resolver:': resolver name "my resolver" must be/ },
    { name: 'name@realm.resolver condition', policy: P('bad21', { user: '*, bob@realm1.myresolver:' }), message: /bad21.*user: .*a resolver condition takes no @realm/ },
    { name: 'attribute condition with a bad regex', policy: P('bad22', { user: '#mobile~=(' }), message: /bad22.*user: regular expression "\(": invalid/ },
    { name: 'partial realm wildcard', policy: P('bad23', { realm: 'real*' }), message: /bad23.*realm: 'real\*'/ },
    { name: 'name with a space', policy: P('bad policy'), message: /policy name "bad policy"/ },
    { name: 'name longer than 64', policy: P('x'.repeat(65)), message: /policy name/ },
    { name: 'action given twice', policy: P('bad26', { action: 'autosms, !autosms' }), message: /bad26.*'autosms' is given twice/ },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.throws(
        () => new PolicyEngine([P('good', { user: 'bob' }), c.policy]),
        (e) => e instanceof ConfigError && e.code === 'ERR_OTP_POLICY' && c.message.test(e.message),
      )
    })
  }

  it('duplicate policy names', () => {
    assert.throws(() => new PolicyEngine([P('A'), P('A', { user: 'bob' })]), /policy 'A': name: defined twice/)
  })

  it('the valid edge of each check is accepted', () => {
    const ok = [
      P('a'.repeat(64), { client: '10.0.0.0/32, ::/0, ::ffff:1.2.3.4', time: '59 23 31 12 0-7 9999', action: 'otppin=IGNORE_PIN' }),
      P('b', { time: '* * * * fri-sun *; 0 0 1 jan-mar * 2024', user: 'bob@*, *@realm1, b*b' }),
      P('c', { action: '*' }),
    ]
    assert.doesNotThrow(() => new PolicyEngine(ok))
  })
})

describe('parsePolicy', () => {
  it('fills LinOTP defaults and lower-cases the realm', () => {
    assert.deepEqual(parsePolicy({ name: ' p1 ', scope: 'authentication', action: 'autosms', realm: 'MyRealm', user: '', client: '' }), {
      name: 'p1',
      scope: 'authentication',
      action: 'autosms',
      user: '*',
      realm: 'myrealm',
      client: '*',
      time: '',
      active: true,
    })
  })

  it('reads active per Decision 9 (missing → true, anything but true/1 → false)', () => {
    const active = (v: unknown): boolean => parsePolicy({ name: 'p', scope: 'authentication', action: 'autosms', active: v }).active
    assert.deepEqual(
      [undefined, '', true, 'true', 'True', '1', 1, false, 'false', 'False', '0', 'yes', 'truely'].map(active),
      [true, true, true, true, true, true, true, false, false, false, false, false, false],
    )
  })

  it('validates like the engine', () => {
    assert.throws(() => parsePolicy({ name: 'p', scope: 'authentication', action: 'autosms', client: '1.2.3/8' }), /policy 'p': client/)
    assert.throws(() => parsePolicy({ name: 'p', scope: 'authentication' }), /policy 'p': action: is required/)
    assert.throws(() => parsePolicy({ name: 'p', scope: 'authentication', action: 'autosms', user: 5 }), /policy 'p': user: expected a string/)
    assert.throws(() => parsePolicy({ scope: 'authentication', action: 'autosms' }), ConfigError)
  })

  it('a parsed record builds an engine that evaluates it', () => {
    const engine = new PolicyEngine([parsePolicy({ name: 'p', scope: 'authentication', action: 'sms_provider=a b', realm: 'R1' })])
    assert.deepEqual(engine.smsProviders({ user: 'bob', realm: 'r1' }), ['a', 'b'])
    assert.equal(engine.smsProviders({ user: 'bob', realm: 'r2' }), undefined)
  })
})

describe('policy engine odds and ends', () => {
  it('uses the current time when now is not given', () => {
    const hour = new Date().getHours()
    const engine = new PolicyEngine([P('now', { time: `* ${hour} * * * *` }), P('later', { time: `* ${(hour + 12) % 24} * * * *` })])
    const names = engine.match({ scope: 'authentication' }, 'autosms').map((m) => m.name)
    if (new Date().getHours() !== hour) return // the hour turned over between the two calls
    assert.deepEqual(names, ['now'])
  })

  it('otppin ignores other scopes and does not need a scope', () => {
    const engine = new PolicyEngine([P('A', { action: 'otppin=3' }), P('B', { scope: 'authorization', action: 'detail_on_fail' })])
    assert.equal(engine.otppin({ user: 'bob' }), 'ignore_pin')
    assert.equal(engine.otppin({ user: 'bob', scope: 'authentication' }), 'ignore_pin')
  })

  it('the authentication helpers refuse another scope (programmer mistake)', () => {
    const engine = new PolicyEngine([P('A', { action: 'sms_provider=x' })])
    assert.throws(() => engine.smsProviders({ scope: 'authorization' }), { name: 'TypeError', code: 'ERR_OTP_INVALID_OPTION' })
  })

  it('conflicting sms_provider lists: the first wins and a warning names the policies, not the values', () => {
    const logger = recordingLogger()
    const engine = new PolicyEngine([P('A', { action: 'sms_provider=secret1' }), P('B', { action: 'sms_provider=secret2' })], { logger })
    assert.deepEqual(engine.smsProviders({ user: 'bob' }), ['secret1'])
    assert.equal(logger.warnings.length, 1)
    assert.deepEqual(logger.warnings[0], { action: 'sms_provider', chosen: 'A', ignored: ['B'] })
  })

  it('match returns the parsed, typed actions', () => {
    const engine = new PolicyEngine([P('A', { action: 'autosms, smstext="x, <otp>", otppin=2' })])
    const [m] = engine.match({ scope: 'authentication' }, 'otppin')
    assert.deepEqual(m && [...m.actions], [['autosms', true], ['smstext', 'x, <otp>'], ['otppin', 'only_otp']])
    assert.equal(m?.allActions, false)
  })
})
