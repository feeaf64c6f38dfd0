/**
 * The OtpError family. Runtime outcomes carry a stable `ERR_OTP_*` code from a closed union, so
 * callers can branch on `err.code` without parsing messages. Programmer mistakes (bad options at
 * construction) are `TypeError`s with code `ERR_OTP_INVALID_OPTION` instead.
 *
 * Messages never contain an OTP, a seed, a PIN or a full phone number.
 */

/** Every code an {@link OtpError} can carry. */
export const ERROR_CODES = {
  ERR_OTP_INVALID_OPTION: 'an option or argument has the wrong type or value',
  ERR_OTP_INVALID_PARAMETER: 'a request parameter is missing or malformed',
  ERR_OTP_INVALID_CONFIG: 'a provider or policy configuration cannot be parsed or is incomplete',
  ERR_OTP_UNKNOWN_PROVIDER_CLASS: 'the provider class identifier is not known',
  ERR_OTP_PROVIDER_CLASS_UNAVAILABLE: 'the provider class is known but not available in this build',
  ERR_OTP_UNKNOWN_PROVIDER: 'no provider with that name is configured',
  ERR_OTP_PROVIDER_IN_USE: 'the provider is the default or is used by a policy',
  ERR_OTP_PROVIDER_REJECTED: 'the gateway refused the message (not retried)',
  ERR_OTP_PROVIDER_UNAVAILABLE: 'no provider could be reached',
  ERR_OTP_INVALID_PHONE: 'the phone number is not usable',
  ERR_OTP_TOKEN_NOT_FOUND: 'no token with that serial',
  ERR_OTP_TOKEN_EXISTS: 'a token with that serial exists already',
  ERR_OTP_POLICY: 'a policy is malformed or policies contradict each other',
  ERR_OTP_UNAUTHORIZED: 'the admin credential is missing or wrong',
  ERR_OTP_REQUEST_TOO_LARGE: 'the request body or a field is larger than allowed',
  ERR_OTP_STORE: 'the store failed or its data is corrupt',
  ERR_OTP_CRYPTO: 'a secret could not be decrypted (wrong key or tampered data)',
  ERR_OTP_RESOURCE_NOT_ALLOWED: 'a file path, program, device or network destination is outside what the operator allowed',
  ERR_OTP_RATE_LIMITED: 'too many refused credentials from this address; try again later',
  ERR_OTP_KEY_MISMATCH: 'the master key does not belong to this data (missing, replaced or wrong key)',
  ERR_OTP_TIMEOUT: 'an operation did not finish within its deadline',
  ERR_OTP_METHOD_NOT_ALLOWED: 'the HTTP method is not allowed for this request',
  ERR_OTP_UNSUPPORTED_MEDIA_TYPE: 'the request body has a content type the routers do not read',
  ERR_OTP_DIRECTORY: 'the user directory (LDAP server, users file) cannot be reached or refused the service credentials',
  ERR_OTP_NOT_IMPLEMENTED: 'the feature arrives in a later release',
} as const

/** The closed union of error codes. */
export type OtpErrorCode = keyof typeof ERROR_CODES

/** Base class of every runtime error sms-otp raises on purpose. */
export class OtpError extends Error {
  readonly code: OtpErrorCode
  /** HTTP status the sidecar uses when this error escapes to a client. @default 400 */
  readonly status: number
  constructor(code: OtpErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'OtpError'
    this.code = code
    this.status = options?.status ?? 400
  }
}

/** A bad request parameter (missing, malformed, too long). */
export class ParameterError extends OtpError {
  constructor(message: string, code: OtpErrorCode = 'ERR_OTP_INVALID_PARAMETER') {
    super(code, message)
    this.name = 'ParameterError'
  }
}

/** A provider or policy configuration that cannot be used. */
export class ConfigError extends OtpError {
  constructor(message: string, code: OtpErrorCode = 'ERR_OTP_INVALID_CONFIG', cause?: unknown) {
    super(code, message, { cause })
    this.name = 'ConfigError'
  }
}

/** Thrown by a provider that cannot reach its gateway right now; the dispatcher fails over. */
export class ProviderUnavailableError extends OtpError {
  constructor(message: string, cause?: unknown) {
    super('ERR_OTP_PROVIDER_UNAVAILABLE', message, { cause, status: 503 })
    this.name = 'ProviderUnavailableError'
  }
}

/** A coded `TypeError` for programmer mistakes, naming the option at fault. */
export function invalidOption(option: string, problem: string): TypeError & { code: 'ERR_OTP_INVALID_OPTION' } {
  const err = new TypeError(`${option}: ${problem}`) as TypeError & { code: 'ERR_OTP_INVALID_OPTION' }
  err.code = 'ERR_OTP_INVALID_OPTION'
  return err
}

/** True when `err` is an {@link OtpError} (optionally with the given code). */
export function isOtpError(err: unknown, code?: OtpErrorCode): err is OtpError {
  return err instanceof OtpError && (code === undefined || err.code === code)
}

/** A short description of any thrown value, safe for audit lines (no stack, bounded length). */
export function describeError(err: unknown): string {
  // Our own errors speak for themselves; foreign ones keep their class name as a hint.
  const text = err instanceof OtpError || (err instanceof Error && err.name === 'Error') ? err.message : err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  return text.length > 300 ? `${text.slice(0, 297)}...` : text
}
