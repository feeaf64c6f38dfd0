import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isOtpError } from '../src/errors.js'
import { maskPhone, msisdn, rewritePhone, suppressPrefix, validatePhone } from '../src/phone/index.js'

describe('MSISDN (spec §3.1)', () => {
  const rows: Array<[string, string]> = [
    ['+49 01602/2222-222', '+49016022222222'],
    ['+49(0)1234-24', '+490123424'],
    ['0160 123', '0160123'],
    ['  +49 170 1234567 ', '+491701234567'],
    ['+49 ١٢٣ 170', '+49170'], // non-ASCII digits are dropped, not kept
  ]
  for (const [input, out] of rows) it(`${JSON.stringify(input)} → ${out}`, () => assert.equal(msisdn(input), out))
})

describe('SUPPRESS_PREFIX (spec §3.1)', () => {
  it('MSISDN + "+" → country code without plus', () => {
    assert.equal(rewritePhone('+49 01602/2222-222', { msisdn: true, suppressPrefix: '+' }), '49016022222222')
  })
  it('"+49" is removed once, as a pure string prefix', () => {
    assert.equal(suppressPrefix('+491701234567', '+49'), '1701234567')
    assert.equal(suppressPrefix('+4949123', '+49'), '49123')
  })
  it('"0049" works the same way', () => assert.equal(suppressPrefix('00491701234567', '0049'), '1701234567'))
  it('leading whitespace is stripped first; a non-matching prefix changes nothing else', () => {
    assert.equal(suppressPrefix('  +491701234567', '+49'), '1701234567')
    assert.equal(suppressPrefix('  +431701234567', '+49'), '+431701234567')
  })
  it('an empty prefix leaves the number as it is', () => assert.equal(suppressPrefix(' 0170 1', ''), ' 0170 1'))
  it('without MSISDN the number keeps its separators', () => {
    assert.equal(rewritePhone('+49 170 1234567', { msisdn: false, suppressPrefix: '+49' }), ' 170 1234567')
  })
})

describe('validatePhone', () => {
  it('accepts usual notations and trims', () => {
    assert.equal(validatePhone(' +49 (0)170 123-4567 '), '+49 (0)170 123-4567')
    assert.equal(validatePhone('0170/1234567'), '0170/1234567')
  })
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /Missing parameter: 'phone'/],
    ['', /Missing parameter/],
    ['+49 170 123; rm -rf', /only digits/],
    ['+49\r\n170', /only digits/],
    ['12', /3 to 20 digits/],
    ['1'.repeat(21), /3 to 20 digits/],
    ['+1'.padEnd(45, '1'), /longer than 40/],
    ['+999 123', /not a possible international number/],
    ['AT+CMGS=1', /only digits/],
  ]
  for (const [input, message] of bad) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(() => validatePhone(input), (err: unknown) => isOtpError(err) && message.test(err.message))
    })
  }
  it('never echoes the number in its errors', () => {
    assert.throws(() => validatePhone('+49 170 12x34567'), (err: unknown) => err instanceof Error && !err.message.includes('12x34567'))
  })
})

describe('maskPhone (Decision 6)', () => {
  it('keeps + , two leading and four trailing digits', () => {
    assert.equal(maskPhone('+491511235678'), '+49******5678') // the Decision's own example
    assert.equal(maskPhone('+49 151 1234 5678'), '+49*******5678')
  })
  it('short numbers keep only two digits', () => assert.equal(maskPhone('12345'), '***45'))
})
