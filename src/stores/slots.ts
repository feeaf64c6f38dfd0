/**
 * Compact building blocks for the bounded in-process homes (the memory store's challenges, the
 * login faces' handle home): records live in numbered slots whose fields are columns (typed arrays
 * for numbers, plain arrays for strings), so a million records cost a few typed arrays instead of
 * a million objects, sets and boxed numbers.
 *
 * Internal: not part of the public API.
 */

/** No slot (end of a chain, empty list). */
export const NIL = -1

/**
 * A flat copy of `s` when that costs nothing in meaning. Strings built by concatenation are
 * trees (V8 cons strings) that can weigh several times their characters; kept for minutes by a
 * million records, the difference is tens of MB. `normalize()` returns a flat string; it is used
 * only when it is the same text (always so for the digit ids and names kept here).
 */
export function compactString(s: string): string {
  const n = s.normalize()
  return n === s ? n : s
}

/**
 * Slot allocator with a doubly-linked order (oldest at the head, newest at the tail) and a free
 * list; at most `max` slots are live, numbered below `max`. Owners size their columns to `max`
 * up front, as lru-cache did: zero-filled typed arrays are lazily committed by the OS, so a column
 * costs resident memory only as far as slots are used, and never grows (growing by copying leaves
 * the old arrays' pages to the allocator, i.e. resident).
 */
export class SlotList {
  /** Live slots. */
  size = 0
  /** Oldest live slot, or {@link NIL}. */
  head = NIL
  /** Newest live slot, or {@link NIL}. */
  tail = NIL
  private readonly next: Int32Array
  private readonly prev: Int32Array
  /** Slots below `used` have been handed out once; freed ones chain through `next` from `free`. */
  private used = 0
  private free = NIL

  constructor(readonly max: number) {
    // Not filled: `link` writes both entries of a slot before they are read.
    this.next = new Int32Array(max)
    this.prev = new Int32Array(max)
  }

  /** The slot after `slot` in age order (towards the newest), or {@link NIL}. */
  after(slot: number): number {
    return this.next[slot] ?? NIL
  }

  /** A fresh slot, appended as the newest. The caller must first make room when `size === max`. */
  alloc(): number {
    let slot: number
    if (this.free !== NIL) {
      slot = this.free
      this.free = this.next[slot] ?? NIL
    } else {
      if (this.used === this.max) throw new RangeError('SlotList is full')
      slot = this.used++
    }
    this.link(slot)
    this.size++
    return slot
  }

  /** Unlinks a live slot and puts it on the free list. */
  release(slot: number): void {
    this.unlink(slot)
    this.next[slot] = this.free
    this.free = slot
    this.size--
  }

  /** Makes a live slot the newest (a recency refresh). */
  touch(slot: number): void {
    if (slot === this.tail) return
    this.unlink(slot)
    this.link(slot)
  }

  private link(slot: number): void {
    this.prev[slot] = this.tail
    this.next[slot] = NIL
    if (this.tail === NIL) this.head = slot
    else this.next[this.tail] = slot
    this.tail = slot
  }

  private unlink(slot: number): void {
    const p = this.prev[slot] ?? NIL
    const n = this.next[slot] ?? NIL
    if (p === NIL) this.head = n
    else this.next[p] = n
    if (n === NIL) this.tail = p
    else this.prev[n] = p
  }
}

/** Most distinct values an {@link InternColumn} shares; beyond it values are kept one by one. */
const MAX_INTERNED = 4096

/**
 * A column of strings with few distinct values (realms, provider names, masked phones): a 16-bit
 * code per slot into a bounded pool of shared strings; `null`, and values beyond the pool, are
 * kept aside. `undefined` is the empty value.
 */
export class InternColumn {
  private readonly codes: Uint16Array
  private readonly pool: string[] = ['', '']
  private readonly codeOf = new Map<string, number>()
  /** Slot → value, for values the pool has no room for (allocated only once needed). */
  private readonly others: Array<string | undefined> = []

  constructor(max: number) {
    this.codes = new Uint16Array(max)
  }

  /** Stores `value` in `slot`, replacing what was there. */
  set(slot: number, value: string | null | undefined): void {
    this.clear(slot)
    if (value === undefined) this.codes[slot] = 0
    else if (value === null) this.codes[slot] = 1
    else {
      let code = this.codeOf.get(value)
      if (code === undefined && this.pool.length < MAX_INTERNED) {
        code = this.pool.push(compactString(value)) - 1
        this.codeOf.set(this.pool[code] as string, code)
      }
      if (code === undefined) {
        // Appended in order, never with holes: the array stays a flat list of pointers.
        while (this.others.length <= slot) this.others.push(undefined)
        this.others[slot] = compactString(value)
      }
      this.codes[slot] = code ?? 0
    }
  }

  /** The value in `slot` (`undefined` when empty). */
  get(slot: number): string | null | undefined {
    const code = this.codes[slot] as number
    if (code === 0) return this.others[slot]
    return code === 1 ? null : this.pool[code]
  }

  /** Forgets the slot's value. */
  clear(slot: number): void {
    this.codes[slot] = 0
    if (slot < this.others.length) this.others[slot] = undefined
  }
}

/** The digits of a transaction id (`[1-9][0-9]{0,17}`) and its optional `.NNN` sub id suffix. */
const PACKABLE_ID = /^([1-9][0-9]{0,17})(?:\.([0-9]{1,3}))?$/

