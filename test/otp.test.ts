import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hotp, otpEquals, parseHexSeed } from '../src/otp/hotp.js'

const ascii = (s: string) => Buffer.from(s, 'ascii')

describe('HOTP (RFC 4226 appendix D)', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489']
  for (const [counter, otp] of expected.entries()) {
    it(`counter ${counter} → ${otp}`, () => assert.equal(hotp(ascii('12345678901234567890'), counter), otp))
  }
})

describe('the spec vectors (sha1, 6 digits)', () => {
  const table: Array<[string, string[]]> = [
    ['1234567890123456789012345678901234567890123456789012345678901234', ['020782', '731129', '973532', '313291', '573004']],
    ['AD8EABE235FC57C815B26CEF3709075580B44738', ['870581', '793334', '088491', '013126', '818771']],
    ['0f51c51a55a3c2736ecd0c022913d541b25734b5', ['755224', '657344', '144917', '672823', '701125']],
  ]
  for (const [key, otps] of table) {
    it(`key ${key.slice(0, 8)}…`, () => {
      const seed = parseHexSeed(key)
      assert.ok(seed)
      assert.deepEqual(otps.map((_, c) => hotp(seed, c)), otps)
    })
  }
})

describe('sha256 and sha512, 8 digits (RFC 6238 appendix B, counter = T/30)', () => {
  const seeds = {
    sha1: ascii('12345678901234567890'),
    sha256: ascii('12345678901234567890123456789012'),
    sha512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
  } as const
  const rows: Array<[number, string, string, string]> = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ]
  for (const [t, sha1, sha256, sha512] of rows) {
    it(`T=${t}`, () => {
      const c = Math.floor(t / 30)
      assert.equal(hotp(seeds.sha1, c, 8, 'sha1'), sha1)
      assert.equal(hotp(seeds.sha256, c, 8, 'sha256'), sha256)
      assert.equal(hotp(seeds.sha512, c, 8, 'sha512'), sha512)
    })
  }
})

describe('helpers', () => {
  it('rejects negative and unsafe counters', () => {
    assert.throws(() => hotp(ascii('12345678901234567890'), -1), RangeError)
    assert.throws(() => hotp(ascii('12345678901234567890'), 2 ** 53), RangeError)
  })
  it('otpEquals compares exactly', () => {
    assert.equal(otpEquals('123456', '123456'), true)
    assert.equal(otpEquals('123456', '123457'), false)
    assert.equal(otpEquals('123456', '1234567'), false)
    assert.equal(otpEquals('', ''), true)
  })
  it('parseHexSeed strips spaces and dashes and refuses non-hex', () => {
    assert.deepEqual(parseHexSeed('31 32-33'), Buffer.from('313233', 'hex'))
    assert.equal(parseHexSeed('xyz'), undefined)
    assert.equal(parseHexSeed('123'), undefined)
    assert.equal(parseHexSeed(''), undefined)
    assert.equal(parseHexSeed('ab'.repeat(129)), undefined)
  })
})
