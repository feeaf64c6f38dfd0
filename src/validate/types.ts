import type { OtpErrorCode } from '../errors.js'
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
  /** The challenge created or still open, when the answer is a challenge (LinOTP's wire names). */
  readonly challenge?: ChallengeReply
  /** The same challenge for code: typed, camelCase, with the masked phone and the resend time. */
  readonly sms?: SmsChallenge
  /** The request failed for an internal reason (exception, SMS not sent), not a wrong answer. */
  readonly internalError?: boolean
  /**
   * Why, when the caller may be told: the cause of an internal error (`ERR_OTP_PROVIDER_UNAVAILABLE`,
   * `ERR_OTP_STORE`, `ERR_OTP_DIRECTORY`, …), or an auto-enrolment that failed after the first
   * factor was proven (`ERR_OTP_INVALID_PHONE`). Never set for a wrong PIN, password or OTP.
   */
  readonly error?: { readonly code: OtpErrorCode; readonly message: string }
  /** The token whose answer was judged last, and its failcount after it (check_t reports both). */
  readonly evaluated?: { readonly serial: string; readonly failcount: number }
  readonly audit: AuditFacts
}

/** An SMS challenge as the library faces see it. */
export interface SmsChallenge {
  /** Answer with it (`transactionId`) and the OTP. */
  readonly transactionId: string
  /** The prompt (`SMS_CHALLENGE_PROMPT`), or "sms with otp already submitted" inside the blocking time. */
  readonly message: string
  /** The token(s) challenged; several when the user has several tokens (one id answers them all). */
  readonly serials: readonly string[]
  /** Where the SMS went, masked (`+49151****5678`); only when one token was challenged. */
  readonly maskedPhone?: string
  /** Seconds until a new trigger sends a new SMS (`SMSBlockingTimeout` after the challenge was made). */
  readonly resendInSeconds: number
  /** False when no SMS went out now: the answer is the challenge still open inside the blocking time. */
  readonly sent: boolean
  /** Serial of the token auto-enrolled by this request (policy `autoenrollment`). */
  readonly enrolled?: string
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
