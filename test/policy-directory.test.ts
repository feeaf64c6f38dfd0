/**
 * User conditions on the directory entry (§4.6): `resolver:`, `name.resolver:` and the attribute
 * forms `[userdef]#attr`, `#attr==v`, `#attr!=v`, `#attr~=regex`; their precision, negation,
 * parse errors, the `~=` backtracking guard and `PolicyEngine.needsDirectory`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '../src/errors.js'
import {
  MAX_ATTRIBUTE_REGEX, MAX_ATTRIBUTE_VALUE, PolicyEngine, parsePolicy, type PolicyDirectoryUser, type PolicyQuery, type PolicyRecord,
} from '../src/policy/index.js'

function P(name: string, fields: Partial<PolicyRecord> = {}): PolicyRecord {
  return { name, scope: 'authentication', action: 'autosms', user: '*', realm: '*', client: '*', time: '', active: true, ...fields }
}

const ATTRS = {
  mobile: '+4915112345678',
  department: 'sales',
  title: '  Head of Sales ',
  blank: '   ',
  note: 'a=b',
  unset: undefined,
  long: 'x'.repeat(MAX_ATTRIBUTE_VALUE + 1),
  edge: 'x'.repeat(MAX_ATTRIBUTE_VALUE),
}
const inCorp: PolicyDirectoryUser = { resolver: 'corp', attributes: ATTRS }
const inOther: PolicyDirectoryUser = { resolver: 'other', attributes: { mobile: '+33612345678' } }

const alice: Partial<PolicyQuery> = { user: 'alice', realm: 'r1', directory: inCorp }
const bob: Partial<PolicyQuery> = { user: 'bob', realm: 'r1', directory: inCorp }

/** Names of the policies that apply to `q` for `autosms`. */
function names(policies: PolicyRecord[], q: Partial<PolicyQuery>): string[] {
  return new PolicyEngine(policies).match({ scope: 'authentication', ...q }, 'autosms').map((m) => m.name)
}

/** A `*` fallback plus one policy `T` with the user condition under test: does `T` win? */
function applies(user: string, q: Partial<PolicyQuery>): boolean {
  const got = names([P('fallback'), P('T', { user })], q)
  assert.ok(got.length === 1, `exactly one survivor, got ${got.join(',')}`)
  return got[0] === 'T'
}

describe('resolver: and name.resolver:', () => {
  it('resolver: matches a user whose entry is in that resolver, not in another', () => {
    assert.equal(applies('corp:', alice), true)
    assert.equal(applies('corp:', { ...alice, directory: inOther }), false)
  })
  it('name.resolver: needs the login and the resolver', () => {
    assert.equal(applies('alice.corp:', alice), true)
    assert.equal(applies('alice.corp:', bob), false)
    assert.equal(applies('alice.corp:', { ...alice, directory: inOther }), false)
  })
  it('the name part takes * wildcards; other characters are literal', () => {
    assert.equal(applies('a*.corp:', alice), true)
    assert.equal(applies('a*.corp:', bob), false)
    assert.equal(applies('al.ce.corp:', alice), false)
  })
  it('a login with dots: the resolver is what follows the last dot', () => {
    assert.equal(applies('first.last.corp:', { user: 'first.last', directory: inCorp }), true)
    assert.equal(applies('first.last.corp:', { user: 'first', directory: inCorp }), false)
  })
  it('an unknown resolver matches nobody', () => {
    assert.equal(applies('nosuch:', alice), false)
    assert.equal(applies('alice.nosuch:', alice), false)
  })
  it('resolver names are case-sensitive', () => {
    assert.equal(applies('Corp:', alice), false)
  })
  it('without a directory entry resolver conditions do not match', () => {
    assert.equal(applies('corp:', { user: 'alice', realm: 'r1' }), false)
    assert.equal(applies('alice.corp:', { user: 'alice', realm: 'r1', directory: undefined }), false)
  })
  it('the check_s pseudo-user (no login) never matches, even with an entry', () => {
    assert.equal(applies('corp:', { realm: 'r1', directory: inCorp }), false)
    assert.equal(applies('*.corp:', { user: '', realm: 'r1', directory: inCorp }), false)
  })
})

