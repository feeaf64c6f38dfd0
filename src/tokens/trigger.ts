/**
 * Triggering an SMS for one token (flow 1 of DESIGN.md, LinOTP §1.6–1.7):
 * blocking check → provider selection by policy → challenge inserted and counter C→C+1 by
 * compare-and-set, in one atomic store step (`challenges.issue`) → text with HOTP(C+1) → ordered
 * failover → reply.
 *
 * The challenge and the counter advance land together, so a concurrent trigger that loses the
 * compare-and-set finds the winner's challenge and answers "already submitted" instead of sending
 * a second SMS.
 */
import { newTransactionId } from '../challenges/ids.js'
import type { Core } from '../core.js'
import { OtpError, describeError } from '../errors.js'
import { hotp } from '../otp/hotp.js'
import { maskPhone, validatePhone } from '../phone/index.js'
import type { PolicyDirectoryUser, PolicyQuery } from '../policy/types.js'
import type { LoadedProvider } from '../providers/loader.js'
import type { ChallengeRecord, TokenRecord } from '../stores/types.js'
import { smsParts } from '../providers/gsm.js'
import { chooseTemplate, renderText, type TextSources } from './text.js'

/** Request-side inputs of a trigger. */
export interface TriggerContext {
  /** Login used for policy evaluation ('' for check_s's pseudo-user). */
  readonly user: string
  readonly realm: string | undefined
  readonly client: string | undefined
  readonly text: Omit<TextSources, 'policyText' | 'enforce'>
  /** Fixed transaction id (multi-token triggers use `<base>.NN`). */
  readonly transactionId?: string
  /** Skip the resend block (autosms after a success). */
  readonly ignoreBlocking?: boolean
  /** The request user's directory entry, when the caller looked it up (policy `resolver:` forms). */
  readonly directory?: PolicyDirectoryUser | undefined
  /**
   * The request reserved an attempt on this token to compare its PIN, and a PIN that only asks for
   * an SMS is no failed attempt: give it back, whatever the outcome (with the challenge's own
   * store step when one is issued, so a trigger costs one write fewer).
   */
  readonly releaseAttempt?: boolean
}

/** The challenge detail LinOTP returns. */
export interface ChallengeReply {
  transactionid: string
  message: string
  state: string
  info?: string
  linotp_tokenserial: string
  linotp_tokentype: 'sms'
  linotp_tokendescription: string
}

/** What a trigger did; `createdAt` is when the answered challenge was made (for the resend time). */
export type TriggerOutcome =
  | { readonly kind: 'sent'; readonly reply: ChallengeReply; readonly provider: string; readonly createdAt: number; readonly phone: string }
  | { readonly kind: 'blocked'; readonly reply: ChallengeReply; readonly createdAt: number }
  | { readonly kind: 'failed'; readonly reason: string }

const ALREADY_SUBMITTED = 'sms with otp already submitted'
const MAX_ATTEMPTS = 3

/** Sends an SMS OTP for `token`, or reports the open challenge inside the blocking time. */
export async function triggerSms(core: Core, token: TokenRecord, ctx: TriggerContext): Promise<TriggerOutcome> {
  const reserved = { held: ctx.releaseAttempt === true }
  try {
    return await trigger(core, token, ctx, reserved)
  } finally {
    if (reserved.held) await core.store.tokens.releaseAttempt(token.serial)
  }
}

