import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  concatUdh,
  decodeGsm7,
  encodeGsm7,
  encodeSms,
  gsm7Length,
  GSM7_PART,
  GSM7_SINGLE,
  MAX_PARTS,
  UCS2_PART,
  UCS2_SINGLE,
} from '../../src/providers/smpp/encoding.js'

/** Removes the 6-octet UDH of a concatenated part, checking it on the way. */
function payload(part: Buffer, ref: number, total: number, seq: number): Buffer {
  assert.deepEqual([...part.subarray(0, 6)], [0x05, 0x00, 0x03, ref, total, seq])
  return part.subarray(6)
}

/** UTF-16BE → string, independently of the encoder. */
function fromUcs2(bytes: Buffer): string {
  return Buffer.from(bytes).swap16().toString('utf16le')
}

describe('GSM 03.38 detection and septets', () => {
  it('maps the default alphabet to its septet values', () => {
    assert.deepEqual([...encodeGsm7('@£$¥èéùìòÇ\nØø\rÅå')!], [...Array(16).keys()])
    assert.deepEqual([...encodeGsm7('Δ_ΦΓΛΩΠΨΣΘΞ')!], [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a])
    assert.deepEqual([...encodeGsm7('ÆæßÉ ¤¡ÄÖÑÜ§¿äöñüà')!], [0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x24, 0x40, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f])
    assert.deepEqual(encodeGsm7('Code: 123456'), Buffer.from('Code: 123456', 'ascii'))
  })

  it('encodes the extension table as ESC + code, two septets each', () => {
    assert.deepEqual([...encodeGsm7('€[]{}\\^~|\f')!], [
      0x1b, 0x65, 0x1b, 0x3c, 0x1b, 0x3e, 0x1b, 0x28, 0x1b, 0x29, 0x1b, 0x2f, 0x1b, 0x14, 0x1b, 0x3d, 0x1b, 0x40, 0x1b, 0x0a,
    ])
    assert.equal(gsm7Length('a€'), 3)
    assert.equal(gsm7Length('[x]'), 5)
  })

  it('refuses characters outside the alphabet (and a raw ESC)', () => {
    for (const text of ['Ваш код', 'ç', '`', 'é€ 😀', '\x1b', 'ô', '\t']) assert.equal(encodeGsm7(text), undefined, JSON.stringify(text))
  })

  it('decodes what it encodes', () => {
    const all = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà€[]{}\\^~|\f'
    assert.equal(decodeGsm7(encodeGsm7(all)!), all)
  })
})

describe('single SMS limits', () => {
  it('160 GSM septets fit one SMS without UDH; 161 need two parts', () => {
    const one = encodeSms('a'.repeat(GSM7_SINGLE), 7)
    assert.equal(one.encoding, 'gsm7')
    assert.equal(one.dataCoding, 0)
    assert.equal(one.esmClass, 0)
    assert.deepEqual(one.parts, [Buffer.alloc(160, 0x61)])

    const two = encodeSms('a'.repeat(GSM7_SINGLE + 1), 7)
    assert.equal(two.esmClass, 0x40)
    assert.equal(two.parts.length, 2)
    assert.deepEqual(payload(two.parts[0]!, 7, 2, 1), Buffer.alloc(153, 0x61))
    assert.deepEqual(payload(two.parts[1]!, 7, 2, 2), Buffer.alloc(8, 0x61))
  })

  it('extension characters count twice toward the 160', () => {
    assert.equal(encodeSms('€'.repeat(80), 0).parts.length, 1)
    assert.equal(encodeSms(`${'€'.repeat(80)}a`, 0).parts.length, 2)
    assert.equal(encodeSms(`${'a'.repeat(159)}[`, 0).parts.length, 2)
  })

  it('70 UCS-2 characters fit one SMS; 71 need two parts of at most 67', () => {
    const one = encodeSms('Ж'.repeat(UCS2_SINGLE), 1)
    assert.equal(one.encoding, 'ucs2')
    assert.equal(one.dataCoding, 8)
    assert.equal(one.esmClass, 0)
    assert.deepEqual(one.parts, [Buffer.from('04160416'.repeat(35), 'hex')])

    const two = encodeSms('Ж'.repeat(UCS2_SINGLE + 1), 1)
    assert.equal(two.dataCoding, 8)
    assert.equal(two.esmClass, 0x40)
    assert.equal(two.parts.length, 2)
    assert.equal(payload(two.parts[0]!, 1, 2, 1).length, UCS2_PART * 2)
    assert.equal(payload(two.parts[1]!, 1, 2, 2).length, 4 * 2)
  })

  it('one non-GSM character switches the whole text to UCS-2 (exact UTF-16BE octets)', () => {
    const e = encodeSms('Ваш код: 123456', 0)
    assert.equal(e.dataCoding, 8)
    assert.deepEqual(e.parts, [Buffer.from('0412043004480020043a043e0434003a0020003100320033003400350036', 'hex')])
  })

  it('the empty text is one empty GSM part', () => {
    assert.deepEqual(encodeSms('', 0).parts, [Buffer.alloc(0)])
  })
})