/**
 * Transaction ids per slot, with an optional exact-match index. The engine's ids (up to 18 digits,
 * optionally `.NN`) are kept as numbers (11 bytes a slot, where a string costs 40 and more); any
 * other string is kept as is. With `indexed`, `find(id)` is a hash lookup over slots (no Map
 * entry, no key string per record).
 */
export class IdColumn {
  /** Digits before the last 9 (0 when there are at most 9). */
  private readonly hi: Uint32Array
  /** The last (up to) 9 digits. */
  private readonly lo: Uint32Array
  /** 0: kept in `others`; else digit count | suffix length << 5. */
  private readonly meta: Uint8Array
  private readonly suffix: Uint16Array
  private readonly others = new Map<number, string>()
  /** Hash chains when indexed: bucket → first slot + 1 (0: empty), slot → next slot. */
  private readonly buckets: Int32Array
  private readonly hNext: Int32Array
  private readonly mask: number

  constructor(max: number, indexed: boolean) {
    this.hi = new Uint32Array(max)
    this.lo = new Uint32Array(max)
    this.meta = new Uint8Array(max)
    this.suffix = new Uint16Array(max)
    let size = 1
    while (indexed && size < max) size *= 2
    this.buckets = new Int32Array(indexed ? size : 0)
    this.hNext = new Int32Array(indexed ? max : 0)
    this.mask = size - 1
  }

  /** Stores `id` in `slot` (and indexes it). The slot must be empty. */
  set(slot: number, id: string): void {
    const m = PACKABLE_ID.exec(id)
    let h: number
    if (m === null) {
      this.meta[slot] = 0
      this.others.set(slot, compactString(id))
      h = stringHash(id)
    } else {
      const digits = m[1] as string
      const n = digits.length
      this.hi[slot] = n > 9 ? Number(digits.slice(0, n - 9)) : 0
      this.lo[slot] = Number(n > 9 ? digits.slice(n - 9) : digits)
      this.meta[slot] = n | ((m[2]?.length ?? 0) << 5)
      this.suffix[slot] = m[2] === undefined ? 0 : Number(m[2])
      h = this.packedHash(slot)
    }
    if (this.buckets.length === 0) return
    const b = h & this.mask
    this.hNext[slot] = (this.buckets[b] as number) - 1
    this.buckets[b] = slot + 1
  }

  /** The id in `slot`, rebuilt. */
  get(slot: number): string {
    const meta = this.meta[slot] as number
    if (meta === 0) return this.others.get(slot) as string
    const n = meta & 31
    const lo = String(this.lo[slot])
    let id = n > 9 ? String(this.hi[slot]) + lo.padStart(9, '0') : lo
    const sfx = meta >> 5
    if (sfx > 0) id += `.${String(this.suffix[slot]).padStart(sfx, '0')}`
    return id
  }

  /** The slot holding `id`, or undefined (indexed columns only). */
  find(id: string): number | undefined {
    if (this.buckets.length === 0) return undefined
    const m = PACKABLE_ID.exec(id)
    if (m === null) {
      for (let s = (this.buckets[stringHash(id) & this.mask] as number) - 1; s !== NIL; s = this.hNext[s] as number) {
        if (this.meta[s] === 0 && this.others.get(s) === id) return s
      }
      return undefined
    }
    const digits = m[1] as string
    const n = digits.length
    const hi = n > 9 ? Number(digits.slice(0, n - 9)) : 0
    const lo = Number(n > 9 ? digits.slice(n - 9) : digits)
    const meta = n | ((m[2]?.length ?? 0) << 5)
    const suffix = m[2] === undefined ? 0 : Number(m[2])
    for (let s = (this.buckets[mix(hi, lo, meta, suffix) & this.mask] as number) - 1; s !== NIL; s = this.hNext[s] as number) {
      if (this.lo[s] === lo && this.hi[s] === hi && this.meta[s] === meta && this.suffix[s] === suffix) return s
    }
    return undefined
  }

  /** Forgets the id in `slot` (and unindexes it). */
  clear(slot: number): void {
    if (this.buckets.length > 0) {
      const meta = this.meta[slot] as number
      const b = (meta === 0 ? stringHash(this.others.get(slot) as string) : this.packedHash(slot)) & this.mask
      if (this.buckets[b] === slot + 1) this.buckets[b] = (this.hNext[slot] as number) + 1
      else {
        let s = (this.buckets[b] as number) - 1
        while (this.hNext[s] !== slot) s = this.hNext[s] as number
        this.hNext[s] = this.hNext[slot] as number
      }
    }
    this.meta[slot] = 0
    this.others.delete(slot)
  }

  private packedHash(slot: number): number {
    return mix(this.hi[slot] as number, this.lo[slot] as number, this.meta[slot] as number, this.suffix[slot] as number)
  }
}

/** A 32-bit hash of a packed id. */
function mix(hi: number, lo: number, meta: number, suffix: number): number {
  let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b)
  h = Math.imul(h ^ hi ^ (h >>> 13), 0xc2b2ae35)
  h = Math.imul(h ^ (meta << 16) ^ suffix ^ (h >>> 16), 0x27d4eb2f)
  return (h ^ (h >>> 15)) >>> 0
}

/** FNV-1a over UTF-16 code units. */
function stringHash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}