async function trigger(core: Core, token: TokenRecord, ctx: TriggerContext, reserved: { held: boolean }): Promise<TriggerOutcome> {
  const { settings, store, clock } = core
  const query = { scope: 'authentication' as const, now: new Date(clock.now()), user: ctx.user, realm: ctx.realm ?? token.realm ?? undefined, client: ctx.client, directory: ctx.directory }
  let candidates: LoadedProvider[]
  try {
    candidates = selectProviders(core, query)
  } catch (err) {
    return { kind: 'failed', reason: describeError(err) }
  }
  const { template, fromRequest } = chooseTemplate({
    ...ctx.text,
    policyText: settings.policies.string(query, 'smstext'),
    enforce: settings.policies.bool(query, 'enforce_smstext'),
  })
  if (fromRequest) {
    // Measured as it will be sent: the longest OTP, the serial, a sub transaction id.
    const longest = renderText(template, { otp: '9'.repeat(token.otplen), serial: token.serial, transactionId: '9'.repeat(settings.config.int('TransactionIdLength') + 3) })
    const max = settings.config.int('SMSRequestTextMaxParts')
    if (smsParts(longest) > max) return { kind: 'failed', reason: `the request text needs ${smsParts(longest)} SMS parts, SMSRequestTextMaxParts allows ${max}` }
  }
  const blockMs = ctx.ignoreBlocking ? -1 : settings.config.int('SMSBlockingTimeout') * 1000
  const first = candidates[0] as LoadedProvider

  // Decide under a per-token lock, send outside it: see `exclusive`.
  const decided = await exclusive(store, token.serial, async (): Promise<TriggerOutcome | { challenge: ChallengeRecord; token: TokenRecord }> => {
    let current = token
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = clock.now()
      // Only the newest open challenge can be inside the blocking time.
      const [newest] = await store.challenges.listOpen(current.serial, now, 1)
      const recent = newest !== undefined && now <= newest.createdAt + blockMs ? newest : undefined
      if (recent) return { kind: 'blocked', reply: reply(current, recent.transactionId, ALREADY_SUBMITTED, 'challenge already submitted'), createdAt: recent.createdAt }

      const draft = { transactionId: ctx.transactionId ?? '', serial: current.serial, counter: current.counter + 1, createdAt: now, expiresAt: now + first.timeout * 1000, provider: first.name }
      const challenge = await issueChallenge(core, draft, current.counter, reserved.held)
      if (challenge) {
        reserved.held = false // given back in the same step
        return { challenge, token: current }
      }
      const fresh = await store.tokens.get(current.serial)
      if (!fresh) return { kind: 'failed', reason: 'token removed while triggering' }
      current = fresh
    }
    return { kind: 'failed', reason: 'too many concurrent triggers' }
  })
  if ('kind' in decided) return decided
  let phone: string
  try {
    phone = await phoneOf(core, decided.token, query)
  } catch (err) {
    await store.challenges.consume(decided.challenge.transactionId)
    return { kind: 'failed', reason: describeError(err) }
  }
  return deliver(core, decided.token, decided.challenge, template, candidates, phone)
}

/**
 * Serialises the blocking check, challenge insert and counter compare-and-set of one token within
 * this process. Without it, on a store that yields between calls (postgres, redis), a concurrent
 * trigger can see a *losing* request's challenge in the instant between its insert and its
 * rollback and answer "already submitted" with that dead transaction id. The compare-and-set still
 * guarantees one SMS across processes; the lock makes every in-process answer name the live
 * challenge. Sending happens outside the lock, so a slow gateway holds up no decision.
 */
const locks = new WeakMap<object, Map<string, Promise<unknown>>>()
async function exclusive<T>(scope: object, key: string, run: () => Promise<T>): Promise<T> {
  let map = locks.get(scope)
  if (!map) locks.set(scope, (map = new Map()))
  const next = (map.get(key) ?? Promise.resolve()).then(run, run)
  const tail = next.then(
    () => undefined,
    () => undefined,
  )
  map.set(key, tail)
  try {
    return await next
  } finally {
    if (map.get(key) === tail) map.delete(key)
  }
}

