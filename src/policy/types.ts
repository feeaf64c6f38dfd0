/**
 * Types and the action catalogue of the LinOTP policy model (spec §4.6). Only the scopes and
 * actions the SMS token uses are known; everything else is refused at parse time so a typo in a
 * policy is an error rather than a silently ignored setting.
 */

/** A policy as LinOTP stores it: every condition is a string, `active` a boolean. */
export interface PolicyRecord {
  name: string
  scope: string
  action: string
  user: string
  realm: string
  client: string
  time: string
  active: boolean
}

/** The scopes this release evaluates. */
export type PolicyScope = 'authentication' | 'authorization' | 'enrollment'

/** The request a policy decision is made for. */
export interface PolicyQuery {
  scope: PolicyScope
  /** The login; `undefined` or `''` = no user (the check_s pseudo-user, §2.6). */
  user?: string | undefined
  /** The realm of the user (or of the token when there is no user); compared case-insensitively. */
  realm?: string | undefined
  /** The client IP address; `undefined` (or not an IP address) = unknown. */
  client?: string | undefined
  /** Evaluation time for `time` conditions (server local time); defaults to `new Date()`. */
  now?: Date | undefined
  /**
   * The user as the directory knows it, for the `resolver:` and `#attr` user conditions (§4.6).
   * Undefined when it was not looked up or no resolver knows the user: those conditions then
   * do not match, and as exclusions (`!corp:`, `!#attr`) they exclude nobody. Look it up when
   * `PolicyEngine.needsDirectory` is true.
   * @default undefined
   * @example
   * { scope: 'authentication', user: 'alice', realm: 'corp', directory: { resolver: 'corp-ldap', attributes: { mobile: '+4915112345678' } } }
   */
  directory?: PolicyDirectoryUser | undefined
}

/** What a policy may ask about a user's directory entry. */
export interface PolicyDirectoryUser {
  /** Name of the resolver that knows the user (compared case-sensitively with `resolver:`). */
  readonly resolver: string
  /** The entry's attributes by name, case-sensitive as the resolver stores them (`#attr` conditions). */
  readonly attributes: Readonly<Record<string, string | undefined>>
}

/** A typed action value. */
export type ActionValue = string | boolean | number

/** The four `otppin` modes of §1.5, by name. */
export type OtpPinMode = 'token_pin' | 'password' | 'only_otp' | 'ignore_pin'

/** `otppin` accepts the mode number or its name; the parsed value is always the name. */
export const OTPPIN_MODES: Readonly<Record<string, OtpPinMode>> = {
  '0': 'token_pin',
  '1': 'password',
  '2': 'only_otp',
  '3': 'ignore_pin',
  token_pin: 'token_pin',
  password: 'password',
  only_otp: 'only_otp',
  ignore_pin: 'ignore_pin',
}

/** Value type of an action, as in LinOTP's policy definitions. */
export type ActionType = 'bool' | 'str' | 'int'

/** Known actions per scope. */
export const ACTIONS: Readonly<Record<PolicyScope, Readonly<Record<string, ActionType>>>> = {
  authentication: {
    sms_provider: 'str',
    otppin: 'str',
    smstext: 'str',
    enforce_smstext: 'bool',
    autosms: 'bool',
    trigger_sms: 'bool',
    sms_dynamic_mobile_number: 'bool',
  },
  authorization: {
    detail_on_success: 'bool',
    detail_on_fail: 'bool',
  },
  enrollment: {
    // §1.10: token types a user without a token is enrolled with on first login (`sms`, `email`, `*`).
    autoenrollment: 'str',
  },
}

/** Scopes LinOTP has that arrive in later releases: named so the error can say "not yet". */
export const UNSUPPORTED_SCOPES: readonly string[] = [
  'admin',
  'selfservice',
  'system',
  'audit',
  'monitoring',
  'reporting',
  'tools',
  'gettoken',
  'ocra',
]

/**
 * Match precision of one condition list; 0 = no match. Higher wins during narrowing.
 * Users know three levels (exact > pattern > `*`); realms and clients only exact > `*`.
 */
export const NO_MATCH = 0
export const WILDCARD = 1
export const PATTERN = 2
export const EXACT = 3

/** A policy that survived filtering and narrowing, with its parsed actions. */
export interface MatchedPolicy {
  readonly name: string
  readonly record: Readonly<PolicyRecord>
  /** The typed actions of the policy (`*` is not an entry: see {@link MatchedPolicy.allActions}). */
  readonly actions: ReadonlyMap<string, ActionValue>
  /** True when the action list contains `*` (matches every action filter, gives no value). */
  readonly allActions: boolean
}