describe('attribute conditions', () => {
  it('#attr: set and not empty after trimming', () => {
    assert.equal(applies('#mobile', alice), true)
    assert.equal(applies('#fax', alice), false)
    assert.equal(applies('#blank', alice), false)
    assert.equal(applies('#unset', alice), false)
  })
  it('#attr==v: equality, trimmed, case-sensitive', () => {
    assert.equal(applies('#department==sales', alice), true)
    assert.equal(applies('#department==Sales', alice), false)
    assert.equal(applies('#title==Head of Sales', alice), true)
    assert.equal(applies('#department == sales', alice), true)
    assert.equal(applies('#fax==sales', alice), false)
  })
  it('the first operator splits: the value may contain = and operators', () => {
    assert.equal(applies('#note==a=b', alice), true)
    assert.equal(applies('#note~=a=b', alice), true)
    assert.equal(applies('#note!=a', alice), true)
  })
  it('#attr!=v: different value, or no such attribute (as in LinOTP)', () => {
    assert.equal(applies('#department!=support', alice), true)
    assert.equal(applies('#department!=sales', alice), false)
    assert.equal(applies('#fax!=123', alice), true)
  })
  it('#attr~=regex: unanchored search, case-sensitive', () => {
    assert.equal(applies('#mobile~=^\\+49', alice), true)
    assert.equal(applies('#mobile~=^\\+33', alice), false)
    assert.equal(applies('#mobile~=1234', alice), true)
    assert.equal(applies('#department~=^S', alice), false)
    assert.equal(applies('#fax~=.', alice), false)
  })
  it('attribute names are case-sensitive', () => {
    assert.equal(applies('#Mobile', alice), false)
    assert.equal(applies('#DEPARTMENT==sales', alice), false)
  })
  it('userdef before #: name, name@realm, resolver forms must hold too', () => {
    assert.equal(applies('alice#mobile', alice), true)
    assert.equal(applies('bob#mobile', alice), false)
    assert.equal(applies('a*@r1#department==sales', alice), true)
    assert.equal(applies('alice@r2#mobile', alice), false)
    assert.equal(applies('alice.corp:#mobile', alice), true)
    assert.equal(applies('corp:#department==sales', bob), true)
    assert.equal(applies('other:#mobile', alice), false)
    assert.equal(applies('*#mobile', alice), true)
  })
  it('without a directory entry attribute conditions do not match (not even !=)', () => {
    assert.equal(applies('#mobile', { user: 'alice' }), false)
    assert.equal(applies('#fax!=1', { user: 'alice' }), false)
    assert.equal(applies('#mobile', { realm: 'r1', directory: inCorp }), false)
  })
  it('threat: prototype properties are not attributes', () => {
    for (const cond of ['#constructor', '#toString~=.', '#__proto__', '#hasOwnProperty']) assert.equal(applies(cond, alice), false, cond)
    const inherited: PolicyDirectoryUser = { resolver: 'corp', attributes: Object.create({ mobile: '+4915112345678' }) as Record<string, string> }
    assert.equal(applies('#mobile', { user: 'alice', directory: inherited }), false, 'inherited, not own')
  })
  it('threat: a ~= pattern is not run on values longer than the cap (no match)', () => {
    assert.equal(applies('#long~=x', alice), false)
    assert.equal(applies('#long', alice), true, 'the value is there, only the regex skips it')
    assert.equal(applies('#edge~=x', alice), true, 'at the cap it is tested')
  })
})

