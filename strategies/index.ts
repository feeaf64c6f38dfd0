/**
 * `sms-otp/passport`: the SMS second factor as a Passport strategy. Passport and Express are
 * type-only dependencies of this entry point; the app brings its own.
 *
 * @example
 * import { SmsOtpStrategy } from 'sms-otp/passport'
 * passport.use(new SmsOtpStrategy({ otp }))
 */
export { SmsOtpStrategy, type SmsOtpChallenge, type SmsOtpFailure } from './sms-otp.js'
export type { SecondFactorUser, SmsOtpStrategyOptions } from './options.js'
