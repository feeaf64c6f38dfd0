import type { ChallengeReply } from '../tokens/trigger.js'

/** Parameters of `/validate/check` and its siblings, already size-checked. */
export interface CheckRequest {
  readonly user?: string | undefined
  readonly realm?: string | undefined
  readonly pass?: string | undefined
  /** `transactionid` or `state`. */
  readonly transactionId?: string | undefined
  /** Restrict to one token. */
  readonly serial?: string | undefined
  readonly data?: string | undefined
  readonly message?: string | undefined
  readonly challenge?: string | undefined
  /** End user's address (already resolved by the HTTP layer: remote address or trusted override). */
  readonly client?: string | undefined
  /** `auth_info=true`: report pin and otp length on success. */
  readonly authInfo?: boolean | undefined
}

/** What a validate call decided, with the audit facts the caller logs. */
export interface CheckResult {
  /** Authentication result (`result.value`). */
  readonly value: boolean
  /** `detail` of the envelope, when there is one. */
  readonly detail?: Record<string, unknown>
  /** The challenge created or still open, when the answer is a challenge. */
  readonly challenge?: ChallengeReply
  /** The request failed for an internal reason (exception, SMS not sent), not a wrong answer. */
  readonly internalError?: boolean
  /** The token whose answer was judged last, and its failcount after it (check_t reports both). */
  readonly evaluated?: { readonly serial: string; readonly failcount: number }
  readonly audit: AuditFacts
}

/** One audit record's facts: never an OTP, seed, PIN or full phone number. */
export interface AuditFacts {
  user: string
  realm: string
  serial: string
  /** What happened: `authenticated`, `challenge triggered`, `challenge blocked`, `rejected`, ... */
  action: string
  reason: string
}

/** A complete audit record. */
export interface AuditRecord extends AuditFacts {
  readonly endpoint: string
  readonly client: string
  readonly result: boolean
  readonly time: string
  /**
   * Admin records only: what the call named besides serial, user and realm — provider, policy or
   * realm name, config key names, a masked phone, a count. Never a secret or a config value.
   */
  readonly target?: Readonly<Record<string, string>>
}