describe('precision and negation', () => {
  const tiers = [P('star'), P('pattern', { user: '*.corp:' }), P('exact', { user: 'alice.corp:' })]
  it('exact alice.corp: beats pattern *.corp: beats *', () => {
    assert.deepEqual(names(tiers, alice), ['exact'])
    assert.deepEqual(names(tiers, bob), ['pattern'])
    assert.deepEqual(names(tiers, { ...alice, directory: inOther }), ['star'])
    assert.deepEqual(names(tiers, { user: 'alice' }), ['star'])
  })
  it('resolver: alone is a pattern: below a plain exact name, above *', () => {
    assert.deepEqual(names([P('res', { user: 'corp:' }), P('name', { user: 'alice' })], alice), ['name'])
    assert.deepEqual(names([P('res', { user: 'corp:' }), P('star')], alice), ['res'])
    assert.deepEqual(names([P('res', { user: 'corp:' }), P('pat', { user: 'a*' })], alice), ['res', 'pat'])
  })
  it('attribute forms are patterns, even with an exact userdef', () => {
    assert.deepEqual(names([P('attr', { user: 'alice#mobile' }), P('name', { user: 'alice' })], alice), ['name'])
    assert.deepEqual(names([P('attr', { user: '#mobile' }), P('star')], alice), ['attr'])
    assert.deepEqual(names([P('attr', { user: '#mobile' }), P('res', { user: 'alice.corp:' })], alice), ['res'])
  })
  it('! and - exclude by resolver', () => {
    assert.deepEqual(names([P('A', { user: '*, !corp:' }), P('B', { user: 'z*' })], alice), [])
    assert.deepEqual(names([P('A', { user: '*, -corp:' }), P('B')], alice), ['B'])
    assert.deepEqual(names([P('A', { user: '*, !corp:' })], { ...alice, directory: inOther }), ['A'])
    assert.deepEqual(names([P('A', { user: '*, !alice.corp:' }), P('B', { user: 'z*' })], bob), ['A'])
    assert.deepEqual(names([P('A', { user: '*, !alice.corp:' }), P('B')], alice), ['B'])
  })
  it('! excludes by attribute', () => {
    assert.deepEqual(names([P('A', { user: '*, !#department==sales' }), P('B')], alice), ['B'])
    assert.deepEqual(names([P('A', { user: '*, !#department==support' }), P('B', { user: 'z*' })], alice), ['A'])
    assert.deepEqual(names([P('A', { user: '*, !#mobile~=^\\+49' }), P('B')], alice), ['B'])
    assert.deepEqual(names([P('A', { user: '*, -#fax' }), P('B', { user: 'z*' })], alice), ['A'])
  })
  it('without a directory entry an exclusion by resolver or attribute excludes nobody', () => {
    assert.deepEqual(names([P('A', { user: '*, !corp:, !#mobile' }), P('B', { user: 'z*' })], { user: 'alice' }), ['A'])
  })
})