async function deliver(
  core: Core,
  token: TokenRecord,
  challenge: ChallengeRecord,
  template: string,
  candidates: LoadedProvider[],
  phone: string,
): Promise<TriggerOutcome> {
  const otp = hotp(core.secrets.decryptSeed(token.serial, token.seed), challenge.counter, token.otplen, token.hashlib)
  const text = renderText(template, { otp, serial: token.serial, transactionId: challenge.transactionId })
  const result = await core.failover.send(candidates, { phone, text, transactionId: challenge.transactionId })
  if (result.status !== 'sent') {
    await core.store.challenges.consume(challenge.transactionId)
    const provider = result.status === 'rejected' ? `${result.provider}: ` : ''
    core.logger.warn({ serial: token.serial, phone: maskPhone(phone), reason: result.reason }, 'sms not sent')
    return { kind: 'failed', reason: `The SMS could not be sent: ${provider}${result.reason}` }
  }
  const delivered = candidates.find((c) => c.name === result.provider) as LoadedProvider
  if (delivered.name !== challenge.provider) {
    // Another provider delivered: the OTP lives as long as *its* Timeout says (Decision 1).
    // One atomic update: the challenge never disappears, so a concurrent trigger keeps seeing it
    // and answers "already submitted" instead of sending a second SMS.
    await core.store.challenges.settle(challenge.transactionId, { provider: delivered.name, expiresAt: challenge.createdAt + delivered.timeout * 1000 })
  }
  // The transaction id answers the challenge together with the OTP: not at info level.
  core.logger.info({ serial: token.serial, phone: maskPhone(phone), provider: delivered.name }, 'sms sent')
  core.logger.debug({ serial: token.serial, transactionId: challenge.transactionId }, 'challenge created')
  const prompt = core.settings.config.string('SMS_CHALLENGE_PROMPT')
  return { kind: 'sent', reply: reply(token, challenge.transactionId, prompt), provider: delivered.name, createdAt: challenge.createdAt, phone }
}

/**
 * The number to send to (§1.6 step 7): the token's `phone`, or, under the policy
 * `sms_dynamic_mobile_number` for the token's owner, the owner's directory `mobile` (the token
 * phone only when the directory has none). A directory that cannot answer fails the trigger: a
 * stale token number may belong to someone else by now, so it is no safe fallback.
 */
async function phoneOf(core: Core, token: TokenRecord, query: PolicyQuery): Promise<string> {
  if (token.user === null || token.user === '' || !core.settings.policies.bool(query, 'sms_dynamic_mobile_number')) return token.phone
  const owner = await core.users.find(token.user, token.realm ?? undefined)
  const mobile = owner?.attributes.mobile
  if (mobile === undefined || mobile === '') return token.phone
  try {
    return validatePhone(mobile)
  } catch {
    core.logger.warn({ serial: token.serial, resolver: owner?.resolver }, 'the directory mobile is not a usable number: the token phone is used')
    return token.phone
  }
}

/** Provider list by policy, else the default provider (LinOTP §4.5). Unknown names throw. */
function selectProviders(core: Core, query: Parameters<Core['settings']['policies']['smsProviders']>[0]): LoadedProvider[] {
  const names = core.settings.policies.smsProviders(query) ?? [core.settings.defaultProvider].filter((n): n is string => n !== undefined)
  if (names.length === 0) throw new OtpError('ERR_OTP_UNKNOWN_PROVIDER', 'no SMS provider is configured')
  return names.map((name) => core.settings.provider(name))
}

/**
 * Issues `draft` (a new random transaction id when it has none; another one on the rare clash).
 * Undefined when the counter is no longer `expected`.
 */
async function issueChallenge(core: Core, draft: ChallengeRecord, expected: number, releaseAttempt: boolean): Promise<ChallengeRecord | undefined> {
  const length = core.settings.config.int('TransactionIdLength')
  for (let i = 0; ; i++) {
    const record = draft.transactionId === '' ? { ...draft, transactionId: newTransactionId(length) } : draft
    try {
      return (await core.store.challenges.issue(record, expected, { releaseAttempt })) ? record : undefined
    } catch (err) {
      if (i >= 100 || draft.transactionId !== '') throw err
    }
  }
}

function reply(token: TokenRecord, transactionId: string, message: string, info?: string): ChallengeReply {
  return {
    transactionid: transactionId,
    message,
    state: transactionId,
    ...(info === undefined ? {} : { info }),
    linotp_tokenserial: token.serial,
    linotp_tokentype: 'sms',
    linotp_tokendescription: token.description,
  }
}
