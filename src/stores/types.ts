/**
 * Storage contracts. Every backend (memory, sqlite; postgres and redis later) implements them and
 * passes the same contract suite (`test/store-contract.ts`). Each mutating method states its
 * atomicity: the security of the factor rests on `casCounter` and `consume`.
 *
 * Times are epoch milliseconds. Secrets arrive already protected: `seed` is AES-256-GCM ciphertext,
 * `pinHash` a keyed hash, provider configs ciphertext. Stores never see clear secrets.
 */

/** Hash algorithms an SMS token may use. */
export type HashLib = 'sha1' | 'sha256' | 'sha512'

/** One SMS token. */
export interface TokenRecord {
  readonly serial: string
  readonly type: 'sms'
  /** Owner login, or null for an unassigned token. */
  readonly user: string | null
  /** Owner realm (lower-case), or null. */
  readonly realm: string | null
  /** Phone number as enrolled (verbatim, LinOTP §1.1). */
  readonly phone: string
  /** Keyed PIN hash, or null when no PIN was ever set (matches the empty PIN). */
  readonly pinHash: string | null
  /** Encrypted seed. */
  readonly seed: string
  readonly hashlib: HashLib
  readonly otplen: 6 | 8
  /** HOTP counter: the counter of the most recently sent OTP, or one past the last accepted one. */
  readonly counter: number
  readonly failcount: number
  readonly maxfail: number
  /** Verification window (count of counters tried from `counter` on). @default 10 */
  readonly countWindow: number
  readonly active: boolean
  readonly description: string
  readonly createdAt: number
}

/** Fields `TokenStore.update` may change (counter and failcount have their own atomic methods). */
export type TokenPatch = Partial<Pick<TokenRecord, 'phone' | 'pinHash' | 'maxfail' | 'active' | 'description' | 'user' | 'realm' | 'countWindow'>>

/** Query for {@link TokenStore.list}; all given fields must match. */
export interface TokenQuery {
  readonly serial?: string
  readonly user?: string
  readonly realm?: string
}

export interface TokenStore {
  /** Inserts a new token. Rejects with `ERR_OTP_TOKEN_EXISTS` when the serial is taken (atomic). */
  create(token: TokenRecord): Promise<void>
  get(serial: string): Promise<TokenRecord | undefined>
  /** Tokens matching every given field, ordered by serial. Bounded by `limit` (default 1000). */
  list(query?: TokenQuery, limit?: number): Promise<TokenRecord[]>
  /** Changes plain fields. Returns false when the token does not exist. Atomic per call. */
  update(serial: string, patch: TokenPatch): Promise<boolean>
  /**
   * Compare-and-set of the HOTP counter: sets `counter = next` only if it is still `expected`.
   * Exactly one of several concurrent callers with the same `expected` gets `true`, across
   * processes for shared backends.
   */
  casCounter(serial: string, expected: number, next: number): Promise<boolean>
  /** Atomically adds one to the failcount; returns the new value (undefined when absent). */
  incrementFailcount(serial: string): Promise<number | undefined>
  /**
   * Counts an authentication attempt *before* the OTP is compared: atomically adds one to the
   * failcount if it is below maxfail and returns the new value; returns undefined when the token
   * is locked (failcount >= maxfail) or absent, and then changes nothing. Of N concurrent callers
   * on a token with k attempts left, exactly k get a number (across processes for shared
   * backends): this is what bounds OTP guessing, however requests are pipelined.
   */
  reserveAttempt(serial: string): Promise<number | undefined>
  /** Gives back one reserved attempt (the request only triggered an SMS). Never below 0. */
  releaseAttempt(serial: string): Promise<void>
  /** Sets the failcount of each given token to 0. */
  resetFailcount(serials: readonly string[]): Promise<void>
  /** Deletes a token. Returns false when it did not exist. */
  remove(serial: string): Promise<boolean>
  /**
   * Compare-and-set of the sealed seed, for `sms-otp key rotate` (the same seed sealed under a new
   * key): sets `seed = next` only if it is still `expected`. Returns false when the token is
   * absent or its seed changed meanwhile. Atomic per call.
   */
  replaceSeed(serial: string, expected: string, next: string): Promise<boolean>
}

/** One open challenge: an SMS that was sent (or is being sent) and may be answered. */
export interface ChallengeRecord {
  /** Digits, optionally with a `.NN` suffix for one token of a multi-token trigger. */
  readonly transactionId: string
  readonly serial: string
  /** HOTP counter of the OTP this challenge delivered. */
  readonly counter: number
  readonly createdAt: number
  /**
   * Last instant the challenge (and its OTP) is alive: open while `now <= expiresAt`
   * (provider Timeout, Decision 1).
   */
  readonly expiresAt: number
  /** Provider that delivered it (for audit). Empty while sending. */
  readonly provider: string
}