describe('concatenation', () => {
  it('153·n GSM septets give exactly n full parts, one more septet a further part', () => {
    for (const n of [2, 3, 5]) {
      const exact = encodeSms('x'.repeat(GSM7_PART * n), 200)
      assert.equal(exact.parts.length, n)
      exact.parts.forEach((p, i) => assert.equal(payload(p, 200, n, i + 1).length, GSM7_PART))
      const more = encodeSms('x'.repeat(GSM7_PART * n + 1), 200)
      assert.equal(more.parts.length, n + 1)
      assert.equal(payload(more.parts[n]!, 200, n + 1, n + 1).length, 1)
    }
  })

  it('never splits an escape pair: a part ends one septet short instead', () => {
    const text = `${'a'.repeat(152)}€${'b'.repeat(10)}`
    const e = encodeSms(text, 9)
    assert.equal(e.parts.length, 2)
    const first = payload(e.parts[0]!, 9, 2, 1)
    assert.equal(first.length, 152)
    assert.deepEqual([...payload(e.parts[1]!, 9, 2, 2).subarray(0, 2)], [0x1b, 0x65])
    assert.equal(e.parts.map((p) => decodeGsm7(p.subarray(6))).join(''), text)
  })

  it('never splits a surrogate pair: the emoji moves to the next part', () => {
    const text = `${'Ж'.repeat(66)}😀${'Ж'.repeat(10)}`
    const e = encodeSms(text, 3)
    assert.equal(e.parts.length, 2)
    assert.equal(payload(e.parts[0]!, 3, 2, 1).length, 66 * 2)
    const second = payload(e.parts[1]!, 3, 2, 2)
    assert.deepEqual([...second.subarray(0, 4)], [0xd8, 0x3d, 0xde, 0x00])
    assert.equal(e.parts.map((p) => fromUcs2(p.subarray(6))).join(''), text)
  })

  it('an emoji that ends exactly at the part boundary stays whole', () => {
    const text = `${'Ж'.repeat(65)}😀${'Ж'.repeat(10)}`
    const e = encodeSms(text, 3)
    assert.equal(payload(e.parts[0]!, 3, 2, 1).length, 67 * 2)
    assert.equal(e.parts.map((p) => fromUcs2(p.subarray(6))).join(''), text)
  })

  it('the reference is taken modulo 256; more than 255 parts is a RangeError', () => {
    assert.deepEqual(concatUdh(0x1ff, 3, 2), Buffer.from([5, 0, 3, 0xff, 3, 2]))
    assert.equal(encodeSms('y'.repeat(GSM7_PART * MAX_PARTS), 0).parts.length, MAX_PARTS)
    assert.throws(() => encodeSms('y'.repeat(GSM7_PART * MAX_PARTS + 1), 0), RangeError)
  })
})
