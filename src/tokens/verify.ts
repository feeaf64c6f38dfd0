/**
 * Verifying an OTP for one token (flow 2 of DESIGN.md, LinOTP §1.8 with Decision 2): the OTP must
 * belong to an open, unexpired challenge (restricted to the given transaction id), its counter must
 * lie in the window `[C, C+W)`, and the counter then moves past it by compare-and-set, so one OTP
 * succeeds at most once even across processes.
 */
import type { Core } from '../core.js'
import { hotp, otpEquals } from '../otp/hotp.js'
import type { ChallengeRecord, TokenRecord } from '../stores/types.js'

export type VerifyOutcome =
  | { readonly ok: true; readonly counter: number; readonly challenge: ChallengeRecord }
  | { readonly ok: false; readonly reason: string }

/** Open challenges of `token` (an answer without a transaction id may refer to any of them). */
export function openChallenges(core: Core, token: TokenRecord): Promise<ChallengeRecord[]> {
  return core.store.challenges.listOpen(token.serial, core.clock.now())
}

/** Finds the challenge whose OTP equals `otp` (constant-time compare), within the window. */
export function matchOtp(core: Core, token: TokenRecord, otp: string, challenges: readonly ChallengeRecord[]): ChallengeRecord | undefined {
  if (otp.length !== token.otplen || challenges.length === 0) return undefined
  const seed = core.secrets.decryptSeed(token.serial, token.seed)
  let match: ChallengeRecord | undefined
  for (const challenge of challenges) {
    if (challenge.counter < token.counter || challenge.counter >= token.counter + token.countWindow) continue
    // Compare against every candidate without an early exit, so timing does not tell which matched.
    if (otpEquals(hotp(seed, challenge.counter, token.otplen, token.hashlib), otp) && match === undefined) match = challenge
  }
  return match
}

/**
 * Accepts `otp` for `token` if it answers one of `challenges`: moves the counter past it
 * (compare-and-set) and closes the challenges it made dead. Exactly one concurrent caller wins.
 */
export async function acceptOtp(core: Core, token: TokenRecord, otp: string, challenges: readonly ChallengeRecord[]): Promise<VerifyOutcome> {
  const challenge = matchOtp(core, token, otp, challenges)
  if (!challenge) return { ok: false, reason: challenges.length === 0 ? 'no open challenge' : 'wrong otp' }
  // The counter moves past the OTP and every challenge up to it (their OTPs are dead) goes, in one
  // step. Not every challenge of the token: a trigger that ran after the compare-and-set has
  // issued one for a later counter, and its SMS is on its way.
  if (!(await core.store.challenges.accept(token.serial, token.counter, challenge.counter))) {
    return { ok: false, reason: 'otp already used (counter moved)' }
  }
  return { ok: true, counter: challenge.counter, challenge }
}
