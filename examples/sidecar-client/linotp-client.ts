/**
 * A minimal client of LinOTP's `/validate/check`, on undici: one keep-alive pool to the sidecar,
 * deadlines on every call, credentials in a POST body (never in a URL), and only the answer's
 * `result.value` and `detail.transactionid` are believed.
 */
import { Agent, request } from 'undici'

/** What one `/validate/check` decided. */
export type CheckOutcome =
  /** Authenticated (the OTP was right; or password and OTP typed together). */
  | { readonly kind: 'ok' }
  /** The first factor was right and an SMS was sent (or is still valid): answer with the OTP. */
  | { readonly kind: 'challenge'; readonly transactionId: string }
  /** Wrong password, wrong or used OTP, unknown user: LinOTP never says which. */
  | { readonly kind: 'rejected' }

/** The sidecar could not be asked or answered with an error: not the user's mistake. */
export class SidecarUnavailable extends Error {
  override readonly name = 'SidecarUnavailable'
}

const TRANSACTION_ID = /^\d{1,40}$/

export interface ValidateClient {
  /** First step: user + directory password (policy `otppin=password`). */
  password(user: string, password: string): Promise<CheckOutcome>
  /** Second step: the OTP for the transaction the first step opened. */
  otp(user: string, transactionId: string, otp: string): Promise<CheckOutcome>
  close(): Promise<void>
}

/** @param baseUrl e.g. `http://127.0.0.1:5001` (the sidecar's validate listener) */
export function validateClient(baseUrl: string): ValidateClient {
  const url = new URL('/validate/check', baseUrl)
  // Short deadlines: a login page should fail fast when the sidecar hangs.
  const dispatcher = new Agent({ connections: 16, connect: { timeout: 5_000 }, headersTimeout: 10_000, bodyTimeout: 10_000 })

  async function check(params: Record<string, string>): Promise<CheckOutcome> {
    let status: number
    let body: unknown
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(params).toString(),
      })
      status = res.statusCode
      const text = await res.body.text()
      body = status === 200 ? JSON.parse(text) : undefined
    } catch (err) {
      throw new SidecarUnavailable(`sidecar ${url.origin}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    const envelope = body as { result?: { status?: unknown; value?: unknown }; detail?: { transactionid?: unknown } } | undefined
    if (status !== 200 || envelope?.result?.status !== true) throw new SidecarUnavailable(`sidecar ${url.origin}: answered HTTP ${status} without a result`)
    if (envelope.result.value === true) return { kind: 'ok' }
    const id = envelope.detail?.transactionid
    return typeof id === 'string' && TRANSACTION_ID.test(id) ? { kind: 'challenge', transactionId: id } : { kind: 'rejected' }
  }

  return {
    password: (user, password) => check({ user, pass: password }),
    otp: (user, transactionId, otp) => check({ user, transactionid: transactionId, pass: otp }),
    close: () => dispatcher.close(),
  }
}