describe('parse errors (ConfigError ERR_OTP_POLICY naming the policy)', () => {
  const cases: [string, string, RegExp][] = [
    ['invalid regex', '#mobile~=(', /policy 'bad': user: regular expression "\(": invalid/],
    ['regex longer than the cap', `#mobile~=${'a'.repeat(MAX_ATTRIBUTE_REGEX + 1)}`, /longer than 256 characters/],
    ['threat: nested quantifier (a+)+', '#mobile~=^(a+)+$', /repeated group may not contain a quantifier/],
    ['threat: repeated alternation (a|ab)*', '#mobile~=(a|ab)*c', /repeated group may not contain a quantifier or alternatives that can match the same text/],
    ['threat: nested quantifier two levels up', '#mobile~=((a)b*){2}', /repeated group/],
    ['threat: three variable quantifiers', '#mobile~=\\w+\\w+\\w+y', /at most 2 variable-length quantifiers/],
    ['threat: backreference', '#mobile~=(a)\\1', /backreferences are not allowed/],
    ['threat: a chain of ambiguous alternations', `#mobile~=${'(a|a)'.repeat(9)}x`, /at most 256 combinations with 0/],
    ['threat: ambiguous alternatives with two quantifiers', '#mobile~=(a|ab)\\d+[a-z]+', /at most 1 combinations with 2/],
    ['threat: ambiguous alternatives with one quantifier', `#mobile~=${'(a|a|a)'.repeat(3)}[a-z]+x`, /at most 16 combinations with 1/],
    ['empty value after ==', '#mobile==', /empty value after '=='/],
    ['empty regex', '#mobile~= ', /empty value after '~='/],
    ['single =', '#mobile=1', /expected #attribute, #attribute==value/],
    ['attribute name with a space', '#mo bile', /expected #attribute/],
    ['no attribute name', '#', /expected #attribute/],
    ['resolver name with a space', 'my resolver:', /'my resolver:': resolver name "my resolver" must be/],
    ['resolver with @realm', 'bob@r1.corp:', /takes no @realm/],
    ['name missing before .resolver:', '.corp:', /name missing before '\.corp:'/],
    [': in the middle', 'a:b', /':' may only end a resolver condition/],
    ['two colons', 'corp::', /':' may appear only once/],
    ['bad userdef before #', 'x:y#mobile', /':' may only end/],
  ]
  for (const [title, user, message] of cases) {
    it(title, () => {
      assert.throws(
        () => new PolicyEngine([P('good', { user: 'corp:' }), P('bad', { user: `*, ${user}` })]),
        (e) => e instanceof ConfigError && e.code === 'ERR_OTP_POLICY' && message.test(e.message) && e.message.includes("policy 'bad'"),
      )
    })
  }
  it('parsePolicy refuses the same', () => {
    assert.throws(() => parsePolicy({ name: 'p', scope: 'authentication', action: 'autosms', user: '#m~=[' }), /policy 'p': user: regular expression/)
  })
  it('safe patterns and every form are accepted', () => {
    const ok = [
      '#mobile~=^\\+49\\d+$', '#department~=^(sales|support)$', '#mail~=^[a-z]+\\.[a-z]+@corp\\.com$', '#x~=(ab)*c',
      '#x~=a{3}b{2}c+', '#x~=\\(a+\\)+', '#x~=[(]a+[)]', '#x~=(a+)?', '#x~=(?<area>\\d{3})-', '#x~=(?:ab)+',
      `#department~=^(${Array.from({ length: 60 }, (_, i) => `d${i}`).join('|')})$`, '#x~=(a|b)(c|d)(e|f)', '#department~=^(sales|support)+$', '#x~=^(sales|support)\\d+[a-z]+$', '#x~=(a|a|a|a)(a|a|a|a)[a-z]+x',
      'corp:', 'alice.corp:', '*.corp:', 'corp-ldap_2:', 'alice#mobile', '*@r1#m!=1', 'alice.corp:#m==x', '!#m', '-corp:',
    ]
    assert.doesNotThrow(() => new PolicyEngine(ok.map((user, i) => P(`p${i}`, { user }))))
  })
})

describe('PolicyEngine.needsDirectory', () => {
  it('is false without resolver or attribute conditions', () => {
    assert.equal(new PolicyEngine([]).needsDirectory, false)
    assert.equal(new PolicyEngine([P('A', { user: 'alice, b*@r1, *, !carol' }), P('B', { realm: 'corp' })]).needsDirectory, false)
  })
  it('is true when an active policy has one (also as an exclusion, in any scope)', () => {
    for (const user of ['corp:', 'alice.corp:', '#mobile', 'bob#m==1', '*, !corp:', '*, -#x~=y']) {
      assert.equal(new PolicyEngine([P('A'), P('B', { user })]).needsDirectory, true, user)
    }
    assert.equal(new PolicyEngine([P('A', { scope: 'authorization', action: 'detail_on_fail', user: 'corp:' })]).needsDirectory, true)
  })
  it('inactive policies do not count', () => {
    assert.equal(new PolicyEngine([P('A'), P('B', { user: 'corp:', active: false })]).needsDirectory, false)
  })
})

describe('sms_provider by resolver (smsProviders)', () => {
  const engine = new PolicyEngine([
    P('a_default', { action: 'sms_provider=gw_public' }),
    P('b_corp', { action: 'sms_provider=gw_internal gw_public', user: 'corp:' }),
    P('c_de', { action: 'sms_provider=gw_de', user: 'other:#mobile~=^\\+49' }),
  ])
  it('users of resolver corp get the internal gateway first', () => {
    assert.deepEqual(engine.smsProviders({ user: 'alice', realm: 'r1', directory: inCorp }), ['gw_internal', 'gw_public'])
  })
  it('other users get the default policy', () => {
    assert.deepEqual(engine.smsProviders({ user: 'dave', realm: 'r1', directory: inOther }), ['gw_public'])
  })
  it('a resolver plus attribute condition picks its own provider', () => {
    const de: PolicyDirectoryUser = { resolver: 'other', attributes: { mobile: '+4917012345678' } }
    assert.deepEqual(engine.smsProviders({ user: 'erik', realm: 'r1', directory: de }), ['gw_de'])
  })
  it('without a directory entry the resolver policy does not apply', () => {
    assert.deepEqual(engine.smsProviders({ user: 'alice', realm: 'r1' }), ['gw_public'])
    assert.equal(engine.needsDirectory, true)
  })
})