export interface ChallengeStore {
  /** Inserts a challenge. Rejects with `ERR_OTP_STORE` when the transaction id exists (atomic). */
  create(challenge: ChallengeRecord): Promise<void>
  /**
   * Open (`now <= expiresAt`) challenges of a token, newest first (ties: higher id first); at most
   * `limit` of them (a trigger's blocking check needs only the newest). @default no limit
   */
  listOpen(serial: string, now: number, limit?: number): Promise<ChallengeRecord[]>
  /**
   * Open challenges whose id is `transactionId` or, for a base id, `transactionId.NN`; a sub id
   * `X.NN` is also matched by its base `X` (LinOTP widening).
   */
  findOpen(transactionId: string, now: number): Promise<ChallengeRecord[]>
  /**
   * Removes one challenge. Returns true for exactly one of several concurrent callers; false when
   * it was already consumed or never existed. It does not judge expiry (a backend may already
   * have dropped an expired one, another may not): callers find the challenge with `findOpen` or
   * `listOpen` first and use `consume` only to settle races.
   */
  consume(transactionId: string): Promise<boolean>
  /**
   * Records which provider delivered a challenge and how long its OTP lives, in one atomic step
   * (a failover sent it through another provider than the one it was created for). Returns false,
   * changing nothing, when the challenge is gone (consumed or removed meanwhile). The challenge is
   * never absent in between, so a concurrent trigger always sees it and sends no second SMS.
   */
  settle(transactionId: string, patch: Pick<ChallengeRecord, 'provider' | 'expiresAt'>): Promise<boolean>
  /**
   * Removes the token's challenges whose counter is at most `counter`: after an OTP for counter
   * `counter` was accepted, those OTPs are dead. A challenge a concurrent trigger created for a
   * later counter survives (its SMS is on its way). Atomic per call.
   */
  removeUpTo(serial: string, counter: number): Promise<void>
  /**
   * A trigger's store round, as one atomic step: if the token's counter is still `expectedCounter`,
   * inserts `challenge`, sets the token's counter to `challenge.counter` and, with
   * `releaseAttempt`, gives back one reserved attempt (failcount − 1, never below 0). Returns false,
   * changing nothing, when the counter moved or the token is absent; rejects with `ERR_OTP_STORE`,
   * changing nothing, when the transaction id exists. Of several concurrent callers with the same
   * `expectedCounter` exactly one gets `true` (across processes for shared backends), and no
   * reader ever sees the challenge without the counter advance or the other way round.
   * @example
   * const counter = token.counter + 1
   * if (await store.challenges.issue({ transactionId, serial, counter, createdAt, expiresAt, provider }, token.counter)) {
   *   // send HOTP(counter): this request owns it
   * }
   */
  issue(challenge: ChallengeRecord, expectedCounter: number, options?: { readonly releaseAttempt?: boolean }): Promise<boolean>
  /**
   * An accepted OTP's store round, as one atomic step: if the token's counter is still
   * `expectedCounter`, sets it to `acceptedCounter + 1` and removes the token's challenges whose
   * counter is at most `acceptedCounter` (their OTPs are dead). Returns false, changing nothing,
   * when the counter moved or the token is absent. Exactly one of several concurrent callers with
   * the same `expectedCounter` gets `true`; a challenge another trigger issued for a later counter
   * survives.
   */
  accept(serial: string, expectedCounter: number, acceptedCounter: number): Promise<boolean>
  /** Removes every challenge of a token (when the token is removed). */
  removeForToken(serial: string): Promise<void>
  /** Deletes challenges with `expiresAt < now`; returns how many. */
  purgeExpired(now: number): Promise<number>
  /**
   * How many challenges are open (`now <= expiresAt`) over all tokens: the `sms_otp_open_challenges`
   * gauge, read on each metrics scrape. A snapshot, not a lock: read-only, no atomicity needed.
   */
  countOpen(now: number): Promise<number>
}

/** Kinds of settings the settings store keeps. */
export type SettingsKind = 'config' | 'provider' | 'policy' | 'realm' | 'resolver'

/**
 * Small, rarely written settings: config keys, provider definitions, policies, realms, user
 * resolver definitions. Values are
 * opaque strings (JSON or ciphertext) owned by the core.
 */
export interface SettingsStore {
  list(kind: SettingsKind): Promise<Map<string, string>>
  get(kind: SettingsKind, name: string): Promise<string | undefined>
  /** Inserts or replaces. */
  put(kind: SettingsKind, name: string, value: string): Promise<void>
  /**
   * Inserts `value` only if `kind`/`name` holds no value yet, as one atomic step: of several
   * concurrent callers (across processes for shared backends) exactly one gets `true` and its
   * value is stored; every other gets `false` and changes nothing. An existing value is never
   * replaced. Used where the first writer must win, e.g. the key check value of the first start.
   * @example
   * if (!(await settings.putIfAbsent('config', 'sms-otp/key-check', mine))) {
   *   const winner = await settings.get('config', 'sms-otp/key-check') // someone was first
   * }
   */
  putIfAbsent(kind: SettingsKind, name: string, value: string): Promise<boolean>
  /** Returns false when absent. */
  delete(kind: SettingsKind, name: string): Promise<boolean>
  /**
   * Applies several writes as one unit (all or nothing): a start-up config file or an admin
   * request that touches several keys never leaves half its changes behind.
   */
  batch(ops: ReadonlyArray<{ kind: SettingsKind; name: string; value: string | null }>): Promise<void>
}

/** A complete backend. `open()` runs migrations and must be awaited before use. */
export interface Store {
  readonly tokens: TokenStore
  readonly challenges: ChallengeStore
  readonly settings: SettingsStore
  open(): Promise<void>
  close(): Promise<void>
}
