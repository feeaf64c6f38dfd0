/** Express faces of sms-otp: LinOTP-compatible validate and admin routers. */
export { validateRouter, clientOf, type ValidateOptions } from './validate.js'
export { adminRouter, type AdminOptions } from './admin.js'
export { FailureThrottle, type ThrottleOptions } from './throttle.js'
export { envelope, errorEnvelope, errorHandler, parseParams, MAX_BODY_BYTES, FIELD_LIMITS } from './http.js'
export { requireSecondFactor, type SecondFactorGate, type GateChallenge, type GateOptions } from './second-factor.js'
